"""The physics kernel gives the same numbers on numpy arrays and through Pyomo expressions (issue 11)."""

import numpy as np
import pyomo.environ as pyo

from pyomo_llmmec import physics


def test_numpy_and_pyomo_paths_agree():
    rng = np.random.default_rng(7)
    for _ in range(50):
        b, snr, p = rng.uniform(0.1, 20), 10 ** rng.uniform(-3, 6), rng.uniform(1e-3, 10)
        share, work, speed, kappa = rng.uniform(0, 1), 10 ** rng.uniform(-2, 4), rng.uniform(0.1, 2000), 10 ** rng.uniform(-4, 0)
        m = pyo.ConcreteModel()
        m.b, m.p, m.F = pyo.Var(initialize=b), pyo.Var(initialize=p), pyo.Var(initialize=speed)
        r_np = physics.rate(np.array([b]), snr, np.array([p]))[0]
        r_py = pyo.value(physics.rate(m.b, snr, m.p))
        assert abs(r_np - r_py) <= 1e-12 * abs(r_np)
        pairs = [
            (physics.compute_delay(share, work, np.array([speed]))[0], physics.compute_delay(share, work, m.F)),
            (physics.link_delay(share, work, np.array([r_np]))[0], physics.link_delay(share, work, physics.rate(m.b, snr, m.p))),
            (physics.compute_energy(share, work, kappa, np.array([speed]))[0], physics.compute_energy(share, work, kappa, m.F)),
            (physics.service_score(1e4, 1 / 3, share, np.array([p / 10]), b / 20)[0], physics.service_score(1e4, 1 / 3, share, m.p / 10, m.b / 20)),
        ]
        for v_np, expr in pairs:
            assert abs(v_np - pyo.value(expr)) <= 1e-12 * max(abs(v_np), 1e-300)


def test_rate_matches_the_definition():
    b, snr, p = np.array([2.0]), 3.0, np.array([0.5])
    assert abs(physics.rate(b, snr, p)[0] - 2.0 * np.log2(1 + 3.0 * 0.5 / 2.0)) <= 1e-15 * 2.0

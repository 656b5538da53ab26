"""The full MINLP (3) in Pyomo agrees with the evaluator on feasible points."""

import numpy as np
import pyomo.environ as pyo
import pytest

import pyomo_llmmec as lm
from conftest import random_feasible_solution


@pytest.mark.parametrize("n,m,seed", [(1, 1, 0), (3, 2, 1), (5, 3, 2), (8, 4, 3)])
def test_model_matches_evaluator_on_random_feasible_points(n, m, seed):
    sc = lm.generate_scenario(n, m, seed=seed)
    rng = np.random.default_rng(seed)
    dink = lm.build_model(sc, form="dinkelbach", y=0.7)
    ratio = lm.build_model(sc, form="ratio")
    for _ in range(5):
        sol = random_feasible_solution(sc, rng)
        ev = lm.evaluate(sc, sol)
        assert ev.feasible
        for model in (dink, ratio):
            lm.load_solution(model, sol)
            viol = lm.constraint_violations(model)
            assert max(viol.values()) <= 1e-9, viol
        u = dink.units
        assert pyo.value(dink.obj) == pytest.approx((ev.service - 0.7 * ev.cost) / u.objective, rel=1e-9, abs=1e-12)
        assert pyo.value(ratio.obj) == pytest.approx(ev.scr, rel=1e-9)
        assert pyo.value(dink.service) == pytest.approx(ev.service, rel=1e-9)
        assert pyo.value(dink.energy) == pytest.approx(ev.energy, rel=1e-9)
        back = lm.extract_solution(dink, sc)
        assert np.array_equal(back.assignment, sol.assignment)
        assert lm.evaluate(sc, back).scr == pytest.approx(ev.scr, rel=1e-9)


def test_model_detects_infeasible_points(toy):
    sol = lm.equal_split(toy, [0, 0, 0])
    sol = sol.copy(b=sol.b * 1.5, evaluation=None)  # 150 % of server 1's bandwidth
    model = lm.build_model(toy)
    lm.load_solution(model, sol)
    # (3d) in MHz: 15 > 10, a relative violation of 0.5
    assert lm.constraint_violations(model)["bandwidth_budget"] == pytest.approx(0.5, rel=1e-9)


def test_model_structure_and_default_y(toy):
    model = lm.build_model(toy)
    start = lm.evaluate(toy, lm.initial_point(toy))
    assert pyo.value(model.y) == pytest.approx(start.scr)
    N, M = toy.n_users, toy.n_servers
    assert len(model.x) == N * M and all(v.is_binary() for v in model.x.values())
    assert len(model.delay) == N * M and len(model.one_server) == N
    assert len(model.bandwidth_budget) == M and len(model.power_budget) == M and len(model.compute_budget) == M
    assert list(model.N) == list(toy.user_ids) and list(model.M) == list(toy.server_ids)
    with pytest.raises(ValueError):
        lm.build_model(toy, form="other")


def test_scaled_units_keep_numbers_moderate(paper_default):
    model = lm.build_model(paper_default)
    vals = [abs(pyo.value(p)) for comp in (model.b_max, model.F_max_s, model.F_max_u, model.bits, model.work_u, model.kappa_u) for p in comp.values()]
    assert max(vals) < 1e4 and min(v for v in vals if v > 0) > 1e-4
    assert model.units.hz == 1e6 and model.units.flops == 1e12

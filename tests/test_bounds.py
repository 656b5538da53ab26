"""The Lagrangian SCR upper bound (pyomo_llmmec.bounds): valid everywhere, tight enough on the references.

Validity is checked three ways: each closed-form or branch-and-bound piece
against a dense brute-force grid on random data spanning many orders of
magnitude; the whole bound against the SCR of random feasible points, of every
cheap method and of the stored proven optima; and the stopping paths (time
limit) that must still return a valid bound.
"""

import math

import numpy as np
import pandas as pd
import pytest

import pyomo_llmmec as lm
from conftest import DATA, random_feasible_solution
from pyomo_llmmec.bounds import (AssociationScreen, _device_cost, _link, _proximal_bundle, _server_compute, association_bounds,
                                 association_branch_bound, scr_upper_bound)
from pyomo_llmmec.cli import main
from pyomo_llmmec.compare import compare, format_table
from reference import fastest

# -------------------------------------------------------------------------- the pieces


def test_device_cost_is_the_exact_minimum():
    rng = np.random.default_rng(1)
    alpha = 10.0 ** rng.uniform(-30, -5, 50)
    beta = 10.0 ** rng.uniform(-3, 12, 50)
    fmax = 10.0 ** rng.uniform(8, 11, 50)
    val, f = _device_cost(alpha, beta, fmax)
    grid = fmax[:, None] * np.logspace(-16, 0, 16001)[None, :]
    brute = alpha[:, None] * grid**2 + beta[:, None] / grid
    assert np.all(val <= brute.min(axis=1) * (1 + 1e-12))  # a true minimum is never above a grid point
    assert np.all(val >= brute.min(axis=1) * (1 - 1e-3))  # and the grid gets close to it
    assert np.all((f > 0) & (f <= fmax))
    assert val == pytest.approx(alpha * f * f + beta / f, rel=1e-12)  # the value is attained at the returned F


def test_server_compute_bounds_every_grid_point():
    rng = np.random.default_rng(2)
    n = 60
    fmax = 10.0 ** rng.uniform(9, 12, n)
    a = rng.normal(size=n) * 10.0 ** rng.uniform(-14, -8, n)
    alpha = 10.0 ** rng.uniform(-40, -20, n)
    beta = 10.0 ** rng.uniform(-2, 10, n)
    ub, F = _server_compute(a, alpha, beta, fmax)
    grid = fmax[:, None] * np.logspace(-12, 0, 6001)[None, :]
    brute = (a[:, None] * grid - alpha[:, None] * grid**2 - beta[:, None] / grid).max(axis=1)
    assert np.all(ub >= brute - 1e-12 * np.abs(brute))
    assert np.all(ub <= brute + 1e-3 * np.abs(brute) + 1e-9)  # tight: the bisection converges


@pytest.mark.parametrize("seed", range(4))
def test_link_bound_is_above_a_dense_grid(seed):
    """max over (b, q) of a_b b + a_q q − (c q + μ)·bits / r(b, q): the branch and bound never undercuts a grid."""
    rng = np.random.default_rng(seed)
    n = 24
    bmax = 10.0 ** rng.uniform(6, 8, n)
    qmax = 10.0 ** rng.uniform(-1, 1.5, n)
    gam = 10.0 ** rng.uniform(5, 14, n)  # gain / noise
    bits = 10.0 ** rng.uniform(5, 9, n)
    scale = 10.0 ** rng.uniform(-3, 3, n)
    a_b = rng.normal(size=n) * scale / bmax
    a_q = rng.normal(size=n) * scale / qmax
    c = 10.0 ** rng.uniform(-3, 1, n) * scale / (bits / bmax)
    mu = 10.0 ** rng.uniform(-1, 2, n) * scale / (bits / bmax)
    ub, b, q, delay = _link(a_b, a_q, c, mu, bits, gam, qmax, bmax)
    B = bmax[:, None, None] * np.logspace(-6, 0, 241)[None, :, None]
    Q = qmax[:, None, None] * np.logspace(-9, 0, 361)[None, None, :]
    r = B * np.log2(1.0 + gam[:, None, None] * Q / B)
    obj = a_b[:, None, None] * B + a_q[:, None, None] * Q - (c[:, None, None] * Q + mu[:, None, None]) * bits[:, None, None] / r
    brute = obj.reshape(n, -1).max(axis=1)
    assert np.all(ub >= brute - 1e-9 * np.abs(brute))
    assert np.all((b >= 0) & (b <= bmax * (1 + 1e-12)) & np.isfinite(q) & (q >= 0) & (delay >= 0))
    # (b, q, delay) are the bound's partial derivatives in a_b, a_q and −μ (the dual's subgradient needs exactly
    # those): central differences of the bound itself agree
    for k, (arg, deriv) in enumerate(((a_b, b), (a_q, q), (mu, -delay))):
        h = 1e-7 * np.abs(arg)
        args_hi = [a_b, a_q, c, mu]
        args_lo = [a_b, a_q, c, mu]
        args_hi[3 if k == 2 else k] = arg + h
        args_lo[3 if k == 2 else k] = arg - h
        fd = (_link(*args_hi, bits, gam, qmax, bmax)[0] - _link(*args_lo, bits, gam, qmax, bmax)[0]) / (2 * h)
        scale_k = np.abs(deriv * arg) + np.abs(ub) * 1e-3 + 1e-300
        assert np.all(np.abs(fd - deriv) * np.abs(arg) <= 1e-4 * scale_k), k


@pytest.mark.parametrize("seed", range(3))
def test_price_search_reaches_the_minimum_of_a_nonsmooth_convex_function(seed):
    """The proximal bundle (the bound's price search) on f(x) = max_i a_i·x + b_i over {x ≥ 0 (first block),
    x ≥ 1e-9 on a simplex block with Σ = its size, x ≤ 1 (last block)}: the LP optimum (HiGHS) to 1e-6, the point
    feasible; a bundle stopped after a few evaluations returns the best point it evaluated, not a worse one."""
    from scipy.optimize import linprog

    rng = np.random.default_rng(seed)
    n_free, n_simplex, n_box, k = 4, 5, 6, 40
    n = n_free + n_simplex + n_box
    A = rng.normal(size=(k, n)) * 10.0 ** rng.uniform(-1, 1, size=(k, 1))
    b = rng.normal(size=k)
    A[:, :n_free] += 3.0  # f grows along the free block (bounded below on the feasible set)
    lower = np.concatenate([np.zeros(n_free), np.full(n_simplex, 1e-9), np.full(n_box, -1.0)])
    upper = np.concatenate([np.full(n_free + n_simplex, np.inf), np.ones(n_box)])
    simplex = np.arange(n_free, n_free + n_simplex)
    evaluated = []

    def fg(x):
        v = A @ x + b
        i = int(np.argmax(v))
        evaluated.append(float(v[i]))
        return float(v[i]), A[i].copy()

    # reference: min t s.t. A x + b ≤ t, the same set
    c = np.append(np.zeros(n), 1.0)
    eq = np.zeros((1, n + 1))
    eq[0, simplex] = 1.0
    ref = linprog(c, A_ub=np.hstack([A, -np.ones((k, 1))]), b_ub=-b, A_eq=eq, b_eq=[n_simplex],
                  bounds=[*zip(lower, [None if math.isinf(u) else u for u in upper]), (None, None)], method="highs")
    assert ref.status == 0
    x0 = np.concatenate([np.ones(n_free), np.ones(n_simplex), np.zeros(n_box)])
    x, converged = _proximal_bundle(fg, x0, lower, upper, simplex, max_evals=2000, deadline=math.inf, tol=1e-10)
    f = fg(x)[0]
    assert converged
    assert f == pytest.approx(ref.fun, rel=1e-6, abs=1e-6)
    assert np.all(x >= lower) and np.all(x <= upper) and x[simplex].sum() == pytest.approx(n_simplex)
    evaluated.clear()
    x3, converged3 = _proximal_bundle(fg, x0, lower, upper, simplex, max_evals=3, deadline=math.inf)
    assert not converged3 and len(evaluated) == 3
    assert fg(x3)[0] == pytest.approx(min(evaluated[:3]))


# -------------------------------------------------------------------------- the bound


@pytest.mark.parametrize("n,m,seed,over", [(3, 2, 11, {}), (5, 3, 12, {}), (4, 2, 13, {"weight_time": 0.0}),
                                           (4, 3, 14, {"weight_energy": 0.0}), (8, 2, 15, {"bandwidth_hz": 1e5})])
def test_bound_is_above_random_feasible_points(n, m, seed, over):
    sc = lm.generate_scenario(n, m, seed=seed, **over)
    rng = np.random.default_rng(seed)
    scrs = []
    for _ in range(200):
        ev = lm.evaluate(sc, random_feasible_solution(sc, rng))
        assert ev.feasible
        scrs.append(ev.scr)
    res = scr_upper_bound(sc, float(np.median(scrs)), max_rounds=3)
    assert math.isfinite(res.bound) and res.bound > 0
    assert res.bound >= max(scrs)


@pytest.mark.parametrize("over", [{"weight_time": 1e9}, {"score_scale": 1e12, "score_norm": 1e-6, "weight_time": 1e-9,
                                                             "weight_energy": 0.0}])
def test_bound_at_the_edge_of_the_supported_range_is_finite_and_silent(paper_default, over):
    """At the edges of the supported ranges (ω_t = 1e9; a score of 1e12 with ω_t = 1e-9, ω_e = 0) a delay weight's slope
    reaches ~1e300 per unit: the price step overflowed, numpy warned on stderr and the bound was dropped as NaN.  Now
    that step is not taken; the certified bound stands.  The hint is the start point's SCR, as `llmmec solve --method
    initial` gives it (the probe that found it)."""
    import warnings

    sc = paper_default.replace(**over)
    hint = lm.evaluate(sc, lm.initial_point(sc)).scr
    rng = np.random.default_rng(0)
    scrs = [hint] + [lm.evaluate(sc, random_feasible_solution(sc, rng)).scr for _ in range(50)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = scr_upper_bound(sc, hint, time_limit=5)
    assert math.isfinite(res.bound) and res.bound >= max(scrs)


def test_bound_is_above_every_method_on_the_toy(toy):
    sols = [lm.solve(toy, m) for m in ("dashf", "aauco", "gucaa")]  # near-optimal points: test_bound_against_the_proven_optimum
    best = max(s.evaluation.scr for s in sols)
    res = scr_upper_bound(toy, best, max_rounds=4)
    assert res.bound >= best
    assert res.gap(best) == pytest.approx((res.bound - best) / best)
    assert res.trace and all(b2 <= b1 for (_, b1), (_, b2) in zip(res.trace, res.trace[1:]))  # each round only tightens
    assert res.prices.shape == (3, toy.n_servers) and (res.prices >= 0).all()
    assert res.delay_weights.sum() == pytest.approx(1.0) and (res.delay_weights >= 0).all()


@pytest.mark.parametrize("ref", fastest(3), ids=lambda r: r.id)
def test_bound_against_the_proven_optimum(ref):
    """Valid (≥ the best known point) and as tight as measured: not above the whole network's bound recorded by
    benchmarks/bound_tightness.py (results/bound_tightness.csv, the same options) by more than 1 %."""
    from reference import RESULTS

    recorded = pd.read_csv(RESULTS / "bound_tightness.csv").set_index(["n", "m", "seed"])
    sc = ref.scenario()
    stored = float(recorded.loc[(sc.n_users, sc.n_servers, ref.seed), "whole_bound"])
    res = scr_upper_bound(sc, ref.best)
    assert res.bound >= ref.best
    assert res.bound <= 1.01 * stored, f"the bound loosened: {res.bound / ref.best:.3f} × the optimum, recorded {stored / ref.best:.3f}"


@pytest.mark.parametrize("ref", fastest(2), ids=lambda r: r.id)
def test_association_bounds_are_above_each_associations_best_point(ref):
    """Every association of a small reference network, optimised by lns's resource step (the best point of that
    association known), lies below its own Lagrangian bound; associations certified at the floor (the optimum) are
    settled, and the optimum's association is not among them."""
    import itertools
    import time

    from pyomo_llmmec.methods.blocks import PhaseTimer
    from pyomo_llmmec.methods.lns import Incumbent, ResourceSearch
    from pyomo_llmmec.methods.options import SolveOptions

    sc = ref.scenario()
    res = scr_upper_bound(sc, ref.best)
    assocs = np.array(list(itertools.product(range(sc.n_servers), repeat=sc.n_users)))
    floor = ref.best * (1 + 1e-4)
    bounds = association_bounds(sc, assocs, res, floor)
    assert bounds.shape == (len(assocs),) and np.all(bounds <= res.bound)
    rs = ResourceSearch(sc, SolveOptions(lns_levels=4), PhaseTimer(), time.perf_counter() + 600)
    best = []
    for a, bound in zip(assocs, bounds):
        start = lm.equal_split(sc, a, phi=np.full(sc.n_users, 0.5))
        ev = lm.evaluate(sc, start, attach=False)
        if not ev.feasible:
            best.append(-math.inf)
            continue
        point = rs.optimise(Incumbent(start, ev))
        best.append(point.scr)
        assert point.scr <= bound, f"association {a}: a point at SCR {point.scr:.8g} above its bound {bound:.8g}"
        if bound > floor:  # left open: its own multipliers, searched from the shared ones, bound it no worse
            own = scr_upper_bound(sc, floor, time_limit=5.0, assignment=a, start=res)
            assert point.scr <= own.bound <= bound * (1 + 1e-6), f"association {a}: own bound {own.bound:.8g}"
    settled = bounds <= floor
    assert settled.any() and not settled.all()  # the test exercises both outcomes
    assert max(best) >= 0.999 * ref.best and not settled[int(np.argmax(best))]


@pytest.mark.parametrize("ref", fastest(2), ids=lambda r: r.id)
def test_branch_over_associations_against_the_proven_optimum(ref):
    """The bound `solve` and `compare` report (methods.scr_bound: the whole network's bound, then the branch over
    associations): valid, never above the whole network's bound, and as tight as benchmarks/bound_tightness.py recorded
    it (≤ 1.01 × its `bound` column)."""
    from pyomo_llmmec.methods import scr_bound
    from reference import RESULTS

    recorded = pd.read_csv(RESULTS / "bound_tightness.csv").set_index(["n", "m", "seed"])
    sc = ref.scenario()
    stored = float(recorded.loc[(sc.n_users, sc.n_servers, ref.seed), "bound"])
    bound, res, warning = scr_bound(sc, ref.best, 30.0)
    assert warning is None and bound == res.bound
    br = res.branch
    assert br["associations"] == sc.n_servers ** sc.n_users and br["searches"] >= 1
    assert ref.best <= bound <= br["whole_bound"]
    assert bound <= 1.01 * stored, f"the bound loosened: {bound / ref.best:.3f} × the optimum, recorded {stored / ref.best:.3f}"


@pytest.mark.slow
def test_branch_over_associations_is_as_tight_as_every_association_searched():
    """Best first reaches the bound of the brute force — every association's own bound, each searched in full from the
    shared multipliers, and the maximum taken — while searching fewer."""
    import itertools

    sc = lm.generate_scenario(3, 2, seed=21)
    best = max(lm.solve(sc, m).evaluation.scr for m in ("dashf", "aauco"))
    whole = scr_upper_bound(sc, best)
    res = association_branch_bound(sc, whole, best, time_limit=60.0)
    assocs = np.array(list(itertools.product(range(2), repeat=3)))
    shared = association_bounds(sc, assocs, whole, best)
    own = [min(b, scr_upper_bound(sc, best, assignment=a, start=whole, starts=1, time_limit=10.0).bound)
           for a, b in zip(assocs, shared)]
    assert res.status == "ok" and best <= res.bound <= whole.bound
    assert res.bound <= max(own) * (1 + 1e-3), f"branch {res.bound:.8g}, brute force {max(own):.8g}"
    assert res.branch["searches"] < len(assocs) and res.branch["settled_shared"] == int(np.sum(shared <= best))


def test_branch_over_associations_stopped_at_once_is_the_shared_maximum():
    """With no time the branch searches nothing and returns the maximum over the associations of the bounds the
    shared multipliers give them (status time_limit): valid, and never above the whole network's bound."""
    import itertools

    sc = lm.generate_scenario(4, 2, seed=21)
    best = lm.solve(sc, "aauco").evaluation.scr
    whole = scr_upper_bound(sc, best, max_rounds=2)
    assocs = np.array(list(itertools.product(range(2), repeat=4)))
    shared = association_bounds(sc, assocs, whole, best)
    stopped = association_branch_bound(sc, whole, best, time_limit=0.0)
    assert stopped.status == "time_limit" and stopped.branch["searches"] == 0
    assert stopped.bound == pytest.approx(shared.max(), rel=1e-12)
    assert best <= stopped.bound <= whole.bound
    assert stopped.prices is whole.prices and stopped.branch["whole_bound"] == whole.bound


def test_scr_bound_branches_only_where_the_associations_are_few(toy):
    from pyomo_llmmec.methods import scr_bound

    _, res, _ = scr_bound(toy, 1.0, 5.0, branch=False)
    assert res.branch is None
    one_server = lm.generate_scenario(4, 1, seed=0)
    _, res, _ = scr_bound(one_server, lm.solve(one_server, "aauco").evaluation.scr, 5.0)
    assert res.branch is None  # one association: the whole network's bound is already that association's
    big = lm.generate_scenario(13, 2, seed=0)  # 8192 associations
    _, res, _ = scr_bound(big, lm.solve(big, "aauco").evaluation.scr, 2.0)
    assert res.branch is None


def test_association_screen_agrees_with_association_bounds():
    """The screen lns uses (one evaluation, then a sum per association) settles exactly the associations whose bound
    from association_bounds is at most the same level; it says nothing below its reference level."""
    import itertools

    sc = lm.generate_scenario(5, 2, seed=3)
    best = max(lm.solve(sc, m).evaluation.scr for m in ("dashf", "aauco"))
    res = scr_upper_bound(sc, best, max_rounds=1)
    assocs = np.array(list(itertools.product(range(2), repeat=5)))
    screen = AssociationScreen(sc, res, best)
    settled = screen.settled(assocs, best)
    assert np.array_equal(settled, association_bounds(sc, assocs, res, best) <= best)
    assert [screen.settled(a, best) for a in assocs] == list(settled)
    assert not screen.settled(assocs, 0.5 * best).any()  # below the reference level: unknown, never "settled"
    screen.refresh(2 * best)  # a higher level settles at least as many
    assert np.all(screen.settled(assocs, 2 * best) >= settled)


def test_association_bounds_need_the_multipliers(toy):
    with pytest.raises(ValueError, match="multipliers"):
        association_bounds(toy, np.zeros((1, toy.n_users), dtype=int), lm.bounds.BoundResult(1.0, 0.0, 0, "ok"), 0.5)


def test_bound_is_deterministic(toy):
    a = scr_upper_bound(toy, 10.0, max_rounds=2)
    b = scr_upper_bound(toy, 10.0, max_rounds=2)
    assert a.bound == b.bound and a.evaluations == b.evaluations


def test_bound_stopped_by_its_time_limit_is_still_valid(paper_default):
    sol = lm.solve(paper_default, "aauco")
    res = scr_upper_bound(paper_default, sol.evaluation.scr, time_limit=0.3)
    assert res.status == "time_limit"
    assert res.seconds < 5.0
    assert res.bound >= sol.evaluation.scr


def test_solve_attaches_the_bound_only_when_asked(toy):
    plain = lm.solve(toy, "dashf")
    assert "bound" not in plain.info and plain.summary()["bound"] is None and plain.summary()["gap"] is None
    sol = lm.solve(toy, "dashf", bound=True, bound_time_limit=5)
    s = sol.summary()
    assert s["bound_method"] == "lagrangian" and s["bound"] >= s["scr"]
    assert s["gap"] == pytest.approx((s["bound"] - s["scr"]) / s["scr"])


def test_compare_without_global_reports_the_lagrangian_bound(toy):
    df, sols = compare(toy, ["dashf", "aauco"], bound_time_limit=5)
    assert df.attrs["bound_method"] == "lagrangian"
    assert (df["bound"] >= df["scr"]).all() and df["gap"].notna().all()
    assert "(lagrangian)" in format_table(df)
    for sol in sols.values():
        assert sol.info["bound"] == df["bound"].iloc[0]


def _summary(path):
    s = pd.read_excel(path, sheet_name="summary")
    return dict(zip(s["metric"], s["value"]))


def test_cli_summary_has_bound_and_gap_rows(tmp_path, capsys):
    out = tmp_path / "sol.xlsx"
    assert main(["solve", str(DATA / "toy_3x2.xlsx"), "--method", "aauco", "--bound-time-limit", "5", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "SCR bound" in printed and "lagrangian" in printed
    s = _summary(out)
    assert float(s["bound"]) >= float(s["scr"]) and float(s["gap"]) >= 0 and s["bound_method"] == "lagrangian"
    out2 = tmp_path / "plain.xlsx"
    assert main(["solve", str(DATA / "toy_3x2.xlsx"), "--method", "aauco", "--no-bound", "-o", str(out2)]) == 0
    assert "not computed: --no-bound" in capsys.readouterr().out
    s2 = _summary(out2)
    assert "bound" in s2 and "gap" in s2 and pd.isna(s2["bound"]) and pd.isna(s2["gap"])

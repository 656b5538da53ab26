"""Issue 4: the baselines' defining rules, the global method against enumeration, MindtPy, `llmmec compare`."""

import itertools
import math

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest

import pyomo_llmmec as lm
from pyomo_llmmec import solvers
from pyomo_llmmec.cli import main
from pyomo_llmmec.errors import SolverUnavailable
from pyomo_llmmec.methods import greedy_association
from pyomo_llmmec.model.full import build_model, load_solution
from pyomo_llmmec.points import equal_split

needs_gurobi = pytest.mark.skipif(not solvers.available("gurobi"), reason="Gurobi is not usable here (llmmec doctor)")
needs_mindtpy = pytest.mark.skipif(not solvers.available("mindtpy"), reason="MindtPy is not usable here (llmmec doctor)")


def _equal_split_resources(sc, sol):
    """b, P, F_s of every user equal their server's budget / its number of users."""
    k = np.bincount(sol.assignment, minlength=sc.n_servers)[sol.assignment]
    a = sol.assignment
    np.testing.assert_allclose(sol.b, sc.bandwidth_hz[a] / k, rtol=1e-9)
    np.testing.assert_allclose(sol.p_server, sc.server_p_max_w[a] / k, rtol=1e-9)
    np.testing.assert_allclose(sol.f_server, sc.server_f_max_flops[a] / k, rtol=1e-9)


@pytest.mark.parametrize("n,m", [(3, 2), (7, 3), (10, 4), (11, 2)])
def test_gucaa_loads_differ_by_at_most_one(n, m):
    sc = lm.generate_scenario(n, m, seed=n + m)
    for method in ("gucaa", "gucro"):
        s = lm.solve(sc, method=method)
        loads = np.bincount(s.assignment, minlength=m)
        assert loads.max() - loads.min() <= 1, (method, loads)
        np.testing.assert_allclose(s.phi, 0.5)  # neither optimises φ
    _equal_split_resources(sc, lm.solve(sc, method="gucaa"))


def test_rucaa_reproducible_per_seed(paper_default):
    a = [lm.solve(paper_default, method="rucaa", seed=s).assignment for s in (0, 0, 1, 2)]
    np.testing.assert_array_equal(a[0], a[1])
    assert not (np.array_equal(a[0], a[2]) and np.array_equal(a[0], a[3]))  # 2^-20 chance per pair
    s = lm.solve(paper_default, method="rucaa", seed=5)
    np.testing.assert_allclose(s.phi, 0.5)
    _equal_split_resources(paper_default, s)


def test_aauco_keeps_equal_split_and_improves_on_gucaa(paper_default):
    s = lm.solve(paper_default, method="aauco", assoc="milp")
    _equal_split_resources(paper_default, s)
    g = lm.solve(paper_default, method="gucaa")
    assert s.evaluation.scr >= g.evaluation.scr * (1 - 1e-9)


def test_gucro_keeps_gucaa_association(paper_default):
    s = lm.solve(paper_default, method="gucro")
    np.testing.assert_array_equal(s.assignment, greedy_association(paper_default.n_users, paper_default.n_servers))
    assert s.evaluation.scr >= lm.solve(paper_default, method="gucaa").evaluation.scr * (1 - 1e-9)


# ---------------------------------------------------------------------------------------------
# global vs exhaustive enumeration
# ---------------------------------------------------------------------------------------------


def _local_best_per_association(sc):
    """For each of the M^N associations: the best of several Ipopt runs on the ratio form (2) with x fixed."""
    best = {}
    for a in itertools.product(range(sc.n_servers), repeat=sc.n_users):
        a = np.array(a)
        vals = []
        for phi in (0.05, 0.5, 0.95):
            m = build_model(sc, form="ratio")
            load_solution(m, equal_split(sc, a, phi=np.full(sc.n_users, phi)), sc)
            m.x.fix()
            res = pyo.SolverFactory("cyipopt").solve(m, options={"tol": 1e-9, "max_iter": 3000, "print_level": 0})
            if pyo.check_optimal_termination(res):
                vals.append(pyo.value(m.obj))
        best[tuple(a)] = max(vals) if vals else -math.inf
    return best


@needs_gurobi
def test_global_on_3x2_matches_enumeration(toy):
    sol = lm.solve(toy, method="global", time_limit=300)
    assert sol.status == "optimal", sol.info
    info = sol.info
    assert info["gap"] <= 1e-4 and info["bound"] >= sol.evaluation.scr
    local = _local_best_per_association(toy)
    best_a, best_local = max(local.items(), key=lambda kv: kv[1])
    # no association has a local optimum above the proven bound, and the global point is at least the best of them
    assert best_local <= info["bound"] * (1 + 1e-6)
    assert sol.evaluation.scr >= best_local * (1 - 1e-4)
    # the global SCR is a real, evaluated point
    assert sol.evaluation.feasible
    dashf = lm.solve(toy, method="dashf")
    assert dashf.evaluation.scr <= info["bound"] * (1 + 1e-6)
    # the history is the trajectory: the incumbent never falls, the bound never rises, the last row is the result
    h = sol.history
    assert h["step"].iloc[0] == "incumbent: start (dashf)" and h["step"].iloc[-1] == "final"
    assert h["scr"].is_monotonic_increasing and h["bound"].dropna().is_monotonic_decreasing
    assert h["scr"].iloc[-1] == pytest.approx(sol.evaluation.scr, rel=1e-12) and h["bound"].iloc[-1] == info["bound"]
    assert (h["bound"].dropna() >= h["scr"][h["bound"].notna()]).all() and h["seconds"].is_monotonic_increasing


@needs_gurobi
def test_global_beyond_licence_is_a_clear_failure():
    if not solvers.gurobi_size_limited():
        pytest.skip("Gurobi has a full licence here")
    sc = lm.generate_scenario(20, 3, seed=0)
    with pytest.raises(SolverUnavailable, match="200 variables for nonconvex quadratic or general nonlinear"):
        lm.solve(sc, method="global", solver="gurobi", warm_start=False, time_limit=30)


@needs_mindtpy
def test_mindtpy_returns_evaluated_point(toy):
    s = lm.solve(toy, method="mindtpy", time_limit=120)
    start = lm.solve(toy, method="initial")
    assert s.evaluation.feasible and s.evaluation.scr > start.evaluation.scr
    assert s.history["step"].tolist()[0] == "init"


# ---------------------------------------------------------------------------------------------
# llmmec compare
# ---------------------------------------------------------------------------------------------


def test_compare_malformed_file_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.xlsx"
    with pd.ExcelWriter(bad) as xw:
        pd.DataFrame({"parameter": ["noise_psd_dbm_per_hz"], "value": [-134]}).to_excel(xw, sheet_name="system", index=False)
    assert main(["compare", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.xlsx" in err[0] and "Traceback" not in err[0]
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["compare", str(tmp_path / "notes.txt")]) == 2
    assert main(["compare", str(tmp_path / "missing.xlsx")]) == 2


def test_compare_unknown_method_exits_2(data_dir, capsys):
    assert main(["compare", str(data_dir / "toy_3x2.xlsx"), "--methods", "dashf,best"]) == 2
    assert "best" in capsys.readouterr().err


def test_compare_table_and_report(data_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "report.xlsx"
    rc = main(["compare", str(data_dir / "toy_3x2.xlsx"), "--methods", "rucaa,gucaa,dashf", "--bound-time-limit", "5", "-o", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    for name in ("rucaa", "gucaa", "dashf"):
        assert name in text
    sheets = pd.read_excel(out, sheet_name=None)
    tab = sheets["compare"]
    assert tab["method"].tolist() == ["rucaa", "gucaa", "dashf"]
    assert {"dashf_users", "dashf_links", "dashf_history"} <= set(sheets)
    sc = lm.read_scenario(data_dir / "toy_3x2.xlsx")
    for r in tab.itertuples():  # the table's SCR is the evaluator's
        assert r.scr == pytest.approx(lm.solve(sc, method=r.method).evaluation.scr, rel=1e-9)
    # no global run: the bound is the Lagrangian one, the same for every row, above every SCR
    assert tab["bound"].nunique() == 1 and (tab["bound"] >= tab["scr"]).all()
    assert tab["gap"].tolist() == pytest.approx(((tab["bound"] - tab["scr"]) / tab["scr"]).tolist())
    assert "best proven SCR bound" in text and "(lagrangian)" in text
    rc = main(["compare", "--no-bound", str(data_dir / "toy_3x2.xlsx"), "--methods", "gucaa", "-o", str(tmp_path / "nb.xlsx")])
    assert rc == 0
    assert pd.read_excel(tmp_path / "nb.xlsx", sheet_name="compare")["bound"].isna().all()  # not computed: empty, not guessed


def test_compare_failed_method_is_a_row(data_dir, monkeypatch, capsys):
    from pyomo_llmmec import compare as cmp

    def broken(*a, **k):
        raise SolverUnavailable("Gurobi is not usable: test")

    real = cmp.solve
    monkeypatch.setattr(cmp, "solve", lambda sc, method, **o: broken() if method == "global" else real(sc, method=method, **o))
    rc = main(["compare", "--no-bound", str(data_dir / "toy_3x2.xlsx"), "--methods", "gucaa,global"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "global" in out and "Gurobi is not usable: test" in out and "unavailable" in out


needs_scip = pytest.mark.skipif(not solvers.available("scip"), reason="SCIP is not usable here (llmmec doctor)")


def _combined(sc, a, groups, points):
    """The per-server points of one delay level together, made strictly feasible for (3): a solver's point may
    exceed a budget by its feasibility tolerance (and the evaluator accepts 1e-6, MODEL.md §8.3), so each server's
    bandwidth, power and compute are scaled into the budget and the users' values clipped to their maxima."""
    from pyomo_llmmec.solution import Solution

    arr = {k: np.zeros(sc.n_users) for k in ("phi", "p", "f_user", "b", "p_server", "f_server")}
    for j, idx in groups.items():
        for k in arr:
            arr[k][idx] = getattr(points[j], k)
    for k, budget in (("b", sc.bandwidth_hz), ("p_server", sc.server_p_max_w), ("f_server", sc.server_f_max_flops)):
        used = np.bincount(a, weights=arr[k], minlength=sc.n_servers)
        arr[k] *= np.minimum(1.0, budget / used)[a]
    arr["p"] = np.minimum(arr["p"], sc.user_p_max_w)
    arr["f_user"] = np.minimum(arr["f_user"], sc.user_f_max_flops)
    arr["phi"] = np.clip(arr["phi"], 0.0, 1.0)
    return Solution.from_arrays(sc, a, **arr)


@pytest.mark.parametrize("solver", [pytest.param("gurobi", marks=needs_gurobi),
                                    pytest.param("scip", marks=[needs_scip, pytest.mark.slow])])
def test_price_split_bound_is_valid(toy, solver):
    """Σ_m max_{T∈[Ta,Tb]} (V_m(T) − c_m T) bounds max_T Σ_m V_m(T) − c T for any prices c_m ≥ 0 summing to c.

    The lower side is the value of points feasible for (3) with no violation at all (the servers' points of one
    level put together and scaled into the budgets, SCR terms recomputed from MODEL.md §3), not the solver's
    incumbent objective: an incumbent may use the solver's feasibility tolerance (1e-6) and beat a true bound by
    about that much, which is what the former version of this test measured (1.4e-6 relative, an xfail until
    issue 13).  Against strictly feasible points the bound holds up to TOL = 1e-6 of the size of F's terms
    (service, priced energy and delay): the model's resources have floors of 1e-6 of each budget and the solvers
    work to a feasibility tolerance of 1e-6 (MODEL.md §8.3), so a model bound is a bound of (3) to that
    accuracy only.  Measured with Gurobi on this machine: 7.7e-8 absolute below a strictly feasible point,
    5e-8 of the terms; the global method's gap (1e-4) is 100× larger.
    """
    TOL = 1e-6
    from pyomo_llmmec.methods.global_ import GlobalSearch, _caps
    from pyomo_llmmec.methods.options import SolveOptions
    from pyomo_llmmec.model.global_model import build_association_model, min_delays, point_from_model

    sc = toy
    start = lm.solve(sc, method="dashf")
    gs = GlobalSearch(sc, SolveOptions(solver=solver), start, deadline=math.inf, say=lambda *a: None)
    a = np.array([0, 0, 1])
    y = gs.y
    u = gs.u
    T_max, E_max = _caps(sc, a, y, u)
    T_lo = float(np.max(min_delays(sc, a, u)))
    Ta, Tb = T_lo * 1.5, T_lo * 3.0
    ot, ow = sc.system.weight_time, sc.system.weight_energy
    c = y * ot / u.objective
    groups = {j: np.flatnonzero(a == j) for j in (0, 1)}
    subs = {j: sc.subset(groups[j], [j]) for j in (0, 1)}

    def solve(model, j):  # the solver's proven bound and its best point (a bound is valid even at a time limit)
        _tc, bound, inc = gs.solve(model, 10, abs_gap=1e-6)
        assert inc is not None and math.isfinite(bound)
        return bound, point_from_model(subs[j], model)

    F, scale = [], []  # values of points feasible for (3): lower bounds on max_{T∈[Ta,Tb]} Σ_m V_m(T) − c T
    for T in np.linspace(Ta, Tb, 3):
        pts = {j: solve(build_association_model(subs[j], np.zeros(len(groups[j]), dtype=int), u, y, T, E_max, fixed_T=T), j)[1]
               for j in (0, 1)}
        ev = lm.evaluate(sc, _combined(sc, a, groups, pts), attach=False)
        assert ev.feasible and ev.max_violation <= 1e-12 and ev.delay <= Tb * (1 + 1e-9)  # rounding only
        F.append((ev.service - y * ow * ev.energy) / u.objective - c * max(ev.delay, Ta))
        scale.append((ev.service + y * ow * ev.energy) / u.objective + c * Tb)  # the size of the terms of F
    for share in (0.0, 0.3, 1.0):
        split = sum(solve(build_association_model(subs[j], np.zeros(len(groups[j]), dtype=int), u, y, Tb, E_max,
                                                  T_range=(Ta, Tb), T_price=c * (share if j == 0 else 1 - share)), j)[0]
                    for j in (0, 1))
        assert split >= max(F) - TOL * max(scale), (solver, share, split - max(F))


@needs_gurobi
def test_delay_decomposition_proves_the_best_association(toy):
    """The decomposition alone (no screening) settles the toy's optimal association at the target y(1 + 1e-4)."""
    import time

    from pyomo_llmmec.methods.global_ import GlobalSearch, delay_decomposition
    from pyomo_llmmec.methods.options import SolveOptions

    best = lm.solve(toy, method="global", time_limit=300)
    assert best.status == "optimal"
    gs = GlobalSearch(toy, SolveOptions(), best, deadline=time.perf_counter() + 300, say=lambda *a: None)
    proved, bound = delay_decomposition(gs, best.assignment, per_solve=60, until=time.perf_counter() + 240)
    assert proved and bound == pytest.approx(gs.y_target)
    assert gs.y >= best.evaluation.scr


@pytest.mark.parametrize("n,m,seed", [(3, 2, 0), (4, 2, 1), (6, 2, 2)])
def test_global_model_keeps_every_feasible_point(n, m, seed):
    """No constraint or cut of the reformulated model cuts off a feasible point of (3).

    Random points (bandwidth budgets used in full, as the model's equality asks) are written into the model's
    variables from their definitions (times, energies, rates, spectrum-time products, cone variables, scores);
    every constraint must hold, and the model's delay and energy must be the evaluator's (MODEL.md §3).
    """
    from conftest import random_feasible_solution
    from pyomo_llmmec.model.global_model import _data, build_association_model

    sc = lm.generate_scenario(n, m, seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(4):
        sol = random_feasible_solution(sc, rng)
        a = sol.assignment
        used = np.bincount(a, weights=sol.b, minlength=m)
        sol = sol.copy(b=sol.b * sc.bandwidth_hz[a] / used[a], evaluation=None)
        ev = lm.evaluate(sc, sol, attach=False)
        assert ev.feasible
        u = lm.units_for(sc)
        md = build_association_model(sc, a, u, 0.5 * ev.scr, 2 * ev.delay, 2 * ev.energy)
        d = _data(sc, a, u)
        phi, p, P = sol.phi, sol.p, sol.p_server
        b, Fs, Fu = sol.b / u.hz, sol.f_server / u.flops, sol.f_user / u.flops
        ru = b * np.log2(1 + d["gam"] * p / b)
        rd = b * np.log2(1 + d["gam"] * P / b)
        t = {1: phi * d["W"] / Fu, 2: phi * d["D"] / ru, 3: (1 - phi) * d["Ws"] / Fs, 4: (1 - phi) * d["D"] / rd}
        z1 = phi**3 / t[1] ** 2
        e = {1: d["ku"] * d["W"] ** 3 * z1, 2: p * t[2], 3: d["ks"] * d["Ws"] * (1 - phi) * Fs**2, 4: P * t[4]}
        share = P / d["pmaxs"][a] + Fs / d["fmaxs"][a] + b / d["bmax"][a]
        values = dict(phi=phi, p=p, b=b, P=P, Fs=Fs, ru=ru, rd=rd, w1=phi**2 / t[1], z1=z1, s2=b * t[2], s4=b * t[4],
                      v=sc.system.score_scale * np.log1p(sc.system.score_norm * share))
        for k in range(n):
            for name, arr in values.items():
                getattr(md, name)[k].set_value(float(arr[k]), skip_validation=True)
            for j in (1, 2, 3, 4):
                md.t[k, j].set_value(float(t[j][k]), skip_validation=True)
                md.e[k, j].set_value(float(e[j][k]), skip_validation=True)
        md.T.set_value(float(max(sum(t[j] for j in t))), skip_validation=True)
        assert pyo.value(md.T) == pytest.approx(ev.delay, rel=1e-9)
        assert sum(pyo.value(md.e[k, j]) for k in range(n) for j in (1, 2, 3, 4)) == pytest.approx(ev.energy, rel=1e-9)
        for c in md.component_data_objects(pyo.Constraint, active=True):
            body = pyo.value(c.body)
            for bound, sign in ((c.lower, 1.0), (c.upper, -1.0)):
                if bound is not None:
                    bound = pyo.value(bound)
                    assert sign * (body - bound) >= -1e-7 * max(1.0, abs(body), abs(bound)), c.name
        for v in md.component_data_objects(pyo.Var):
            assert v.lb is None or v.value >= v.lb * (1 - 1e-12) - 1e-12, v.name
            assert v.ub is None or v.value <= v.ub * (1 + 1e-12) + 1e-12, v.name


def _spy_time_limits(monkeypatch, name):
    """Wrap the method function ``name`` of pyomo_llmmec.methods; returns the list of time limits it is called with."""
    import pyomo_llmmec.methods as lmethods

    seen, real = [], getattr(lmethods, name)

    def spy(sc, o):
        seen.append(o.time_limit)
        return real(sc, o)

    monkeypatch.setattr(lmethods, name, spy)
    return seen


@needs_gurobi
def test_global_warm_start_counts_against_the_time_limit(toy, monkeypatch):
    """Issue 11: the DASHF warm start of global runs within global's time limit, not without one."""
    seen = _spy_time_limits(monkeypatch, "_dashf")
    sol = lm.solve(toy, method="global", time_limit=45)
    assert seen == [22.5]  # half the limit
    assert sol.evaluation.feasible
    lm.solve(toy, method="global", warm_start=True, time_limit=3e-3)  # the warm start alone outlasts the limit
    assert seen[-1] == 1.5e-3


@needs_gurobi
@pytest.mark.parametrize("weights", [{"weight_time": 0.0}, {"weight_energy": 0.0}])
def test_global_with_a_zero_weight_derives_its_caps(weights):
    """Issue 11 item 6: with ω_t = 0 (or ω_e = 0) the caps on T (or on the energies) come from the model's own floors
    (every resource at EPS of its bound), not from invented constants; the proof still holds every method's point."""
    from pyomo_llmmec.methods.global_ import _caps
    from pyomo_llmmec.model.global_model import max_delays, max_energy_term

    sc = lm.generate_scenario(3, 2, seed=1, **weights)
    a = np.array([0, 1, 0])
    u = lm.units_for(sc)
    T_max, E_max = _caps(sc, a, 1.0, u)
    if "weight_time" in weights:
        assert T_max == float(np.max(max_delays(sc, a, u))) and math.isfinite(T_max)
    else:
        assert E_max == max_energy_term(sc, a, u) and math.isfinite(E_max)
    # every evaluated point of the association is inside the caps
    for method in ("dashf", "gucaa"):
        s = lm.solve(sc, method)
        assert s.evaluation.delay <= float(np.max(max_delays(sc, s.assignment, u))) * (1 + 1e-9)
    sol = lm.solve(sc, "global", time_limit=120)
    assert sol.status == "optimal" and sol.info["bound"] >= sol.scr
    for method in ("dashf", "aauco", "gucaa"):
        assert lm.solve(sc, method).scr <= sol.info["bound"] * (1 + 1e-9)


@needs_gurobi
def test_global_warm_started_from_lns(toy, monkeypatch):
    """Issue 13 item 3: warm_start_method='lns' starts global from lns's point, given at most half the time limit."""
    seen = _spy_time_limits(monkeypatch, "_lns")
    sol = lm.solve(toy, method="global", warm_start_method="lns", time_limit=120)
    assert seen == [60.0]
    assert sol.history["step"].iloc[0] == "incumbent: start (lns)"
    assert sol.status == "optimal" and sol.info["bound"] >= sol.scr
    from pyomo_llmmec.pyomo_solvers import requirements

    assert "ipopt" in requirements("global", {"warm_start_method": "lns", "solver": "scip"})
    assert requirements("global", {"warm_start": False, "solver": "scip"}) == ("scip",)


def test_open_associations_are_decomposed_best_first(monkeypatch):
    """_decompose_open gives the next slice to the association with the largest bound (the one that sets the gap),
    drops one whose bound the target has passed without a solve, and stops when none is left."""
    from pyomo_llmmec.methods import global_

    class FakeSearch:
        y_target = 3.0
        left = 100.0

        def time_left(self):
            return self.left

    gs, calls = FakeSearch(), []
    bounds = {0: 5.0, 1: 9.0, 2: 7.0, 3: 4.0}

    def decompose(gs_, a, per_solve, until):
        k = int(a[0])
        calls.append((k, dict(open_bounds)))
        gs_.left -= 10.0
        gs_.y_target = 4.5 if len(calls) == 3 else gs_.y_target  # a better incumbent: association 3's bound is passed
        bounds[k] -= 2.5
        return bounds[k] <= 3.0, bounds[k]

    monkeypatch.setattr(global_, "delay_decomposition", decompose)
    open_bounds = dict(bounds)
    info = {"proved": 0}
    global_._decompose_open(gs, info, [np.array([k]) for k in range(4)], open_bounds, lambda: None)
    for k, seen in calls:
        assert seen[k] == max(seen.values())  # best first
    assert [k for k, _ in calls][:3] == [1, 2, 1]
    assert all(k != 3 for k, _ in calls)  # settled by the target, never decomposed
    assert not open_bounds and info["proved"] == 4 and info["slices"] == len(calls)


@needs_gurobi
def test_global_settles_associations_by_the_lagrangian_bound():
    """On a reference instance the per-association Lagrangian bounds settle associations before any MINLP solve
    (fewer solver calls), and the proof is the same as without them."""
    from reference import fastest

    r = fastest(1)[0]
    sc = r.scenario()
    runs = {flag: lm.solve(sc, method="global", time_limit=300, global_lagrangian=flag) for flag in (True, False)}
    on, off = runs[True], runs[False]
    assert on.status == off.status == "optimal", (on.info, off.info)
    assert on.info["lagrangian_settled"] >= 1 and off.info["lagrangian_settled"] == 0
    assert on.info["solves"] < off.info["solves"]
    for s in (on, off):
        assert r.best * (1 - 2e-4) <= s.evaluation.scr <= s.info["bound"] <= r.bound * (1 + 1e-4)
    assert "bound" in set(on.history["step"])  # the Lagrangian bound is the run's first proven bound

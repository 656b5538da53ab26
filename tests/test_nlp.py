"""PersistentIpopt (pyomo_llmmec.nlp): part 2 with its NLP written once per association."""

import numpy as np
import pytest

import pyomo_llmmec as lm
from pyomo_llmmec.methods.blocks import FPResources, PhaseTimer
from pyomo_llmmec.methods.options import SolveOptions
from pyomo_llmmec.points import equal_split
from pyomo_llmmec.units import units_for


def _part2(sc, assignment, persistent, **kw):
    start = equal_split(sc, assignment, phi=np.full(sc.n_users, 0.5))
    ev = lm.evaluate(sc, start, attach=False)
    fp = FPResources(sc, units_for(sc, ev), SolveOptions(part2_persistent=persistent, **kw), PhaseTimer())
    rows = []
    sol, sol_ev = fp.improve(start, ev, ev.scr, lambda **r: rows.append(r), np.inf, max_iter=5)
    return fp, sol, sol_ev, rows


@pytest.mark.parametrize("n,m,seed", [(6, 2, 0), (12, 3, 1)])
def test_persistent_part2_matches_pyomo_cyipopt(n, m, seed):
    sc = lm.generate_scenario(n, m, seed=seed)
    a = np.arange(n) % m
    fp_p, sol_p, ev_p, rows_p = _part2(sc, a, True)
    fp_c, sol_c, ev_c, rows_c = _part2(sc, a, False)
    assert ev_p.feasible and ev_c.feasible
    assert ev_p.scr == pytest.approx(ev_c.scr, rel=1e-7)
    # every solve was optimal, and the NLP was written once for the whole run (one association)
    assert all(r["status"] == "optimal" for r in rows_p) and len(rows_p) >= 2
    assert fp_p.persistent.builds == 1 and fp_p.persistent.solves == len(rows_p) + fp_p.persistent.cold_retries
    assert fp_p.failures == []


def test_persistent_part2_rebuilds_for_a_new_association_and_reports_a_failed_solve():
    sc = lm.generate_scenario(8, 2, seed=3)
    a = np.arange(8) % 2
    fp, sol, ev, _ = _part2(sc, a, True)
    b = a.copy()
    b[0] = 1 - b[0]
    start = equal_split(sc, b, phi=np.full(8, 0.5))
    sev = lm.evaluate(sc, start, attach=False)
    fp.improve(start, sev, sev.scr, lambda **r: None, np.inf, max_iter=1)
    assert fp.persistent.builds == 2
    # one Ipopt iteration cannot converge: the solve is reported as not optimal, never taken silently
    fp1, _, _, rows = _part2(sc, a, True, ipopt_max_iter=1)
    assert rows[0]["status"] == "maxIterations"
    assert any("maxIterations" in f for f in fp1.failures)


def test_a_failed_warm_solve_is_repeated_cold(monkeypatch):
    from pyomo_llmmec import nlp

    sc = lm.generate_scenario(6, 2, seed=0)
    a = np.arange(6) % 2
    # a warm start that cannot converge (one iteration): every warm solve is repeated from the same primal point
    monkeypatch.setitem(nlp.WARM_OPTIONS, "max_iter", 1)
    fp, sol, ev, rows = _part2(sc, a, True)
    assert len(rows) >= 2 and all(r["status"] == "optimal" for r in rows)
    assert fp.persistent.cold_retries == len(rows) - 1  # the first solve is cold; each re-solve was retried
    monkeypatch.undo()
    fp_c, sol_c, ev_c, _ = _part2(sc, a, False)
    assert ev.scr == pytest.approx(ev_c.scr, rel=1e-7)


def test_warm_re_solves_take_fewer_ipopt_iterations():
    """The point of the persistent NLP: a re-solve from the previous primal-dual optimum (the measured ~6x)."""
    sc = lm.generate_scenario(12, 3, seed=1)
    a = np.arange(12) % 3
    _, _, _, warm = _part2(sc, a, True)
    _, _, _, cold = _part2(sc, a, False)
    assert len(warm) >= 3 and len(cold) == len(warm)
    it_warm = sum(r["inner_iterations"] for r in warm[1:])
    it_cold = sum(r["inner_iterations"] for r in cold[1:])
    assert it_warm < 0.6 * it_cold


def test_a_reused_nlp_solves_as_a_new_one_after_failed_solves(monkeypatch):
    """lns re-solves each server/joint NLP many times, some of them at delay levels no point meets (Ipopt fails).
    After a failed solve the NLP is rebuilt: every solve then takes exactly the iterations a new NLP takes from the
    same start.  Without the rebuild, 14 of the 101 server solves of this run hit the iteration limit on the reused
    NLP, each solved in 16-21 iterations by a new one (pyomo_llmmec/nlp.py)."""
    from pyomo_llmmec.methods import lns
    from pyomo_llmmec.model.fixed_association import DATA
    from pyomo_llmmec.nlp import PersistentIpopt

    solve = lns.ResourceSearch._solve
    seen = {"solves": 0, "failed": 0, "differ": []}

    def checked(self, ipopt, phase, warm=False):
        fresh = ipopt.model.clone()
        before = ipopt.iterations
        ok = solve(self, ipopt, phase, warm=False)  # cold, like the fresh one
        used = ipopt.iterations - before
        tc, its, _ = PersistentIpopt(fresh, [getattr(fresh, n) for n in DATA], self.ipopt_options, warm=False).solve()
        seen["solves"] += 1
        seen["failed"] += not ok
        if its != used:
            seen["differ"].append((phase, used, its, str(tc)))
        return ok

    monkeypatch.setattr(lns.ResourceSearch, "_solve", checked)
    sc = lm.generate_scenario(3, 2, seed=1)
    # the edge by bisection and every cold start: a run with failed solves (the defaults avoid most of them)
    sol = lm.solve(sc, "lns", lns_starts="dashf,aauco", lns_level_cold=3, lns_move_cold=3, lns_edge_nlp=False)
    assert lm.evaluate(sc, sol).feasible
    assert seen["failed"] >= 5, "the run must include failed solves for the check to mean anything"
    assert seen["differ"] == [], seen["differ"]


@pytest.mark.parametrize("kind", ["server", "joint"])
def test_decision_columns_problem_is_pynumeros_projection(kind):
    """PersistentIpopt hands Ipopt the decision columns through its own cyipopt problem (nlp._Problem), which takes
    the decision entries by positions computed once per build; PyNumero's CyIpoptNLP(ProjectedNLP(...)) on the same
    NLP is the reference: the same iterations and the same point, cold and then warm (with multipliers)."""
    import pyomo.environ as pyo
    from pyomo.contrib.pynumero.interfaces.cyipopt_interface import CyIpoptNLP
    from pyomo.contrib.pynumero.interfaces.nlp_projections import ProjectedNLP

    from pyomo_llmmec.model.fixed_association import DATA, build_fixed_association_nlp, set_start
    from pyomo_llmmec.nlp import WARM_OPTIONS, PersistentIpopt

    sc = lm.generate_scenario(5, 2, seed=2)
    a = np.array([0, 1, 1, 0, 1])
    start = equal_split(sc, a, phi=np.full(5, 0.5))
    ev = lm.evaluate(sc, start, attach=False)
    units = units_for(sc, ev)
    users = np.flatnonzero(a == 1) if kind == "server" else np.arange(5)
    m = build_fixed_association_nlp(sc, units, users, a[users], free_T=kind == "joint", eps=1e-3)
    m.y.set_value(ev.scr)
    m.T_fix.set_value(1.5 * ev.delay / units.seconds)
    opts = {"tol": 1e-9, "print_level": 0, "sb": "yes", "bound_relax_factor": 0.0}
    s = start
    set_start(m, s.phi[users], s.b[users], s.p[users], s.p_server[users], s.f_user[users], s.f_server[users], ev.delay)
    ours = PersistentIpopt(m, [getattr(m, n) for n in DATA], opts)
    ours._build()
    nlp = ours._nlp
    names = nlp.primals_names()
    x0 = np.array([v.value for v in ours._dec_vars])
    ref = CyIpoptNLP(ProjectedNLP(nlp, [names[i] for i in ours._dec_idx]), halt_on_evaluation_error=False)
    for k, v in opts.items():
        ref.add_option(k, v)
    x_ref, info_ref = ref.solve(x0)
    tc, iters, _ = ours.solve()
    x_ours = np.array([pyo.value(v) for v in ours._dec_vars])
    assert str(tc) == "optimal" and info_ref["status"] == 0
    assert np.array_equal(x_ours, x_ref)
    # warm: a new y, from this optimum with its multipliers, both ways
    m.y.set_value(1.01 * ev.scr)
    ours_w = PersistentIpopt(m, [getattr(m, n) for n in DATA], opts)
    ours_w._build()
    ref_w = CyIpoptNLP(ProjectedNLP(ours_w._nlp, [names[i] for i in ours_w._dec_idx]), halt_on_evaluation_error=False)
    for k, v in {**opts, **WARM_OPTIONS}.items():
        ref_w.add_option(k, v)
    x_ref_w, info_w = ref_w.solve(x_ref, lagrange=info_ref["mult_g"], zl=info_ref["mult_x_L"], zu=info_ref["mult_x_U"])
    ours_w._duals = (info_ref["mult_g"], info_ref["mult_x_L"], info_ref["mult_x_U"])
    tc_w, iters_w, _ = ours_w.solve(warm=True)
    assert str(tc_w) == "optimal"
    assert np.array_equal(np.array([pyo.value(v) for v in ours_w._dec_vars]), x_ref_w)
    assert iters_w < iters


def test_a_build_that_raises_leaves_no_half_built_nlp(monkeypatch):
    """An evaluation error while the NLP is built (its Jacobian and Hessian structures are read at the model's point)
    propagates to the caller; the NLP is then built again at the next solve instead of re-using the previous one."""
    from pyomo.contrib.pynumero.exceptions import PyNumeroEvaluationError
    from pyomo.contrib.pynumero.interfaces.pyomo_nlp import PyomoNLP

    from pyomo_llmmec.model.fixed_association import DATA, build_fixed_association_nlp
    from pyomo_llmmec.nlp import PersistentIpopt

    sc = lm.generate_scenario(4, 2, seed=1)
    a = np.array([0, 1, 0, 1])
    start = equal_split(sc, a, phi=np.full(4, 0.5))
    ev = lm.evaluate(sc, start, attach=False)
    units = units_for(sc, ev)
    m = build_fixed_association_nlp(sc, units, np.arange(4), a, free_T=True, eps=1e-3)
    m.y.set_value(ev.scr)
    ipopt = PersistentIpopt(m, [getattr(m, n) for n in DATA], {"print_level": 0, "sb": "yes"})
    assert str(ipopt.solve()[0]) == "optimal" and ipopt.builds == 1
    real = PyomoNLP.evaluate_hessian_lag

    def broken(self, *a, **k):
        raise PyNumeroEvaluationError("injected")

    monkeypatch.setattr(PyomoNLP, "evaluate_hessian_lag", broken)
    ipopt.invalidate()
    with pytest.raises(PyNumeroEvaluationError):
        ipopt.solve()
    assert ipopt._nlp is None and ipopt._duals is None
    monkeypatch.setattr(PyomoNLP, "evaluate_hessian_lag", real)
    assert str(ipopt.solve()[0]) == "optimal" and ipopt.builds == 2

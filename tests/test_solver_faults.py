"""Every external solver failing in each way it can (issue 14, item 5).

Each fault is injected by monkeypatching the solver's own entry point (Ipopt
through cyipopt, HiGHS and Gurobi through Pyomo's appsi, cvxpy's
``Problem.solve`` for the SDR, a Dask worker process) on small scenarios.
The documented behaviour checked throughout:

* a clear one-line status (the command line: one line on stderr, exit 1 for a
  failed solve or a missing/refused solver, no traceback);
* a feasible best point where one exists, its status or ``info['warnings']``
  saying what failed;
* never a silently wrong answer: every returned point is re-evaluated feasible,
  a step a failed solve produced is never taken unless the evaluator accepts
  it, and a value that is not a bound is not reported as one.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pytest

import pyomo_llmmec as lm
from pyomo_llmmec import solvers
from pyomo_llmmec.cli import main


@pytest.fixture(scope="module", autouse=True)
def _solver_checks_cached():
    """The solver checks solve tiny problems; cache them before any solver is broken on purpose."""
    for c in solvers.CHECKS.values():
        c()


@pytest.fixture(scope="module")
def small():
    return lm.generate_scenario(4, 2, seed=1)


def recheck(sc, sol):
    """The returned point, evaluated from scratch: feasible, and the SCR it reports is its own."""
    ev = lm.evaluate(sc, sol.copy(evaluation=None), attach=False)
    assert ev.feasible, ev.problems
    assert sol.scr == pytest.approx(ev.scr, rel=1e-12)
    return ev


def one_line_err(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ------------------------------------------------------------------------------------------
# Ipopt (AO part 2, FPResources)
# ------------------------------------------------------------------------------------------


def _ipopt_problem():
    """PyNumero's cyipopt problem interface: both part-2 paths solve through a subclass of it (SolverFactory('cyipopt')
    through CyIpoptNLP, the persistent NLP through pyomo_llmmec.nlp._Problem), whose ``solve`` is this one."""
    from pyomo.contrib.pynumero.interfaces.cyipopt_interface import CyIpoptProblemInterface

    return CyIpoptProblemInterface


@pytest.mark.parametrize("persistent", [True, False])
def test_ipopt_iteration_limit_is_reported_and_only_verified_steps_are_kept(small, monkeypatch, persistent):
    cls = _ipopt_problem()
    real = cls.solve

    def solve(self, x, **kw):  # Ipopt stopped after 1 iteration: Maximum_Iterations_Exceeded
        self.add_option("max_iter", 1)
        return real(self, x, **kw)

    monkeypatch.setattr(cls, "solve", solve)
    start = lm.evaluate(small, lm.initial_point(small), attach=False)
    sol = lm.solve(small, "dashf", assoc="milp", max_iter=3, part2_persistent=persistent)
    ev = recheck(small, sol)
    assert ev.scr >= start.scr
    p2 = sol.history[sol.history["step"] == "part2"]
    assert len(p2) and (p2["status"] == "maxIterations").all()
    assert any("did not end optimal" in w and "maxIterations" in w for w in sol.info["warnings"]), sol.info["warnings"]
    assert sol.info["max_drop"] == 0.0  # a failed solve's candidate is not an exact block step


@pytest.mark.parametrize("error", ["ApplicationError", "PyNumeroEvaluationError", "CyIpoptEvaluationError"])
def test_every_part2_solve_failing_is_a_warning_not_a_silent_convergence(data_dir, tmp_path, monkeypatch, capsys, error):
    """Every Ipopt solve raises: part 2 is a failed step each time; the run says so in one warning line."""
    import cyipopt
    from pyomo.common.errors import ApplicationError
    from pyomo.contrib.pynumero.exceptions import PyNumeroEvaluationError
    from pyomo.contrib.pynumero.interfaces.cyipopt_interface import CyIpoptProblemInterface

    exc = {"ApplicationError": ApplicationError, "PyNumeroEvaluationError": PyNumeroEvaluationError,
           "CyIpoptEvaluationError": cyipopt.CyIpoptEvaluationError}[error]
    calls = []

    def solve(self, x, **kw):  # inside Pyomo's cyipopt solver, which logs the exception with its traceback
        calls.append(1)
        raise exc("Error in AMPL evaluation")

    monkeypatch.setattr(CyIpoptProblemInterface, "solve", solve)
    sc = lm.read_scenario(data_dir / "toy_3x2.xlsx")
    sol = lm.solve(sc, "dashf", assoc="milp")
    recheck(sc, sol)
    p2 = sol.history[sol.history["step"] == "part2"]
    assert len(p2) == len(calls) > 0
    assert p2["status"].str.startswith(f"error: {error}").all() and not p2["accepted"].any()
    warn = [w for w in sol.info["warnings"] if w.startswith("part 2:")]
    assert warn and f"{len(calls)} Ipopt solve(s) did not end optimal" in warn[0], sol.info["warnings"]
    # the command line: the summary, and the failure as one warning line (Pyomo's logged traceback silenced)
    out = tmp_path / "sol.xlsx"
    assert main(["solve", "--no-bound", str(data_dir / "toy_3x2.xlsx"), "--assoc", "milp", "-o", str(out)]) == 0
    cap = capsys.readouterr()
    line = one_line_err(cap.err)
    assert line.startswith("warning: part 2:") and error in line
    assert out.exists()


@pytest.mark.parametrize("persistent", [True, False])
def test_ipopt_returning_garbage_as_optimal_is_never_taken(small, monkeypatch, persistent):
    """Ipopt claims 'optimal' but returns NaN for the variables: the evaluator refuses every such step."""
    cls = _ipopt_problem()
    real = cls.solve

    def solve(self, x, **kw):
        x_opt, info = real(self, x, **kw)
        return np.full_like(x_opt, np.nan), info

    monkeypatch.setattr(cls, "solve", solve)
    sol = lm.solve(small, "gucro", part2_persistent=persistent)
    recheck(small, sol)
    p2 = sol.history[sol.history["step"] == "part2"]
    assert len(p2) and not p2["accepted"].any()
    gucaa = lm.solve(small, "gucaa")
    assert sol.scr == pytest.approx(gucaa.scr, rel=1e-12)  # nothing from the broken solves got in


@pytest.mark.parametrize("persistent", [True, False])
def test_ipopt_infeasible_termination_is_recorded(small, monkeypatch, persistent):
    from pyomo.contrib.pynumero.algorithms.solvers.cyipopt_solver import _cyipopt_status_enum

    infeasible = next(msg for msg, name in _cyipopt_status_enum.items() if name == "Infeasible_Problem_Detected")
    cls = _ipopt_problem()
    real = cls.solve

    def solve(self, x, **kw):
        x_opt, info = real(self, x, **kw)
        return x_opt, {**info, "status": 2, "status_msg": infeasible}

    monkeypatch.setattr(cls, "solve", solve)
    sol = lm.solve(small, "gucro", part2_persistent=persistent)
    recheck(small, sol)
    p2 = sol.history[sol.history["step"] == "part2"]
    assert len(p2) and (p2["status"] == "infeasible").all()
    assert any("did not end optimal" in w for w in sol.info["warnings"])


# ------------------------------------------------------------------------------------------
# HiGHS (P1 MILP, the φ LP)
# ------------------------------------------------------------------------------------------


def _patch_highs(monkeypatch, which: str, *, keep_solution: bool, tc: str = "maxTimeLimit"):
    """HiGHS ends ``which`` model ('P1_milp' or 'P1_phi_LP') with status ``tc``, with or without a solution."""
    from pyomo.contrib.appsi.base import TerminationCondition
    from pyomo.contrib.appsi.solvers import Highs

    real = Highs.solve
    hits = []

    def solve(self, model, timer=None):
        res = real(self, model, timer)
        if model.name == which:
            hits.append(1)
            res.termination_condition = getattr(TerminationCondition, tc)
            if not keep_solution:
                res.best_feasible_objective = None
        return res

    monkeypatch.setattr(Highs, "solve", solve)
    return hits


def _fails_loudly_or_returns_flagged_best(run, words, sc):
    """The accepted outcomes of a block failure: SolveFailed/SolverUnavailable naming the status, or a
    feasible point whose status is not 'converged' or whose warnings name the failure."""
    try:
        sol = run()
    except (lm.SolveFailed, lm.SolverUnavailable) as exc:
        msg = str(exc)
        assert "\n" not in msg and any(w in msg for w in words), msg
        return exc
    recheck(sc, sol)
    flagged = sol.status != "converged" or any(any(w in x for w in words) for x in sol.info.get("warnings", []))
    assert flagged, (sol.status, sol.info.get("warnings"))
    return sol


def test_highs_no_solution_of_p1(small, monkeypatch, tmp_path, capsys):
    hits = _patch_highs(monkeypatch, "P1_milp", keep_solution=False)
    r = _fails_loudly_or_returns_flagged_best(lambda: lm.solve(small, "dashf", assoc="milp"), ["maxTimeLimit"], small)
    assert hits
    if isinstance(r, lm.SolveFailed):
        assert r.status == "time_limit" and r.termination == "maxTimeLimit"
    path = tmp_path / "s.xlsx"
    lm.write_scenario(small, path)
    out = tmp_path / "sol.xlsx"
    rc = main(["solve", "--no-bound", str(path), "--assoc", "milp", "-o", str(out)])
    err = capsys.readouterr().err
    if rc == 1:  # today: the solve fails, one line, no file
        assert one_line_err(err).startswith("solve failed:") and "maxTimeLimit" in err and not out.exists()
    else:
        assert rc == 0 and "maxTimeLimit" in err and out.exists()


def test_highs_time_limit_with_a_solution_of_p1_is_used_and_recorded(small, monkeypatch):
    hits = _patch_highs(monkeypatch, "P1_milp", keep_solution=True)
    sol = lm.solve(small, "dashf", assoc="milp")
    recheck(small, sol)
    assert hits
    p1 = sol.history[sol.history["step"] == "part1"]
    assert p1["status"].astype(str).str.contains("maxTimeLimit").any()


@pytest.mark.parametrize("tc", ["maxTimeLimit", "infeasible", "error"])
def test_highs_phi_lp_not_optimal(small, monkeypatch, tc):
    hits = _patch_highs(monkeypatch, "P1_phi_LP", keep_solution=True, tc=tc)
    r = _fails_loudly_or_returns_flagged_best(lambda: lm.solve(small, "aauco", assoc="milp"), [tc], small)
    assert hits
    if isinstance(r, lm.SolveFailed):
        assert r.termination == tc and r.status == ("time_limit" if tc == "maxTimeLimit" else "solver_failure")
        assert "φ linear program" in str(r)


# ------------------------------------------------------------------------------------------
# cvxpy (the SDR of P1)
# ------------------------------------------------------------------------------------------


def _patch_cvxpy(monkeypatch, fault):
    import cvxpy as cp

    real = cp.Problem.solve
    seen = []

    def solve(self, *a, **kw):
        name = kw.get("solver")
        seen.append(name)
        return fault(lambda: real(self, *a, **kw), self, name)

    monkeypatch.setattr(cp.Problem, "solve", solve)
    return seen


def test_sdr_optimal_inaccurate_is_flagged_and_not_a_bound(small, monkeypatch):
    def inaccurate(run, prob, name):
        v = run()
        prob._status = "optimal_inaccurate"
        return v

    seen = _patch_cvxpy(monkeypatch, inaccurate)
    sol = lm.solve(small, "dashf", assoc="sdr")
    recheck(small, sol)
    assert seen
    p1 = sol.history[sol.history["step"] == "part1"]
    assert p1["status"].astype(str).str.contains("optimal_inaccurate").any()  # flagged in the history
    assert p1["bound"].isna().all()  # an inaccurate SDP value is not a valid lower bound of P1
    assert all(not math.isfinite(p["bound"]) for p in sol.info["p1"])
    # with an accurate SDP the bound is there (the test can tell the difference)
    monkeypatch.undo()
    ok = lm.solve(small, "dashf", assoc="sdr")
    assert np.isfinite(ok.history.loc[ok.history["step"] == "part1", "bound"].astype(float)).any()


def test_sdr_solver_error_falls_back_to_the_next_solver(small, monkeypatch):
    import cvxpy as cp

    if "SCS" not in solvers.sdp_solvers():
        pytest.skip("needs SCS as the second SDP solver")

    def clarabel_fails(run, prob, name):
        if name == "CLARABEL":
            raise cp.error.SolverError("Solver 'CLARABEL' failed. Try another solver, or solve with verbose=True")
        return run()

    seen = _patch_cvxpy(monkeypatch, clarabel_fails)
    sol = lm.solve(small, "dashf", assoc="sdr")
    recheck(small, sol)
    assert "CLARABEL" in seen and "SCS" in seen
    assert {p["sdp_solver"] for p in sol.info["p1"]} == {"SCS"}


@pytest.mark.parametrize("how", ["solver_error", "infeasible"])
def test_sdr_every_solver_failing(small, monkeypatch, tmp_path, capsys, how):
    import cvxpy as cp

    def fail(run, prob, name):
        if how == "solver_error":
            raise cp.error.SolverError(f"Solver '{name}' failed.")
        run()
        prob._status = "infeasible"

    _patch_cvxpy(monkeypatch, fail)
    with pytest.raises(lm.SolveFailed) as ei:
        lm.solve(small, "dashf", assoc="sdr")
    assert ei.value.status == "solver_failure" and ei.value.termination and "SDR of P1 could not be solved" in str(ei.value)
    assert "\n" not in str(ei.value) and ("failed" in str(ei.value) if how == "solver_error" else "infeasible" in str(ei.value))
    path = tmp_path / "s.xlsx"
    lm.write_scenario(small, path)
    out = tmp_path / "sol.xlsx"
    assert main(["solve", "--no-bound", str(path), "--assoc", "sdr", "-o", str(out)]) == 1
    assert one_line_err(capsys.readouterr().err).startswith("solve failed: the SDR of P1")
    assert not out.exists()


# ------------------------------------------------------------------------------------------
# Gurobi (P1 MIQCP, method global)
# ------------------------------------------------------------------------------------------

needs_gurobi = pytest.mark.skipif(not solvers.check_gurobi().ok, reason="Gurobi is not available")
SIZE_LIMITED = "Model too large for size-limited license; visit https://gurobi.com/unrestricted for more information"


def _patch_gurobi(monkeypatch, fault):
    from pyomo.contrib.appsi.solvers import Gurobi

    real = Gurobi.solve
    hits = []

    def solve(self, model, timer=None):
        hits.append(1)
        return fault(lambda: real(self, model, timer))

    monkeypatch.setattr(Gurobi, "solve", solve)
    return hits


@needs_gurobi
def test_gurobi_licence_refusal_is_solver_unavailable(small, monkeypatch, tmp_path, capsys):
    import gurobipy

    def refuse(run):
        raise gurobipy.GurobiError(10010, SIZE_LIMITED)

    hits = _patch_gurobi(monkeypatch, refuse)
    with pytest.raises(lm.SolverUnavailable, match="Gurobi refused P1.*size-limited.*--assoc milp"):
        lm.solve(small, "dashf", assoc="gurobi")
    assert hits
    path = tmp_path / "s.xlsx"
    lm.write_scenario(small, path)
    out = tmp_path / "sol.xlsx"
    assert main(["solve", "--no-bound", str(path), "--assoc", "gurobi", "-o", str(out)]) == 1
    line = one_line_err(capsys.readouterr().err)
    assert line.startswith("solve failed: Gurobi refused P1") and "--assoc milp" in line and not out.exists()


@needs_gurobi
def test_gurobi_other_error_is_a_failed_solve(small, monkeypatch):
    import gurobipy

    def broken(run):
        raise gurobipy.GurobiError(10001, "Out of memory")

    _patch_gurobi(monkeypatch, broken)
    with pytest.raises(lm.SolveFailed, match="Gurobi failed on P1: Out of memory"):
        lm.solve(small, "dashf", assoc="gurobi")


@needs_gurobi
@pytest.mark.parametrize("keep_solution", [True, False])
def test_gurobi_time_limit(small, monkeypatch, keep_solution):
    from pyomo.contrib.appsi.base import TerminationCondition

    def time_limit(run):
        res = run()
        res.termination_condition = TerminationCondition.maxTimeLimit
        if not keep_solution:
            res.best_feasible_objective = None
        return res

    _patch_gurobi(monkeypatch, time_limit)
    r = _fails_loudly_or_returns_flagged_best(lambda: lm.solve(small, "dashf", assoc="gurobi"), ["maxTimeLimit"], small) \
        if not keep_solution else lm.solve(small, "dashf", assoc="gurobi")
    if keep_solution:  # the time-limited proposal is used (evaluated like any other), and recorded as such
        recheck(small, r)
        p1 = r.history[r.history["step"] == "part1"]
        assert p1["status"].astype(str).str.contains("maxTimeLimit").any()
    elif isinstance(r, lm.SolveFailed):
        assert r.status == "time_limit" and r.termination == "maxTimeLimit" and "Gurobi found no solution of P1" in str(r)


@needs_gurobi
def test_global_licence_refusal_is_solver_unavailable(monkeypatch, data_dir):
    import gurobipy
    from pyomo_llmmec.methods import global_

    class Refusing:
        def solve(self, *a, **k):
            raise gurobipy.GurobiError(10010, SIZE_LIMITED)

    monkeypatch.setattr(global_, "_gurobi", lambda: Refusing())
    sc = lm.read_scenario(data_dir / "toy_3x2.xlsx")
    with pytest.raises(lm.SolverUnavailable, match="size-limited"):
        lm.solve(sc, "global", warm_start=False, time_limit=30)


@needs_gurobi
def test_global_time_limit_returns_the_best_point_flagged(monkeypatch, data_dir):
    """A time limit that cannot close the gap: the best point is returned, status time_limit and a warning."""
    from pyomo_llmmec.methods import global_

    real = global_.GlobalSearch.gurobi

    def slow(self, model, time_limit, **params):  # every Gurobi solve ends at its (tiny) time limit
        return real(self, model, min(time_limit, 0.01), **params)

    monkeypatch.setattr(global_.GlobalSearch, "gurobi", slow)
    sc = lm.generate_scenario(4, 2, seed=0)
    sol = lm.solve(sc, "global", warm_start=False, time_limit=2)
    recheck(sc, sol)
    if sol.status != "optimal":
        assert sol.status == "time_limit" and any("gap" in w for w in sol.info["warnings"])
        assert sol.info["bound"] >= sol.scr * (1 - 1e-9)  # the bound that is reported is a bound
    else:
        assert sol.info["gap"] <= 1e-4 * (1 + 1e-9)


# ------------------------------------------------------------------------------------------
# MindtPy
# ------------------------------------------------------------------------------------------


@pytest.mark.skipif(not solvers.check_mindtpy().ok, reason="MindtPy is not available")
@pytest.mark.parametrize("when", ["first", "second"])
def test_mindtpy_failure(monkeypatch, data_dir, when):
    """MindtPy raising: in the first Dinkelbach iteration a failed solve, later the best point with a warning."""
    import pyomo.environ as pyo

    cls = type(pyo.SolverFactory("mindtpy"))
    real = cls.solve
    calls = []

    def solve(self, model, **kw):
        calls.append(1)
        if when == "first" or len(calls) >= 2:
            raise ValueError("MindtPy unable to handle NLP subproblem termination condition of solverFailure")
        return real(self, model, **kw)

    monkeypatch.setattr(cls, "solve", solve)
    sc = lm.read_scenario(data_dir / "toy_3x2.xlsx")
    if when == "first":
        with pytest.raises(lm.SolveFailed, match="MindtPy found no point") as ei:
            lm.solve(sc, "mindtpy", time_limit=60)
        assert ei.value.status == "solver_failure"
        return
    sol = lm.solve(sc, "mindtpy", time_limit=60)
    recheck(sc, sol)
    assert sol.status == "solver_failure" and any("MindtPy failed at outer iteration 2" in w for w in sol.info["warnings"])


# ------------------------------------------------------------------------------------------
# Dask: a worker dies mid-sweep
# ------------------------------------------------------------------------------------------


def test_worker_dying_mid_sweep_is_one_line_and_resumes(tmp_path, monkeypatch, capsys):
    """The worker process running one task dies (os._exit): the others are saved, the sweep says which task
    could not be run in one line and exits 1; the rerun computes only that task."""
    pytest.importorskip("dask.distributed")
    from pyomo_llmmec.experiments import runner

    argv = ["experiment", "baselines", "--seeds", "4", "--users", "4", "--methods", "gucaa", "--workers", "1",
            "-q", "--no-plots", "-o", str(tmp_path)]
    victim = "baselines_n4m2_gucaa_s0001"

    def make_killer(victim_key):
        def killer(spec):  # a closure: shipped to the worker by value
            if spec["key"] == victim_key:
                os._exit(1)  # the worker process dies in the middle of the task
            from pyomo_llmmec.experiments.tasks import run_task

            return run_task(spec)

        return killer

    monkeypatch.setattr(runner, "run_task", make_killer(victim))
    rc = main(argv)  # Dask's defaults: the task is retried on the restarted worker, which dies again (4 times)
    cap = capsys.readouterr()
    assert rc == 1, cap
    errors = [ln for ln in cap.err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "1 task(s) could not be run" in errors[0] and victim in errors[0], cap.err
    assert "Traceback" not in cap.err
    runs = pd.read_csv(tmp_path / "results.csv")
    assert len(runs) == 4
    by_seed = runs.set_index("seed")["status"].to_dict()
    assert by_seed[1] == "missing" and all(by_seed[s] == "evaluated" for s in (0, 2, 3)), by_seed
    assert np.isnan(runs.loc[runs["seed"] == 1, "scr"]).all()  # no invented value for the missing task
    monkeypatch.undo()
    assert main(argv) == 0
    assert "1 computed now" in capsys.readouterr().out
    assert (pd.read_csv(tmp_path / "results.csv")["status"] == "evaluated").all()

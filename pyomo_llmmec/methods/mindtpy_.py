"""Method ``mindtpy``: the full MINLP (3) handed to Pyomo's MindtPy (issue 4).

This is the off-the-shelf decomposition a user would otherwise reach for:
outer approximation (OA) with HiGHS for the master MILPs and Ipopt (through
cyipopt) for the NLP subproblems, on the model of
:func:`~pyomo_llmmec.model.full.build_model`.  (3) is a fractional program, so
MindtPy runs inside the same Dinkelbach loop as Algorithm 1: solve
``max service − y·cost`` from the incumbent, evaluate the point, set y to its
SCR, repeat until the SCR stops rising by more than ``tol`` (relative).

(3) is not convex: OA's linearisations may cut off parts of the feasible set
and MindtPy's "bound" is *not* a proven bound (docs/MODEL.md §6).  It is recorded in
the history as ``bound`` for information only; the SCR reported is the
evaluator's, as for every method.  When MindtPy or Ipopt fails part-way, the
best point so far is returned with the failure as a warning; when it fails
before any point, the solve fails loudly.
"""

from __future__ import annotations

import logging
import math
import time

from .. import interrupts, solvers
from ..errors import SolveFailed
from ..model.full import build_model, extract_solution, load_solution
from ..points import initial_point
from ..solution import evaluate
from ..units import units_for
from .ao import History, live_status


def solve_mindtpy(sc, o, say):
    solvers.require("mindtpy")
    t0 = time.perf_counter()
    deadline = t0 + o.time_limit
    best = initial_point(sc)
    best_ev = evaluate(sc, best, attach=False)
    y = best_ev.scr
    line = live_status(o, "mindtpy", t0)  # the CLI's status line on a terminal
    hist = History(on_add=line.row if line is not None else None)
    try:
        return _dinkelbach(sc, o, say, t0, deadline, best, best_ev, y, hist)
    finally:
        if line is not None:
            line.close()


def _dinkelbach(sc, o, say, t0, deadline, best, best_ev, y, hist):
    import pyomo.environ as pyo

    hist.add(iteration=0, step="init", scr=y, candidate_scr=y, accepted=True, status="ok", seconds=0.0)
    warnings, status = [], "converged"
    units = units_for(sc, best_ev)
    opt = pyo.SolverFactory("mindtpy")
    m = build_model(sc, form="dinkelbach", y=y, units=units)  # built once; each iteration moves the mutable Param y
    it = 0
    for it in range(1, o.max_iter + 1):
        left = deadline - time.perf_counter()
        if left <= 1.0:
            status = "time_limit"
            break
        m.y.set_value(y)
        load_solution(m, best, sc)
        ts = time.perf_counter()
        plog = logging.getLogger("pyomo")
        level = plog.level
        plog.setLevel(logging.ERROR)  # MindtPy logs every subproblem at INFO/WARNING
        error = None
        try:
            res = opt.solve(
                m, strategy="OA", mip_solver="appsi_highs", nlp_solver="cyipopt", time_limit=max(1, int(min(left, 1e8))),
                init_strategy="initial_binary", add_no_good_cuts=True, calculate_dual_at_solution=False,
                nlp_solver_args={"options": {"tol": o.ipopt_tol, "max_iter": o.ipopt_max_iter, "print_level": 0}},
            )
            tc = res.solver.termination_condition  # Pyomo's TerminationCondition
            mbound = res.problem.upper_bound
        except Exception as exc:  # noqa: BLE001 - MindtPy raises ValueError etc. on subproblem failures
            # ... but a signal inside Ipopt's callbacks comes out as one too (e.g. ctypes.ArgumentError): honour it
            interrupts.raise_if_requested(exc)
            error, mbound = f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", None
        finally:
            plog.setLevel(level)
        interrupts.check()  # an interrupt swallowed inside MindtPy (its logs of it are silenced by the handler)
        secs = time.perf_counter() - ts
        if error is not None:
            hist.add(iteration=it, step="mindtpy", scr=y, candidate_scr=math.nan, accepted=False, status=error, seconds=secs)
            warnings.append(f"MindtPy failed at outer iteration {it} ({error}); returning the best point so far")
            status = "solver_failure"
            break
        cand = extract_solution(m, sc)
        ev = evaluate(sc, cand, attach=False)
        better = ev.feasible and ev.scr > y
        hist.add(iteration=it, step="mindtpy", scr=ev.scr if better else y, candidate_scr=ev.scr, accepted=better,
                 objective=pyo.value(m.obj), bound=mbound, status=tc.value if ev.feasible else "infeasible point", seconds=secs)
        say(f"[mindtpy] iteration {it}: {tc}, candidate SCR {ev.scr:.6g} ({'feasible' if ev.feasible else 'infeasible'})")
        if not better:
            break
        gain = ev.scr / y - 1.0
        best, best_ev, y = cand, ev, ev.scr
        if gain <= o.tol:
            break
    else:
        status = "max_iter"
    if it <= 1 and status == "solver_failure":
        raise SolveFailed(f"MindtPy found no point: {warnings[-1]}", status="solver_failure")
    info = {"outer_iterations": it, "warnings": warnings, "note": "MindtPy's OA bound is not valid for the nonconvex (3)"}
    return best.copy(method="mindtpy", status=status, termination=status, wall_s=time.perf_counter() - t0,
                     history=hist.frame(), info=info, evaluation=None)

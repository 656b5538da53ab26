"""The Dinkelbach + alternating-optimisation driver shared by DASHF and the baselines (Algorithm 1).

One outer iteration i, with y = SCR of the incumbent (Dinkelbach, line 7):

1. **AO part 1** (if the method has an association block): P1 (6) at the fixed
   resources of :func:`~pyomo_llmmec.methods.blocks.p1_resources`.
   * If P1 proposes a *new* association (for the SDR route: one whose P1
     objective beats keeping the current association), it is tried as a whole: resources for
     it, the exact φ LP, then part 2 (at most ``trial_part2_iter`` iterations).
     It is accepted only if the SCR after that part 2 is not lower than the
     incumbent's [decision, MODEL.md §5.1]; its rows in the history are marked
     ``branch='trial'``.
   * Otherwise (or if the trial is rejected) φ is optimised for the incumbent's
     association and resources (the exact φ LP) — a step that cannot lower the
     SCR, since the incumbent has Dinkelbach objective 0 at y = its SCR.
2. **AO part 2** (the resource block) from that point.
3. Stop when y_new / y_old − 1 <= ε (line 8), at ``max_iter`` or at the time limit.

Every step is checked by the evaluator; a step whose point is infeasible or
whose SCR is lower than the incumbent's is not taken (and the largest such drop
is reported as ``info['max_drop']``: with exact block solves it stays at
solver-tolerance level).  So the recorded SCR never decreases.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from .. import interrupts
from ..errors import SolveFailed
from ..solution import Solution, evaluate
from ..units import units_for
from .blocks import ASSOCIATION_BLOCKS, RESOURCE_BLOCKS, PhaseTimer, PhiStep, p1_resources
from ..model.association import p1_data

HISTORY_COLUMNS = [
    "iteration", "step", "inner", "branch", "scr", "candidate_scr", "accepted", "objective", "bound", "rounded",
    "rounding_gap", "assoc_changed", "inner_iterations", "status", "seconds",
]


class History:
    """Rows of the solution's ``history`` sheet (see docs/WORKBOOKS.md)."""

    def __init__(self, on_add=None):
        self.rows: list[dict] = []
        self.on_add = on_add  # called with each row (the CLI's live status line)

    def add(self, **row):
        self.rows.append(row)
        if self.on_add is not None:
            self.on_add(row)

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.rows)
        cols = [c for c in HISTORY_COLUMNS if c in df.columns] + [c for c in df.columns if c not in HISTORY_COLUMNS]
        return df[cols]


def run_ao(scenario, start: Solution, options, *, method: str, assoc: str | None, resources: str, optimize_phi: bool) -> Solution:
    """Run Algorithm 1's loop with the given blocks from ``start``; returns the evaluated incumbent."""
    sc = scenario
    t_start = time.perf_counter()
    timer = PhaseTimer()
    bar = live_status(options, method, t_start)
    hist = History(on_add=bar.row if bar is not None else None)
    say = print if options.verbose else (lambda *a, **k: None)
    try:
        return _run_ao(sc, start, options, method, assoc, resources, optimize_phi, t_start, timer, hist, say)
    finally:
        if bar is not None:
            bar.close()


def live_status(options, method, t_start):
    """The run's live status line (:class:`LiveStatus`) when ``options.progress`` is set, else None.

    The CLI sets ``progress`` when stderr is a terminal and ``--quiet`` is not given."""
    return LiveStatus(method, t_start) if options.progress else None


class LiveStatus:
    """A one-line status on stderr, shown once the run is longer than 2 s (tqdm's ``delay``): steps, the
    outer iteration, the last step, the SCR so far and the elapsed time."""

    def __init__(self, method, t_start):
        from tqdm import tqdm

        self.t_start = t_start
        self.best = None
        self.bar = tqdm(total=None, desc=method, unit=" steps", leave=False, delay=2.0, dynamic_ncols=True)

    def row(self, row):
        scr = row.get("scr")
        if isinstance(scr, float) and scr == scr:
            self.best = scr if self.best is None else max(self.best, scr)
        it = row.get("iteration", "")
        self.bar.update(1)
        self.bar.set_postfix_str(f"outer {it}, {row.get('step', '')}, SCR {self.best:.6g}" if self.best is not None else
                                 f"outer {it}", refresh=False)

    def close(self):
        self.bar.close()


def _run_ao(sc, start, options, method, assoc, resources, optimize_phi, t_start, timer, hist, say) -> Solution:
    deadline = t_start + options.time_limit

    with timer("evaluation"):
        inc_ev = evaluate(sc, start, attach=False)
    if not inc_ev.feasible:
        raise SolveFailed(f"the start point of {method} is infeasible: {inc_ev.problems[0]}")
    inc = start
    units = units_for(sc, inc_ev)
    phi_step = PhiStep(sc, units, timer) if (optimize_phi or assoc) else None
    assoc_block = ASSOCIATION_BLOCKS[assoc](sc, units, options, timer, phi_step) if assoc else None
    res_block = RESOURCE_BLOCKS[resources](sc, units, options, timer)
    hist.add(iteration=0, step="init", scr=inc_ev.scr, candidate_scr=inc_ev.scr, accepted=True, status="ok", seconds=0.0)
    say(f"[{method}] start: SCR {inc_ev.scr:.6g}")

    max_drop = 0.0
    p1_stats = []
    status = "iteration_limit"
    outer = 0

    def take(cand, cand_ev, cur, cur_ev):
        """Keep ``cand`` if feasible and not worse; track the largest drop refused."""
        nonlocal max_drop
        if cand_ev.feasible and cand_ev.scr >= cur_ev.scr:
            return cand, cand_ev, True
        if cand_ev.feasible:
            max_drop = max(max_drop, 1.0 - cand_ev.scr / cur_ev.scr)
        return cur, cur_ev, False

    for it in range(1, options.max_iter + 1):
        if time.perf_counter() > deadline:
            status = "time_limit"
            break
        outer = it
        y = inc_ev.scr
        moved = False
        t_it = time.perf_counter()

        units = units_for(sc, inc_ev)  # T and objective units follow the incumbent (conditioning)
        if assoc_block is not None:
            R1 = p1_resources(sc, inc)
            data = p1_data(sc, units, y, inc.p, inc.f_user, *R1)
            prop = assoc_block.propose(data, inc.assignment)
            interrupts.check()  # after every solver call: an interrupt swallowed inside a solver is still honoured
            changed = not np.array_equal(prop.assignment, inc.assignment)
            if changed and not assoc_block.exact:
                # a rounded proposal is tried only if P1 itself prefers it to the current association
                _, _, stay_obj = phi_step.solve_data(data, inc.assignment)
                interrupts.check()
                if prop.objective >= stay_obj - 1e-9 * max(1.0, abs(stay_obj)):
                    changed = False
                    prop.status = f"{prop.status}; rounded association not better than the current one in P1 ({prop.objective:.6g} >= {stay_obj:.6g})"
            p1_stats.append({"iteration": it, "objective": prop.objective, "bound": prop.bound, "changed": changed,
                             "seconds": prop.seconds, **prop.extra})
            row = dict(iteration=it, step="part1", objective=prop.objective, bound=prop.bound,
                       rounded=prop.extra.get("rounded", math.nan), rounding_gap=prop.extra.get("rounding_gap", math.nan),
                       assoc_changed=changed, inner_iterations=prop.solver_iterations, status=prop.status, seconds=prop.seconds)
            if changed:
                trial = res_block.for_association(inc, prop.assignment, R1)
                if optimize_phi:
                    trial, _ = phi_step.run(trial, y, units)
                    interrupts.check()
                with timer("evaluation"):
                    trial_ev = evaluate(sc, trial, attach=False)
                hist.add(**row, branch="trial", scr=inc_ev.scr, candidate_scr=trial_ev.scr, accepted=trial_ev.feasible)
                if trial_ev.feasible:
                    def rec_trial(**r):
                        hist.add(iteration=it, branch="trial", scr=inc_ev.scr, **r)

                    trial2, trial2_ev = res_block.improve(trial, trial_ev, y, rec_trial, deadline, max_iter=options.trial_part2_iter)
                    interrupts.check()
                    ok = trial2_ev.feasible and trial2_ev.scr >= inc_ev.scr
                    if ok:
                        inc, inc_ev, moved = trial2, trial2_ev, True
                    hist.add(iteration=it, step="trial", branch="trial", scr=inc_ev.scr, candidate_scr=trial2_ev.scr, accepted=ok,
                             status="accepted" if ok else "rejected: lower SCR than the incumbent", seconds=0.0)
                    say(f"[{method}] it {it}: new association {'accepted' if ok else 'rejected'} (SCR {trial2_ev.scr:.6g})")
            if not moved:
                if optimize_phi:
                    t0 = time.perf_counter()
                    cand, obj = phi_step.run(inc, y, units)
                    interrupts.check()
                    with timer("evaluation"):
                        cand_ev = evaluate(sc, cand, attach=False)
                    inc, inc_ev, ok = take(cand, cand_ev, inc, inc_ev)
                    hist.add(iteration=it, step="part1", branch="same association", scr=inc_ev.scr, candidate_scr=cand_ev.scr,
                             accepted=ok, objective=obj, status="optimal" if ok else "not taken: lower SCR",
                             seconds=time.perf_counter() - t0, assoc_changed=False,
                             **({} if changed else {"bound": prop.bound, "rounded": row["rounded"], "rounding_gap": row["rounding_gap"]}))
                elif not changed:
                    hist.add(**row, branch="same association", scr=inc_ev.scr, candidate_scr=inc_ev.scr, accepted=True)

        if not moved:
            def rec(**r):
                hist.add(iteration=it, branch="same association", scr=max(inc_ev.scr, r["candidate_scr"] if r.get("accepted") else -math.inf), **r)
                if r.get("drop") and r["drop"] == r["drop"]:
                    nonlocal max_drop
                    max_drop = max(max_drop, r["drop"])

            inc, inc_ev = res_block.improve(inc, inc_ev, y, rec, deadline)
            interrupts.check()

        hist.add(iteration=it, step="outer", scr=inc_ev.scr, candidate_scr=inc_ev.scr, accepted=True, status="ok",
                 seconds=time.perf_counter() - t_it)
        say(f"[{method}] it {it}: SCR {inc_ev.scr:.6g} (y_old {y:.6g}), loads {np.bincount(inc.assignment, minlength=sc.n_servers).tolist()}")
        if inc_ev.scr / y - 1.0 <= options.tol:
            status = "converged"
            break

    wall = time.perf_counter() - t_start
    df = hist.frame()
    part2_rows = df[df["step"] == "part2"] if "step" in df else df.iloc[0:0]
    info = {
        "outer_iterations": outer,
        "part1_steps": int((df["step"] == "part1").sum()) if len(df) else 0,
        "part2_steps": int(len(part2_rows)),
        "assoc": assoc,
        "resources": resources,
        "max_drop": max_drop,
        "times": dict(timer.seconds),
        "units": units.describe(),
        "p1": p1_stats,
        "warnings": [],
    }
    if hasattr(res_block, "ipopt_iterations"):
        info["ipopt_iterations"] = res_block.ipopt_iterations
        if getattr(res_block, "persistent", None) is not None:
            info["part2_nl_builds"] = res_block.persistent.builds
            info["part2_cold_retries"] = res_block.persistent.cold_retries
        repairs = getattr(res_block, "repairs", [])
        info["part2_repairs"] = len(repairs)
        info["part2_max_repair"] = max(repairs, default=0.0)
        if repairs and max(repairs) > 1e-6:
            info["warnings"].append(f"part 2: {len(repairs)} Ipopt point(s) were moved into the bounds/budgets by fit_to_budgets, "
                                    f"the largest by {max(repairs):.2g} relative (history column 'repair')")
        if res_block.failures:
            info["warnings"].append(f"part 2: {len(res_block.failures)} Ipopt solve(s) did not end optimal ({res_block.failures[0]}); "
                                    "those steps were kept only where the evaluator found them feasible and not worse")
    if status == "time_limit":
        info["warnings"].append(f"time limit of {options.time_limit:g} s reached after {outer} outer iteration(s)")
    gaps = [p["rounding_gap"] for p in p1_stats if "rounding_gap" in p]
    if gaps:
        info["sdr_rounding_gap_max"] = float(np.nanmax(gaps))
    result = inc.copy(method=method, status=status, termination=status, wall_s=wall, history=df, info=info, evaluation=None)
    return result

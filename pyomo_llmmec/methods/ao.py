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
from .blocks import ASSOCIATION_BLOCKS, RESOURCE_BLOCKS, PhaseTimer, PhiStep, choose_assoc, not_worse, p1_resources
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
    """Run Algorithm 1's loop with the given blocks from ``start`` (an :class:`AODriver` configured by arguments, for
    studies such as ``benchmarks/dashf_gap_analysis.py``); returns the evaluated incumbent."""
    return AODriver(scenario, options, start=start, method=method, assoc=assoc, resources=resources,
                    optimize_phi=optimize_phi).solve()


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


class AODriver:
    """Algorithm 1's loop (the module docstring) as a class whose steps are hooks.

    A method is a small subclass that sets the class attributes and, where it differs, overrides a hook:

    * :meth:`start_point` — the point the loop starts from;
    * :meth:`association_route` — the AO part-1 block (a key of ``ASSOCIATION_BLOCKS``, or None for no part 1);
    * :attr:`resources` — the AO part-2 block (a key of ``RESOURCE_BLOCKS``); :attr:`optimize_phi` — whether φ is
      re-optimised (the exact φ LP) in part 1;
    * :meth:`accept` — the acceptance rule of a step (default: feasible and not lower SCR, so the trace never falls);
    * :meth:`part1` / :meth:`part2` — the two AO steps themselves.

    ``solve()`` runs it once and returns the evaluated incumbent.  The incumbent and the run's records are attributes
    and each step is a method, so no step mutates another's variables through a closure.
    """

    method = "ao"
    resources = "fp"
    optimize_phi = True
    uses_association = True

    def __init__(self, scenario, options, *, start: Solution | None = None, **overrides):
        for key, value in overrides.items():  # run_ao: the blocks given as arguments
            if key not in ("method", "assoc", "resources", "optimize_phi"):
                raise TypeError(f"AODriver: unknown override {key!r}")
            setattr(self, key, value)
        self.sc, self.o = scenario, options
        self.t_start = time.perf_counter()
        self.timer = PhaseTimer()
        self.start = start
        if "assoc" not in overrides:
            self.assoc = self.association_route()
        self.say = print if options.verbose else (lambda *a, **k: None)

    # -- hooks --------------------------------------------------------------------------
    def start_point(self) -> Solution:
        """The start of the loop (``start=`` given to the constructor, else a subclass's rule)."""
        raise NotImplementedError(f"{type(self).__name__} has no start rule; pass start=")

    def association_route(self) -> str | None:
        """The part-1 block: ``options.assoc`` resolved by size (``'auto'``), or None if the method has no part 1."""
        return choose_assoc(self.o.assoc, self.sc, self.o) if self.uses_association else None

    def accept(self, cand_ev, ref_ev) -> bool:
        """Whether a step's point (evaluation ``cand_ev``) replaces the point it started from (``ref_ev``: the
        incumbent, or the current point inside part 2): feasible and not lower SCR, so the trace never falls."""
        return not_worse(cand_ev, ref_ev)

    # -- the run ------------------------------------------------------------------------
    def solve(self) -> Solution:
        """Run the loop once from the start; returns the incumbent (``lm.solve`` evaluates it and checks feasibility)."""
        bar = live_status(self.o, self.method, self.t_start)
        self.hist = History(on_add=bar.row if bar is not None else None)
        self.res_block = None
        try:
            self._setup(self.start if self.start is not None else self.start_point())
            return self.run()
        finally:
            if self.res_block is not None and hasattr(self.res_block, "close"):
                self.res_block.close()
            if bar is not None:
                bar.close()

    def _setup(self, start: Solution) -> None:
        sc, options, timer = self.sc, self.o, self.timer
        self.deadline = self.t_start + options.time_limit
        self.inc_ev = self._evaluate(start)
        if not self.inc_ev.feasible:
            raise SolveFailed(f"the start point of {self.method} is infeasible: {self.inc_ev.problems[0]}")
        self.inc = start
        self.units = units_for(sc, self.inc_ev)
        self.phi_step = PhiStep(sc, self.units, timer) if (self.optimize_phi or self.assoc) else None
        self.assoc_block = ASSOCIATION_BLOCKS[self.assoc](sc, self.units, options, timer, self.phi_step) if self.assoc else None
        self.res_block = RESOURCE_BLOCKS[self.resources](sc, self.units, options, timer)
        self.p1_full = False  # the next P1 is solved to mip_gap, not to its first point (see part1)
        self.p1_final = True  # the last P1 was solved in full or proven: the run may end after it
        self.max_drop = 0.0  # the largest SCR drop of a step that was refused (solver-tolerance level with exact blocks)
        self.p1_stats: list[dict] = []

    def _take(self, cand, cand_ev) -> bool:
        """Make ``cand`` the incumbent if :meth:`accept` takes it; track the largest drop refused."""
        if self.accept(cand_ev, self.inc_ev):
            self.inc, self.inc_ev = cand, cand_ev
            return True
        if cand_ev.feasible:
            self.max_drop = max(self.max_drop, 1.0 - cand_ev.scr / self.inc_ev.scr)
        return False

    def _evaluate(self, sol):
        with self.timer("evaluation"):
            return evaluate(self.sc, sol, attach=False)

    # -- AO part 1 ----------------------------------------------------------------------
    def part1(self, it: int, y: float) -> bool:
        """P1, then the trial of a new association or the φ LP at the current one; True if the trial was accepted.

        The milp route (``p1_first_point``) solves P1 only to its first point better than the current association
        (or to the proof that there is none), unless the previous outer iteration would have ended the run after
        such a P1 (``self.p1_full``): then to ``mip_gap``.  A first point is tried only if it beats the current
        association in P1 (as a rounded proposal must).  :meth:`run` ends a run only after an outer iteration whose
        P1 was solved in full or proven (``self.p1_final``), so the fixed point is the exact route's."""
        sc, inc, o = self.sc, self.inc, self.o
        R1 = p1_resources(sc, inc)
        data = p1_data(sc, self.units, y, inc.p, inc.f_user, *R1)
        exact = self.assoc_block.exact
        first = o.p1_first_point and getattr(self.assoc_block, "first_point", False) and not self.p1_full
        prop = self.assoc_block.propose(data, inc.assignment, **({"first_point": True} if first else {}))
        interrupts.check()  # after every solver call: an interrupt swallowed inside a solver is still honoured
        self.p1_final = not first or prop.status == "optimal"
        if first:
            prop.status = f"{prop.status} (first point)"
        changed = not np.array_equal(prop.assignment, inc.assignment)
        if changed and not (exact and self.p1_final):
            # a rounded (or not proven) proposal is tried only if P1 itself prefers it to the current association
            stay_obj = prop.extra.get("stay_objective")
            if stay_obj is None:
                _, _, stay_obj = self.phi_step.solve_data(data, inc.assignment)
                interrupts.check()
            if prop.objective >= stay_obj - 1e-9 * max(1.0, abs(stay_obj)):
                changed = False
                prop.status = (f"{prop.status}; {'its' if exact else 'rounded'} association not better than the current one "
                               f"in P1 ({prop.objective:.6g} >= {stay_obj:.6g})")
        self.p1_stats.append({"iteration": it, "objective": prop.objective, "bound": prop.bound, "changed": changed,
                              "seconds": prop.seconds, "first_point": first, "final": self.p1_final,
                              **prop.extra})
        row = dict(iteration=it, step="part1", objective=prop.objective, bound=prop.bound,
                   rounded=prop.extra.get("rounded", math.nan), rounding_gap=prop.extra.get("rounding_gap", math.nan),
                   assoc_changed=changed, inner_iterations=prop.solver_iterations, status=prop.status, seconds=prop.seconds)
        moved = self._trial(it, y, prop, R1, row) if changed else False
        if not moved:
            if self.optimize_phi:
                self._phi_at_current(it, y, changed, prop, row)
            elif not changed:
                self.hist.add(**row, branch="same association", scr=self.inc_ev.scr, candidate_scr=self.inc_ev.scr, accepted=True)
        return moved

    def _trial(self, it, y, prop, R1, row) -> bool:
        """A new association tried as a whole: its resources, the φ LP, a short part 2; kept if not worse."""
        hist = self.hist
        trial = self.res_block.for_association(self.inc, prop.assignment, R1)
        if self.optimize_phi:
            trial, _ = self.phi_step.run(trial, y, self.units)
            interrupts.check()
        trial_ev = self._evaluate(trial)
        hist.add(**row, branch="trial", scr=self.inc_ev.scr, candidate_scr=trial_ev.scr, accepted=trial_ev.feasible)
        if not trial_ev.feasible:
            return False
        scr_before = self.inc_ev.scr

        def rec_trial(**r):
            hist.add(iteration=it, branch="trial", scr=scr_before, **r)

        trial2, trial2_ev = self.res_block.improve(trial, trial_ev, y, rec_trial, self.deadline, max_iter=self.o.trial_part2_iter,
                                                   accept=self.accept)
        interrupts.check()
        ok = self.accept(trial2_ev, self.inc_ev)
        if ok:
            self.inc, self.inc_ev = trial2, trial2_ev
        hist.add(iteration=it, step="trial", branch="trial", scr=self.inc_ev.scr, candidate_scr=trial2_ev.scr, accepted=ok,
                 status="accepted" if ok else "rejected: lower SCR than the incumbent", seconds=0.0)
        self.say(f"[{self.method}] it {it}: new association {'accepted' if ok else 'rejected'} (SCR {trial2_ev.scr:.6g})")
        return ok

    def _phi_at_current(self, it, y, changed, prop, row):
        """The exact φ LP at the incumbent's association and resources (cannot lower the SCR)."""
        t0 = time.perf_counter()
        cand, obj = self.phi_step.run(self.inc, y, self.units)
        interrupts.check()
        cand_ev = self._evaluate(cand)
        ok = self._take(cand, cand_ev)
        self.hist.add(iteration=it, step="part1", branch="same association", scr=self.inc_ev.scr, candidate_scr=cand_ev.scr,
                      accepted=ok, objective=obj, status="optimal" if ok else "not taken: lower SCR",
                      seconds=time.perf_counter() - t0, assoc_changed=False,
                      **({} if changed else {"bound": prop.bound, "rounded": row["rounded"], "rounding_gap": row["rounding_gap"]}))

    # -- AO part 2 ----------------------------------------------------------------------
    def part2(self, it: int, y: float):
        """AO part 2 from the incumbent at Dinkelbach parameter ``y`` (the resource block's ``improve``, with this
        driver's acceptance rule)."""

        def rec(**r):
            self.hist.add(iteration=it, branch="same association",
                          scr=max(self.inc_ev.scr, r["candidate_scr"] if r.get("accepted") else -math.inf), **r)
            if r.get("drop") and r["drop"] == r["drop"]:
                self.max_drop = max(self.max_drop, r["drop"])

        self.inc, self.inc_ev = self.res_block.improve(self.inc, self.inc_ev, y, rec, self.deadline, accept=self.accept)
        interrupts.check()

    # -- the loop -----------------------------------------------------------------------
    def run(self) -> Solution:
        sc, o, hist = self.sc, self.o, self.hist
        hist.add(iteration=0, step="init", scr=self.inc_ev.scr, candidate_scr=self.inc_ev.scr, accepted=True, status="ok", seconds=0.0)
        self.say(f"[{self.method}] start: SCR {self.inc_ev.scr:.6g}")
        status = "iteration_limit"
        outer = 0
        for it in range(1, o.max_iter + 1):
            if time.perf_counter() > self.deadline:
                status = "time_limit"
                break
            outer = it
            y = self.inc_ev.scr
            t_it = time.perf_counter()
            self.units = units_for(sc, self.inc_ev)  # T and objective units follow the incumbent (conditioning)
            moved = self.part1(it, y) if self.assoc_block is not None else False
            if not moved:
                self.part2(it, y)
            hist.add(iteration=it, step="outer", scr=self.inc_ev.scr, candidate_scr=self.inc_ev.scr, accepted=True, status="ok",
                     seconds=time.perf_counter() - t_it)
            self.say(f"[{self.method}] it {it}: SCR {self.inc_ev.scr:.6g} (y_old {y:.6g}), "
                     f"loads {np.bincount(self.inc.assignment, minlength=sc.n_servers).tolist()}")
            if self.inc_ev.scr / y - 1.0 <= o.tol:
                if not self.p1_final:  # P1 stopped at its first point: the next iteration solves it to mip_gap first
                    self.p1_full = True
                    continue
                status = "converged"
                break
            self.p1_full = False
        return self._result(status, outer)

    def _result(self, status, outer) -> Solution:
        o, res_block, p1_stats = self.o, self.res_block, self.p1_stats
        wall = time.perf_counter() - self.t_start
        df = self.hist.frame()
        part2_rows = df[df["step"] == "part2"] if "step" in df else df.iloc[0:0]
        info = {
            "outer_iterations": outer,
            "part1_steps": int((df["step"] == "part1").sum()) if len(df) else 0,
            "part2_steps": int(len(part2_rows)),
            "assoc": self.assoc,
            "resources": self.resources,
            "max_drop": self.max_drop,
            "times": dict(self.timer.seconds),
            "units": self.units.describe(),
            "p1": p1_stats,
            "warnings": [],
        }
        info["warnings"] += getattr(res_block, "notes", [])
        if self.phi_step is not None:
            info["phi_lp_cold_retries"] = self.phi_step.cold_retries
        if hasattr(res_block, "ipopt_iterations"):
            info["ipopt_iterations"] = res_block.ipopt_iterations
            split = getattr(res_block, "split", None)
            if split is not None:
                info.update(part2="split", part2_levels=split.levels, part2_server_solves=split.solves,
                            part2_failed_levels=split.failed_levels, part2_workers=split.pool.description)
            elif getattr(res_block, "persistent", None) is not None:
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
            info["warnings"].append(f"time limit of {o.time_limit:g} s reached after {outer} outer iteration(s)")
        gaps = [p["rounding_gap"] for p in p1_stats if "rounding_gap" in p]
        if gaps:
            info["sdr_rounding_gap_max"] = float(np.nanmax(gaps))
        result = self.inc.copy(method=self.method, status=status, termination=status, wall_s=wall, history=df, info=info, evaluation=None)
        return result

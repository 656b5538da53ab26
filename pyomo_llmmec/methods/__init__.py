"""Methods: DASHF, the baselines of MODEL.md §6, and the exact/global benchmarks, chosen by name.

``solve(scenario, method="dashf", **options)`` runs a method and returns a
:class:`~pyomo_llmmec.solution.Solution` that the evaluator has checked:
feasible for (3) to MODEL.md §8's tolerances, its SCR recomputed from the
definitions.  Options: :class:`~pyomo_llmmec.methods.options.SolveOptions`.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Callable

import numpy as np

from ..errors import SolveFailed
from ..points import equal_split, initial_point, round_robin
from ..solution import Solution, evaluate
from .ao import AODriver
from .options import ASSOC_CHOICES, SolveOptions

METHODS: dict[str, Callable] = {}
log = logging.getLogger(__name__)


def register(name: str):
    def deco(fn):
        METHODS[name] = fn
        return fn

    return deco


# ---------------------------------------------------------------------------------------
# associations of the baselines
# ---------------------------------------------------------------------------------------


def greedy_association(n_users: int, n_servers: int) -> np.ndarray:
    """GUCAA/GUCRO: each user in turn picks the server with the fewest users so far (ties: lowest index)."""
    loads = np.zeros(n_servers, dtype=int)
    a = np.empty(n_users, dtype=int)
    for i in range(n_users):
        j = int(np.argmin(loads))
        a[i] = j
        loads[j] += 1
    return a


def random_association(n_users: int, n_servers: int, seed: int) -> np.ndarray:
    """RUCAA: a uniformly random server per user, from ``numpy.random.default_rng(seed)``."""
    return np.random.default_rng(seed).integers(0, n_servers, size=n_users)


# ---------------------------------------------------------------------------------------
# methods
# ---------------------------------------------------------------------------------------


def gucaa_point(sc) -> Solution:
    """GUCAA's point: the greedy association with equal-split resources and φ = 0.5 (the start of AAUCO and GUCRO)."""
    return equal_split(sc, greedy_association(sc.n_users, sc.n_servers))


@register("initial")
def _initial(sc, o: SolveOptions) -> Solution:
    """Algorithm 1's initial point (line 1), evaluated — what DASHF starts from."""
    return initial_point(sc).copy(method="initial", status="evaluated")


@register("rucaa")
def _rucaa(sc, o: SolveOptions) -> Solution:
    """Random association, equal split, φ = 0.5 (MODEL.md §6)."""
    s = equal_split(sc, random_association(sc.n_users, sc.n_servers, o.seed))
    return s.copy(method="rucaa", status="evaluated", info={"seed": o.seed})


@register("gucaa")
def _gucaa(sc, o: SolveOptions) -> Solution:
    """Greedy (fewest users so far) association, equal split, φ = 0.5."""
    s = gucaa_point(sc)
    return s.copy(method="gucaa", status="evaluated")


class AAUCO(AODriver):
    """AO part 1 (association + φ) with equal-split resources, from GUCAA's point (MODEL.md §6)."""

    method, resources = "aauco", "equal"

    def start_point(self):
        return gucaa_point(self.sc)


class GUCRO(AODriver):
    """Greedy association and φ = 0.5 kept, AO part 2 for the resources, from GUCAA's point (MODEL.md §6)."""

    method, uses_association, optimize_phi = "gucro", False, False

    def start_point(self):
        return gucaa_point(self.sc)


class DASHF(AODriver):
    """Algorithm 1 as the paper states it: P1 then part 2 in a Dinkelbach loop from line 1's start."""

    method = "dashf"

    def start_point(self):
        sc = self.sc
        return initial_point(sc) if self.o.start == "paper" else equal_split(sc, round_robin(sc.n_users, sc.n_servers))

    def solve(self):
        sol = super().solve()
        sol.info["start"] = self.o.start
        return sol


@register("aauco")
def _aauco(sc, o: SolveOptions) -> Solution:
    """AO part 1 (association + φ) with equal-split resources, from GUCAA's point."""
    return AAUCO(sc, o).solve()


@register("gucro")
def _gucro(sc, o: SolveOptions) -> Solution:
    """Greedy association, φ = 0.5, AO part 2 for the resources, from GUCAA's point."""
    return GUCRO(sc, o).solve()


@register("dashf")
def _dashf(sc, o: SolveOptions) -> Solution:
    """Algorithm 1: Dinkelbach, AO part 1 (P1 by SDR+Hungarian / MILP / MIQCP) and AO part 2 (FP + Ipopt)."""
    return DASHF(sc, o).solve()


@register("global")
def _global(sc, o: SolveOptions) -> Solution:
    """The global optimum of (3) with Gurobi and/or SCIP, option ``solver`` (see pyomo_llmmec.methods.global_)."""
    from .global_ import solve_global

    say = print if o.verbose else (lambda *a, **k: None)
    t0 = time.perf_counter()  # the warm start counts against the time limit (it gets at most half of it)
    start, note = None, None
    if o.warm_start:
        warm = _lns if o.warm_start_method == "lns" else _dashf
        try:
            start = warm(sc, o.replace(verbose=False, progress=False, time_limit=0.5 * o.time_limit))
        except SolveFailed as exc:  # global needs no start: it goes on from its own equal-split points
            note = f"warm start ({o.warm_start_method}) failed: {exc}"
            log.warning("global: %s", note)
    sol = solve_global(sc, o, start, say, t0=t0)
    if note:
        sol.info.setdefault("warnings", []).append(note)
    return sol


@register("mindtpy")
def _mindtpy(sc, o: SolveOptions) -> Solution:
    """The full MINLP (3) with Pyomo's MindtPy (OA: HiGHS + Ipopt) in a Dinkelbach loop (a heuristic for (3))."""
    from .mindtpy_ import solve_mindtpy

    return solve_mindtpy(sc, o, print if o.verbose else (lambda *a, **k: None))


@register("lns")
def _lns(sc, o: SolveOptions) -> Solution:
    """Large-neighbourhood search over associations with per-server resource solves (see pyomo_llmmec.methods.lns)."""
    from .lns import LNS

    names = [s.strip() for s in o.lns_starts.split(",") if s.strip()]
    bad = [s for s in names if s not in LNS_STARTS]
    if bad or not names:
        raise SolveFailed(f"option lns_starts={o.lns_starts!r}: choose from {', '.join(LNS_STARTS)}", status="bad_option")
    search = LNS(sc, o, print if o.verbose else None)
    starts = []
    for name in names:
        remaining = search.deadline - time.perf_counter()
        if remaining <= 0:
            break
        method, extra = LNS_STARTS[name]
        if name == "dashf-milp" and sc.n_users * sc.n_servers > o.lns_milp_start_max_pairs:
            search.hist.add(iteration=0, step=f"start method: {name}", status="skipped (N·M > lns_milp_start_max_pairs)",
                            seconds=time.perf_counter() - search.t0)
            continue
        # lns has its own progress line
        s = METHODS[method](sc, o.replace(time_limit=remaining, verbose=False, progress=False, **extra))
        starts.append((name, s))
        search.hist.add(iteration=0, step=f"start method: {name}", status=s.status, seconds=time.perf_counter() - search.t0)
    return search.run(starts)


METHOD_NAMES = ("dashf", "lns", "rucaa", "gucaa", "aauco", "gucro", "global", "mindtpy", "initial")

#: the start points lns accepts (``lns_starts``): name -> (method, its options)
LNS_STARTS = {"dashf": ("dashf", {}), "dashf-milp": ("dashf", {"assoc": "milp"}), "aauco": ("aauco", {}),
              "gucaa": ("gucaa", {}), "rucaa": ("rucaa", {}), "gucro": ("gucro", {}), "initial": ("initial", {})}


def solve(scenario, method: str = "dashf", **options) -> Solution:
    """Solve ``scenario`` with ``method``; the returned solution is evaluated and feasible.

    Raises :class:`~pyomo_llmmec.errors.SolveFailed` (or ``SolverUnavailable``)
    when no verified solution can be returned.
    """
    if method not in METHODS:
        raise SolveFailed(f"unknown method {method!r}; choose one of {', '.join(sorted(METHODS))}", status="bad_option")
    o = SolveOptions.for_method(method, **options)
    t0 = time.perf_counter()
    sol = METHODS[method](scenario, o)
    wall = time.perf_counter() - t0
    ev = evaluate(scenario, sol)
    sol.wall_s = wall
    if math.isfinite(o.time_limit):
        # limits are checked between block solves: a run may pass its limit by at most the block it was in
        sol.info = {**(sol.info or {}), "time_limit_overshoot_s": max(0.0, wall - o.time_limit)}
    if not ev.feasible:
        raise SolveFailed(f"{method} produced an infeasible point ({ev.problems[0]}); not returned", status="infeasible", solution=sol)
    if o.bound:
        attach_bound(scenario, sol, o.bound_time_limit)
    return sol


def scr_bound(scenario, scr: float, time_limit: float, *, branch: bool = True, **kwargs):
    """The Lagrangian SCR bound (:func:`pyomo_llmmec.bounds.scr_upper_bound`) checked against a feasible SCR.

    With ``branch`` and at most ``bounds.BRANCH_MAX_ASSOCIATIONS`` associations, the time the whole network's bound
    leaves goes to the branch over associations (:func:`pyomo_llmmec.bounds.association_branch_bound`: the maximum of
    each association's own bound, started at ``scr``), which is tighter (docs/DESIGN.md, "Bounds at every size").
    Returns (bound or None, BoundResult or None, warning or None).  A relaxation that fails
    numerically, or a "bound" below the feasible ``scr`` (a defect of the relaxation), gives
    no bound and a warning that says so.  ``kwargs`` go to :func:`~pyomo_llmmec.bounds.scr_upper_bound`."""
    from ..bounds import BRANCH_MAX_ASSOCIATIONS, association_branch_bound, scr_upper_bound

    t0 = time.perf_counter()
    try:
        res = scr_upper_bound(scenario, scr, time_limit=time_limit, **kwargs)
        left = time_limit - (time.perf_counter() - t0)
        if branch and left > 0 and scenario.n_servers > 1 and scenario.n_servers ** scenario.n_users <= BRANCH_MAX_ASSOCIATIONS:
            res = association_branch_bound(scenario, res, scr, time_limit=left)
    except SolveFailed as exc:
        return None, None, f"no SCR bound: {exc}"
    if res.bound < scr * (1 - 1e-9):
        log.error("the Lagrangian SCR bound %.10g is below a feasible SCR %.10g: discarded", res.bound, scr)
        return None, res, f"the Lagrangian SCR bound {res.bound:.10g} is below the solution's SCR {scr:.10g}: discarded (a defect; please report it)"
    return res.bound, res, None


def attach_bound(scenario, sol: Solution, time_limit: float) -> None:
    """Record in ``sol.info`` the best proven SCR bound (the method's own, e.g. global's, or the Lagrangian one) and the gap.

    Keys: ``bound``, ``bound_method`` ('lagrangian' or the method's name), ``gap`` = (bound − scr)/scr,
    ``bound_seconds`` and ``bound_status`` of the Lagrangian bound."""
    scr = sol.evaluation.scr
    own = sol.info.get("bound")
    lag, res, warning = scr_bound(scenario, scr, time_limit)
    if warning:
        sol.info.setdefault("warnings", []).append(warning)
    if res is not None:
        sol.info.update(bound_seconds=res.seconds, bound_status=res.status)
        if res.branch is not None:
            sol.info["bound_branch"] = res.branch
    candidates = [(b, name) for b, name in ((own, sol.method), (lag, "lagrangian")) if b is not None and math.isfinite(b)]
    if candidates:
        b, name = min(candidates)
        sol.info.update(bound=float(b), bound_method=name, gap=(float(b) - scr) / scr)


__all__ = ["solve", "AODriver", "DASHF", "AAUCO", "GUCRO", "attach_bound", "scr_bound", "METHODS", "METHOD_NAMES", "ASSOC_CHOICES", "SolveOptions", "greedy_association", "random_association"]

"""Method ``global``: the global optimum of (3) with a global MINLP solver: Gurobi or SCIP (issues 4, 13).

Solvers (option ``solver``): ``"gurobi"`` (``gurobi_direct_minlp``), ``"scip"``
(``scip_direct``, pyscipopt; no size limit) or ``"auto"``: per model, Gurobi where
it fits the licence (:func:`gurobi_fits`), SCIP otherwise.  Every bound that
settles a piece of the proof is checked against the feasible points known for
that piece (:meth:`GlobalSearch.checked`): Gurobi 13.0.3 has returned "optimal"
bounds that a feasible point beats by up to 45 % (a per-server model of (6,2)
seed 4 under ``MIPFocus=3, NumericFocus=3``: bound 0.3568, a point at 0.6429,
SCIP 0.6479; the other settings tried gave six different "optima" between them).
A refuted bound is solved again with SCIP, or discarded (taken as +inf) when
SCIP is not there; ``info["refuted"]`` counts them.

Route for small networks (M^N ≤ ``global_max_associations``): Dinkelbach over
an enumeration of the associations.

1. **Incumbent.**  DASHF (``warm_start``) and, for every association, equal
   split with φ ∈ {0, ½, 1}; the best SCR is y.
2. **Target.**  To prove a relative gap g it suffices to show that no
   association has a point with  service − y_t·cost > 0  for
   y_t = y·(1 + g): then SCR* ≤ y_t.  Since that objective decreases in y, a
   proof at some y_t stays valid when y grows.
3. **Screening.**  Each association's reformulated problem
   (:func:`~pyomo_llmmec.model.global_model.build_association_model`) goes to
   the solver with a stop at bound 0 (Gurobi ``BestBdStop``, SCIP ``limits/dual``): most are cut off
   at once.  A point with positive objective has SCR > y_t > y: it becomes the
   incumbent (Dinkelbach's update) and y_t moves up.
4. **Delay decomposition** for the associations the solver cannot settle alone.
   With the delay level T fixed the problem splits by server:
   F(T) = Σ_m V_m(T) − y_t ω_t T, where V_m(T) = max Σ_{n of m} (v_n − y_t ω_e E_n)
   subject to every delay ≤ T, is non-decreasing in T.  So on an interval
   [T_a, T_b], F ≤ Σ_m V̄_m(T_b) − y_t ω_t T_a with V̄ the solver's proven bounds;
   intervals are bisected until every bound is ≤ 0 (proof) or time runs out.
   Each V_m(T) is a small global problem (one server's users); the per-server
   incumbents at one T combine into a feasible point of (3).  An interval still
   open after its ends are solved gets the *price-split* bound
   F ≤ Σ_m max_{T∈[T_a,T_b]} (V_m(T) − c_m T), valid for any c_m ≥ 0 with
   Σ c_m = y_t ω_t; with c_m the slopes of V_m across the interval it is tight
   to second order around the optimal delay, where the bound above keeps the
   slack y_t ω_t (T_b − T_a).

Every point found is checked by the evaluator before it can become the answer.
The reported bound is y_t when everything is proven, otherwise the largest
SCR bound left: y_t + U·units.objective / cost_lb for an association whose
objective is only known to be ≤ U, with cost_lb a valid lower bound of its cost.

Route for larger networks: the full MINLP (3) from
:func:`~pyomo_llmmec.model.full.build_model`, Dinkelbach with the chosen solver
(auto: Gurobi within its licence's size limit, else SCIP).
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import solvers
from ..errors import SolveFailed, SolverUnavailable
from .blocks import fit_to_budgets
from ..model.global_model import (build_association_model, max_delays, max_energy_term, max_service, min_delays, min_energy,
                                  point_from_model)
from ..points import equal_split
from ..solution import Solution, evaluate
from ..units import units_for

log = logging.getLogger(__name__)


SOLVERS = ("gurobi", "scip")
#: Gurobi's parameters for the global models.  NumericFocus 3: with the default numerics Gurobi "proved" optima of
#: per-server models that feasible points beat by ~3e-5 relative; with it (and MIPFocus 3) it proved a bound a point
#: beats by 45 % (see the module docstring): no setting makes its bounds trustworthy, hence GlobalSearch.refuted
GUROBI_PARAMS = {"NonConvex": 2, "Threads": 2, "MIPFocus": 3, "NumericFocus": 3}

#: the settings of a second solve where a solver's bound is beaten by a feasible point.  Measured on the toy network's
#: one-user server model at T = 2867.47 s, where an exactly feasible point (budgets met, delay 2867.06 s) has value
#: 0.60961827: Gurobi (GUROBI_PARAMS, any FeasibilityTol/OptimalityTol/FuncNonlinear) "proves" 0.60959603 — its
#: model scaling; with ScaleFlag 0, 0.60961849.  SCIP with its default feastol 1e-6 gives 0.60960556; with 1e-9,
#: 0.60961828.  Tighter, slower settings, not looser ones.
CAREFUL = {"gurobi": {"ScaleFlag": 0}, "scip": {"numerics/feastol": 1e-9}}


def _settled():
    from pyomo.contrib.solver.common.results import TerminationCondition as TC

    return (TC.convergenceCriteriaSatisfied, TC.provenInfeasible, TC.infeasibleOrUnbounded)


def _gurobi():
    from pyomo.contrib.solver.common.factory import SolverFactory

    return SolverFactory("gurobi_direct_minlp")


def _scip():
    from pyomo.contrib.solver.common.factory import SolverFactory

    return SolverFactory("scip_direct")


def model_size(m) -> tuple[int, int, bool]:
    """(variables, constraints, nonlinear) of ``m`` as Gurobi would see it.

    ``gurobi_direct_minlp`` adds one auxiliary variable per constraint (and objective) with a general
    nonlinear body (log, division); ``nonlinear`` is True when any body is not linear (bilinear terms count).
    """
    import pyomo.environ as pyo

    nv = sum(1 for v in m.component_data_objects(pyo.Var, active=True) if not v.fixed)
    nc, aux, nonlinear = 0, 0, False
    for c in m.component_data_objects(pyo.Constraint, active=True):
        nc += 1
        deg = c.body.polynomial_degree()
        aux += deg is None
        nonlinear |= deg is None or deg > 1
    for o in m.component_data_objects(pyo.Objective, active=True):
        deg = o.expr.polynomial_degree()
        aux += deg is None
        nonlinear |= deg is None or deg > 1
    return nv + aux, nc, nonlinear


def gurobi_fits(m) -> bool:
    """True when the size-limited Gurobi licence takes ``m`` (always True with a full licence)."""
    if not solvers.gurobi_size_limited():
        return True
    nv, nc, nonlinear = model_size(m)
    if nonlinear:
        return nv <= solvers.GUROBI_NONLINEAR_SIZE_LIMIT
    return nv <= solvers.GUROBI_SIZE_LIMIT and nc <= solvers.GUROBI_SIZE_LIMIT


class GlobalSearch:
    """State of one global solve: incumbent, target, bounds per association, counters."""

    def __init__(self, sc, options, start: Solution | None, deadline: float, say):
        self.sc, self.o, self.deadline, self.say = sc, options, deadline, say
        choice = getattr(options, "solver", "auto")
        if choice == "auto":
            self.usable = tuple(name for name in SOLVERS if solvers.available(name))
            if not self.usable:
                solvers.require("scip")  # raises, with the fix
        else:
            solvers.require(choice)
            self.usable = (choice,)
        self.choice = choice
        self.opt = _gurobi() if "gurobi" in self.usable else None
        self.opt_scip = _scip() if "scip" in self.usable else None
        self.runs = {name: 0 for name in SOLVERS}  # solves per solver
        self.seconds = {name: 0.0 for name in SOLVERS}
        self.refuted = 0  # bounds beaten by a known feasible point (solved again or discarded)
        self.u = units_for(sc, evaluate(sc, start, attach=False)) if start is not None else units_for(sc)
        self.best: Solution | None = None
        self.best_ev = None
        self.solves = 0
        self.solver_seconds = 0.0
        self.decompositions: dict = {}  # association -> state of delay_decomposition (levels, bounds, heap)
        self.size_limited = "gurobi" in self.usable and solvers.gurobi_size_limited()
        self.t0 = time.perf_counter()
        self.trace: list[dict] = []  # the history: the incumbent and the bound over time
        self.best_bound = math.inf  # the lowest proven bound on the SCR so far (every one recorded stays proven)
        if start is not None:
            self.offer(start, f"start ({start.method})")

    # -- incumbent --------------------------------------------------------------------------
    @property
    def y(self) -> float:
        return self.best_ev.scr if self.best_ev else 0.0

    @property
    def y_target(self) -> float:
        return self.y * (1.0 + self.o.global_gap)

    def offer(self, sol: Solution, origin: str) -> bool:
        ev = evaluate(self.sc, sol, attach=False)
        if ev.feasible and (self.best_ev is None or ev.scr > self.best_ev.scr):
            self.best, self.best_ev = sol, ev
            self.say(f"[global] incumbent {ev.scr:.8g} ({origin})")
            self.record(f"incumbent: {origin}", self.best_bound)
            return True
        return False

    def record(self, step: str, bound: float = math.inf) -> None:
        """A history row: the incumbent's SCR, the proven bound on the SCR known at this moment (empty until every
        association has one) and the gap between them."""
        y = self.y
        finite = math.isfinite(bound)
        self.trace.append({"iteration": len(self.trace), "step": step, "scr": y, "bound": bound if finite else math.nan,
                           "gap": (bound - y) / y if finite and y > 0 else math.nan,
                           "seconds": time.perf_counter() - self.t0})

    def record_bound(self, bound: float) -> None:
        """Record a new bound (a row only when it moved)."""
        if bound < self.best_bound:
            self.best_bound = bound
            self.record("bound", bound)

    def time_left(self) -> float:
        return self.deadline - time.perf_counter()

    # -- one solve ------------------------------------------------------------------------------
    def which(self, model) -> str:
        """The solver for ``model``: the one asked for, or (auto) Gurobi where the model fits its licence, else SCIP."""
        if self.choice != "auto" or len(self.usable) == 1:
            return self.usable[0]
        return "gurobi" if gurobi_fits(model) else "scip"

    def solve(self, model, time_limit: float, *, stop: float | None = None, abs_gap: float = 1e-9, solver: str | None = None,
              careful: bool = False):
        """(termination, proven bound, incumbent value) of the maximisation ``model``; the solver stops early once its
        bound is ≤ ``stop``.  The model holds the incumbent's values afterwards (when there is one).  ``careful``: with
        the solver's settings of :data:`CAREFUL` (slower; used where a bound was refuted)."""
        name = solver or self.which(model)
        time_limit = min(time_limit, 1e8)  # no limit (inf) as a number both solvers take
        t0 = time.perf_counter()
        if name == "gurobi":
            params = {"abs_gap": abs_gap}
            if stop is not None and math.isfinite(stop):
                params["BestBdStop"] = stop
            out = self.gurobi(model, time_limit, **params, **(CAREFUL["gurobi"] if careful else {}))
        else:
            out = self.scip(model, time_limit, stop=stop, abs_gap=abs_gap, extra=CAREFUL["scip"] if careful else None)
        self.runs[name] += 1
        self.seconds[name] += time.perf_counter() - t0
        return out

    def checked(self, model, time_limit: float, known: float, *, stop: float | None = None, abs_gap: float = 1e-9):
        """:meth:`solve`, then the bound is compared with ``known`` (the value of a feasible point of ``model``, or
        -inf): a bound below it is refuted — solved again with SCIP, or discarded (+inf) when SCIP is not usable.
        Gurobi's claims of infeasibility get a second opinion (SCIP, else Gurobi with default numerics)."""
        name = self.which(model)
        tc, bound, inc = self.solve(model, time_limit, stop=stop, abs_gap=abs_gap, solver=name)
        if bound == -math.inf and name == "gurobi":
            # Gurobi (MIPFocus 3, NumericFocus 3) has called feasible per-server models infeasible ((3,2) seed 2:
            # the delay level 4201 s, where a stored point of delay 4156 s exists): a claim of infeasibility
            # stands only when a second opinion agrees — SCIP, or without SCIP Gurobi with its default numerics
            if "scip" in self.usable:
                tc2, bound2, inc2 = self.solve(model, time_limit, stop=stop, abs_gap=abs_gap, solver="scip")
            else:
                tc2, bound2, inc2 = self.gurobi(model, time_limit, abs_gap=abs_gap, MIPFocus=0, NumericFocus=0,
                                                **({"BestBdStop": stop} if stop is not None and math.isfinite(stop) else {}))
                self.runs["gurobi"] += 1
            if bound2 != -math.inf:
                self.refuted += 1
                self.say(f"[global] gurobi called a model infeasible; a second solve finds bound {bound2:.9g}")
                log.warning("gurobi called a feasible model infeasible (second solve: bound %.9g)", bound2)
                tc, bound, inc = tc2, bound2, inc2
        if not self.refutes(bound, known):
            return tc, bound, inc
        # a bound below a feasible point: solved again with careful numerics (CAREFUL), the other solver first
        for again in dict.fromkeys([s for s in ("scip", "gurobi") if s != name] + [name]):
            if again not in self.usable or (again == "gurobi" and self.size_limited and not gurobi_fits(model)):
                continue
            self.refuted += 1
            self.say(f"[global] a bound {bound:.9g} is beaten by a known point ({known:.9g}): solving again with {again}, "
                     "careful numerics")
            log.warning("a bound %.9g is below a known feasible value %.9g: solving again with %s (careful numerics)",
                        bound, known, again)
            if self.time_left() <= 0:
                break
            tc2, bound2, inc2 = self.solve(model, min(time_limit, max(0.1, self.time_left())), stop=stop, abs_gap=abs_gap,
                                           solver=again, careful=True)
            if not self.refutes(bound2, known):
                return tc2, bound2, inc2 if inc2 is not None else inc
            bound = bound2
        self.refuted += 1
        log.warning("the bound %.9g is below a known feasible value %.9g with every solver: discarded", bound, known)
        from pyomo.contrib.solver.common.results import TerminationCondition as TC

        return TC.unknown, math.inf, inc  # not settled: the piece is solved again, not taken as proven

    @staticmethod
    def refutes(bound: float, known: float) -> bool:
        """A bound below a feasible value beyond the solvers' tolerances (absolute 1e-6 in the objective units plus
        1e-6 relative: the feasibility tolerance 1e-6 of MODEL.md §8.3 lets a point gain about that much)."""
        return math.isfinite(known) and bound < known - 1e-6 * (1.0 + abs(known))

    def scip(self, model, time_limit: float, *, stop: float | None = None, abs_gap: float = 1e-9, extra=None):
        # no SCIP log: scip_direct captures it through a pipe read by a Python thread, and pyscipopt's optimize()
        # keeps the GIL, so a long solve's log fills the pipe and both wait for ever (found 2026-12-04: (6,2) seed 4
        # hung with the CPU idle, SCIP blocked writing its log, the reader thread in select())
        options = {"display/verblevel": 0, **(extra or {})}
        if stop is not None and math.isfinite(stop):
            options["limits/dual"] = float(stop)  # maximisation: stop once the dual bound is <= stop
        t0 = time.perf_counter()
        try:
            res = self.opt_scip.solve(model, time_limit=max(0.1, time_limit), rel_gap=0.0, abs_gap=abs_gap,
                                      raise_exception_on_nonoptimal_result=False, load_solutions=False,
                                      solver_options=options)
        except Exception as exc:  # noqa: BLE001 - pyscipopt raises plain exceptions; say which solver failed
            raise SolveFailed(f"SCIP failed on the global model: {type(exc).__name__}: {exc}") from None
        self.solves += 1
        self.solver_seconds += time.perf_counter() - t0
        return self._result(res)

    def _result(self, res):
        """(termination, bound, incumbent) of a ``pyomo.contrib.solver`` result (its TerminationCondition enum)."""
        from pyomo.contrib.solver.common.results import TerminationCondition as TC

        tc = res.termination_condition
        infeasible = tc in (TC.provenInfeasible, TC.locallyInfeasible, TC.infeasibleOrUnbounded)
        bound = -math.inf if infeasible else (res.objective_bound if res.objective_bound is not None else math.inf)
        inc = res.incumbent_objective
        if inc is not None and not infeasible:
            res.solution_loader.load_vars()
        else:
            inc = None
        return tc, bound, inc

    def gurobi(self, model, time_limit: float, **params):
        if self.size_limited and not gurobi_fits(model):
            nv, _nc, _nl = model_size(model)
            raise SolverUnavailable(
                f"the global model has {nv} variables; Gurobi's size-limited licence allows "
                f"{solvers.GUROBI_LIMITS_TEXT}: use --solver scip (or auto), a full licence, or compare against DASHF"
            )
        import gurobipy

        t0 = time.perf_counter()
        try:
            res = self.opt.solve(
                model, time_limit=max(0.1, time_limit), rel_gap=0.0, abs_gap=params.pop("abs_gap", 1e-9),
                raise_exception_on_nonoptimal_result=False, load_solutions=False,
                # NumericFocus 3: with the default numerics Gurobi "proved" optima of the per-server models that
                # feasible points beat by ~3e-5 relative (tests/test_baselines_global.py::test_price_split_bound_is_valid)
                # — a bound error of the order of the 1e-4 target, so the careful numerics are not optional here
                solver_options={**GUROBI_PARAMS, **params},
            )
        except gurobipy.GurobiError as exc:
            if "size-limited" in str(exc):
                raise SolverUnavailable(
                    f"Gurobi refused the global model of this {self.sc.n_users}×{self.sc.n_servers} network: its size-limited "
                    f"licence allows {solvers.GUROBI_LIMITS_TEXT}, and the model needs more once Gurobi expands the "
                    "nonlinear terms; use --solver scip (no size limit), a full licence, or compare against DASHF"
                ) from None
            raise SolveFailed(f"Gurobi failed on the global model: {exc}") from None
        self.solves += 1
        self.solver_seconds += time.perf_counter() - t0
        return self._result(res)


def _cost_lb(sc, a, u) -> float:
    T_lb = float(np.max(min_delays(sc, a, u)))
    return sc.system.weight_time * T_lb + sc.system.weight_energy * min_energy(sc, a)


def _caps(sc, a, y, u):
    """T_max and E_max: no point of the model with SCR ≥ y exceeds them (service ≤ its maximum); with a zero weight,
    the model's own extremes (every resource at its floor: max_delays, max_energy_term) — derived, not invented."""
    smax = max_service(sc)
    ot, ow = sc.system.weight_time, sc.system.weight_energy
    E_lb = min_energy(sc, a)
    T_max = (smax - y * ow * E_lb) / (y * ot) if ot > 0 else float(np.max(max_delays(sc, a, u)))
    E_max = (smax) / (y * ow) if ow > 0 else max_energy_term(sc, a, u)
    return T_max, E_max


def screen(gs: GlobalSearch, a, time_limit: float):
    """The solver on the whole association at y_t; returns (proved, U) where U bounds the objective (obj units)."""
    sc, u = gs.sc, gs.u
    while True:
        y_t = gs.y_target
        T_max, E_max = _caps(sc, a, y_t, u)
        if T_max <= float(np.max(min_delays(sc, a, u))):
            return True, -math.inf  # no delay level is both reachable and good enough
        m = build_association_model(sc, a, u, y_t, T_max, E_max)
        tc, bound, inc = gs.checked(m, min(time_limit, gs.time_left()), -math.inf, stop=0.0)
        if inc is not None and inc > 0 and gs.offer(point_from_model(sc, m), f"association {tuple(int(v) for v in a)}"):
            if gs.time_left() <= 0:
                return False, bound
            continue  # Dinkelbach: a better y, solve again
        return bound <= 0, bound


@dataclass
class ServerSolve:
    """One server's global solve at one delay level of :func:`delay_decomposition`."""

    bound: float  # the solver's proven upper bound on V_m(T) (model units); −inf: T cannot be met
    incumbent: float | None  # the solver's best objective, if it found a point
    converged: bool  # the solver settled the problem (optimal or infeasible), not stopped by a limit
    time_limit: float  # the time limit it was given (a solve stopped by it may be continued with more)
    point: object  # the point (a Solution of the server's sub-scenario) or None
    y_t: float  # the target y it was solved at
    value: float | None  # the point's objective recomputed by the evaluator; None if infeasible or slower than T


@dataclass
class DecompositionState:
    """What one association's decomposition keeps between passes (and between calls, in ``gs.decompositions``)."""

    y_t: float  # the target y the bounds were found at
    levels: dict = field(default_factory=dict)  # T -> {server: ServerSolve}
    splits: dict = field(default_factory=dict)  # (Ta, Tb) -> the price-split bound of that interval
    heap: list | None = None  # open intervals (-bound, Ta, Tb); None until the first grid is solved


def delay_decomposition(gs: GlobalSearch, a, per_solve: float, until: float):
    """Prove F ≤ 0 for association ``a`` by bisecting the delay level T: :class:`DelayDecomposition` ``.run()``."""
    return DelayDecomposition(gs, a, per_solve, until).run()


class DelayDecomposition:
    """Prove F ≤ 0 for association ``a`` by bisecting the delay level T (see the module docstring).

    Each level T is the right end of exactly one interval [T_a, T]; its
    per-server solves stop as soon as their bounds settle that interval
    (``BestBdStop``), and an interval whose bound is still positive gets its
    unfinished solves continued with twice the time before it is split.
    :meth:`run` returns (proved, scr_bound): the largest SCR a point of this association can
    have: on [T_a, T_b] the cost is at least ω_t T_a + ω_e E_lb, so
    SCR ≤ y_t + U·units.objective / (ω_t T_a + ω_e E_lb).
    """

    def __init__(self, gs: GlobalSearch, a, per_solve: float, until: float):
        self.gs, self.a, self.per_solve, self.until = gs, a, per_solve, until
        sc = self.sc = gs.sc
        self.u = gs.u
        self.ot, self.ow = sc.system.weight_time, sc.system.weight_energy
        self.servers = sorted(set(int(j) for j in a), key=lambda j: int(np.sum(a == j)))  # small (fast) groups first
        self.groups = {j: np.flatnonzero(a == j) for j in self.servers}
        self.subs = {j: sc.subset(self.groups[j], [j]) for j in self.servers}
        self.E_lb = min_energy(sc, a)
        self.label = tuple(int(v) for v in a)

    def run(self):
        gs, sc, a, u = self.gs, self.sc, self.a, self.u
        while True:  # restarts when the incumbent improves
            self.y_t = y_t = gs.y_target
            self.c = y_t * self.ot / u.objective
            T_max, self.E_max = _caps(sc, a, y_t, u)
            T_lo = float(np.max(min_delays(sc, a, u)))
            if T_max <= T_lo:
                return True, y_t
            margin = gs.o.global_gap * gs.y * (gs.best_ev.cost if gs.best_ev else 1.0) / u.objective
            self.abs_gap = max(1e-9, 0.25 * margin / len(self.servers))
            # levels, interval bounds and the heap of open intervals survive between passes and small moves of the
            # target: V_m(T) decreases in y and c grows with it, so every bound found at a smaller y_t stays valid
            # (only looser, by Δy ω_e E and Δc T: small next to the margin while y_t moved by less than 0.1 of the gap)
            state = gs.decompositions.get(self.label)
            if state is None or y_t > state.y_t * (1.0 + 0.1 * gs.o.global_gap):
                state = gs.decompositions[self.label] = DecompositionState(y_t)
            self.state = state
            self.improved = False
            out = self._pass(T_lo, T_max)
            if out is not None:
                return out
            # the incumbent improved: y_t moved up; start again at the new target

    # -- points -------------------------------------------------------------------------------
    def offer_combined(self, points, origin):
        """The servers' points together are a point of (3): offer it as an incumbent."""
        arr = {k: np.zeros(self.sc.n_users) for k in ("phi", "p", "f_user", "b", "p_server", "f_server")}
        for j in self.servers:
            for k in arr:
                arr[k][self.groups[j]] = getattr(points[j], k)
        return self.gs.offer(Solution.from_arrays(self.sc, self.a, **arr), f"{origin}, association {self.label}")

    def known_value(self, j, lo_T=-math.inf, hi_T=math.inf, price=0.0):
        """The best value, in the model with delay price ``price`` and the delay in [lo_T, hi_T], of the feasible
        points found for server j at levels T <= hi_T at this target (V_m is non-decreasing in T, so a point at
        T' <= T is one at T)."""
        # a point found at a level T below lo_T is feasible at lo_T too, where its value is r.value − price·lo_T
        vals = [r.value - price * max(T, lo_T) for T, rec in self.state.levels.items() if T <= hi_T
                for jj, r in rec.items() if jj == j and r.value is not None and r.y_t == self.y_t]
        return max(vals, default=-math.inf)

    def evaluated(self, j, point, T):
        """The value of a server's point recomputed by the evaluator (not the solver's incumbent objective,
        which may use the solver's tolerances), or None when the evaluator finds it infeasible or slower than T.
        The point is first fitted into its budgets exactly (fit_to_budgets): a value that refutes a bound must be
        that of a point of the model, not one that gains from the evaluator's 1e-6 feasibility tolerance."""
        if point is None:
            return None
        ev = evaluate(self.subs[j], fit_to_budgets(self.subs[j], point), attach=False)
        if not ev.feasible or ev.delay > T * (1 + 1e-9):
            return None
        return (ev.service - self.y_t * self.ow * ev.energy) / self.u.objective

    # -- solves -------------------------------------------------------------------------------
    def solve_server(self, T, j, time_limit, stop):
        sub = self.subs[j]
        m = build_association_model(sub, np.zeros(len(self.groups[j]), dtype=int), self.u, self.y_t, T, self.E_max, fixed_T=T)
        tc, bound, inc = self.gs.checked(m, time_limit, self.known_value(j, hi_T=T), stop=stop, abs_gap=self.abs_gap)
        point = point_from_model(sub, m) if inc is not None else None
        converged = tc in _settled()  # the solver settled the model: proven optimal or infeasible
        return ServerSolve(bound, inc, converged, time_limit, point, self.y_t, self.evaluated(j, point, T))

    def recheck_above(self, j, T, value):
        """A point of server j at level T is one at every level above (V_m is non-decreasing in T): a bound stored
        at a higher level that it beats was wrong ((4,2) seed 8: SCIP "proved" 0.83243 where a point found later,
        at a lower level, has 0.83305).  Such a bound is discarded (+inf, to be solved again, where
        GlobalSearch.checked now knows the point) and the intervals ending there are reopened."""
        gs, levels = self.gs, self.state.levels
        for T2, rec2 in levels.items():
            r2 = rec2.get(j)
            if T2 <= T or r2 is None or r2.y_t != self.y_t or not gs.refutes(r2.bound, value):
                continue
            gs.refuted += 1
            log.warning("server %d: the bound %.9g at delay level %.6g is beaten by a point at level %.6g (%.9g): "
                        "discarded", j, r2.bound, T2, T, value)
            gs.say(f"[global] a bound at delay level {T2:.6g} s is beaten by a point at {T:.6g} s: solved again")
            # half its time limit: the reopened interval solves it again with the full one (the loop of _pass)
            rec2[j] = dataclasses.replace(r2, bound=math.inf, converged=False, time_limit=0.5 * r2.time_limit)
            heap = self.state.heap
            if heap is not None:
                # the interval ending at T2 (levels partition [T_lo, T_max]) is open again, whether it is still
                # in the heap or was settled with that bound; its price-split bound is computed again too
                below = [t for t in levels if t < T2]
                Ta = max(below) if below else None
                heap[:] = [h for h in heap if h[2] != T2]
                if Ta is not None:
                    self.state.splits.pop((Ta, T2), None)
                    heap.append((-math.inf, Ta, T2))
                heapq.heapify(heap)

    def level(self, T, Ta, time_limit):
        """Solve (or continue) every server at level T; stop early once [Ta, T] is settled."""
        servers, c = self.servers, self.c
        rec = self.state.levels.setdefault(T, {})
        for j in servers:
            if j in rec and (rec[j].converged or rec[j].time_limit >= time_limit):
                continue
            others = sum(rec[i].bound for i in servers if i != j and i in rec)
            unknown = [i for i in servers if i != j and i not in rec]
            stop = c * Ta - others if not unknown else None
            t_lim = min(time_limit, max(0.1, self.until - time.perf_counter()))
            rec[j] = self.solve_server(T, j, t_lim, stop)
            if rec[j].value is not None:
                self.recheck_above(j, T, rec[j].value)
            if rec[j].bound == -math.inf:
                break  # this server cannot meet delay T: the level is infeasible
        ub = sum(rec[j].bound for j in servers if j in rec) if all(j in rec for j in servers) else -math.inf
        if all(j in rec and rec[j].incumbent is not None for j in servers):
            if sum(rec[j].incumbent for j in servers) - c * T > 0:  # combine the servers' points into a point of (3)
                if self.offer_combined({j: rec[j].point for j in servers}, f"delay level {T:.6g} s"):
                    self.improved = True
        return ub

    def split_interval(self, Ta, Tb, time_limit):
        """Σ_m of the proven bounds on max_{T ∈ [Ta, Tb]} V_m(T) − c_m T, prices c_m from the slopes of V_m."""
        servers, levels = self.servers, self.state.levels
        lo, hi = levels.get(Ta, {}), levels.get(Tb, {})
        slopes = np.array([max(0.0, (hi[j].incumbent - lo[j].incumbent) / (Tb - Ta))
                           if j in lo and j in hi and lo[j].incumbent is not None and hi[j].incumbent is not None else 0.0
                           for j in servers])
        prices = self.c * (slopes / slopes.sum() if slopes.sum() > 0 else np.full(len(servers), 1.0 / len(servers)))
        total, points = 0.0, {}
        for i, j in enumerate(servers):
            sub = self.subs[j]
            m = build_association_model(sub, np.zeros(len(self.groups[j]), dtype=int), self.u, self.y_t, Tb, self.E_max,
                                        T_range=(Ta, Tb), T_price=float(prices[i]))
            # the interval is settled once the last server's bound is below -total
            stop = -total if i == len(servers) - 1 and math.isfinite(total) else None
            known = self.known_value(j, Ta, Tb, price=float(prices[i]))  # the levels' points inside [Ta, Tb]
            _tc, bound, inc = self.gs.checked(m, min(time_limit, max(0.1, self.until - time.perf_counter())), known,
                                              stop=stop, abs_gap=self.abs_gap)
            total += bound
            if bound == -math.inf:
                return -math.inf  # this server cannot meet any delay in [Ta, Tb]
            if inc is not None:
                points[j] = point_from_model(sub, m)
        if len(points) == len(servers):  # the servers' points together: a point of (3), offered to the incumbent
            if self.offer_combined(points, f"delay interval [{Ta:.6g}, {Tb:.6g}] s"):
                self.improved = True
        return total

    def scr_bound(self, heap):
        worst = self.y_t
        for negU, Ta, _Tb in heap:
            if -negU > 0:
                worst = max(worst, self.y_t + (-negU) * self.u.objective / (self.ot * Ta + self.ow * self.E_lb))
        return worst

    # -- one pass at the current target -----------------------------------------------------------
    def _pass(self, T_lo, T_max):
        """Work the heap of open intervals at the current target: (proved, scr_bound), or None once the incumbent
        improved (the target moved: :meth:`run` starts a new pass)."""
        gs, servers, state, c, per_solve, label = self.gs, self.servers, self.state, self.c, self.per_solve, self.label
        levels, split_bounds = state.levels, state.splits
        heap = state.heap
        t0_limit = min(20.0, per_solve)
        if heap is None:
            grid = list(np.geomspace(T_lo, T_max, 6))
            heap = [(-(self.level(Tb, Ta, t0_limit) - c * Ta), Ta, Tb) for Ta, Tb in zip(grid[:-1], grid[1:])]
            heapq.heapify(heap)
            state.heap = heap  # complete: every interval of the grid is in it, even if a level improved y
        while not self.improved:
            if -heap[0][0] <= 0:
                gs.say(f"[global] association {label}: proved with {len(levels)} delay levels")
                return True, self.y_t
            if time.perf_counter() >= self.until or gs.time_left() <= 0:
                gs.say(f"[global] association {label}: {len(levels)} delay levels, {sum(1 for h in heap if -h[0] > 0)} open intervals")
                return False, self.scr_bound(heap)
            negU, Ta, Tb = heapq.heappop(heap)
            if split_bounds.get((Ta, Tb), math.inf) < -negU:  # settled (or tightened) in an earlier pass
                if split_bounds[(Ta, Tb)] > 0:
                    heapq.heappush(heap, (-split_bounds[(Ta, Tb)], Ta, Tb))
                continue
            rec = levels[Tb]
            unfinished = [j for j in servers if j in rec and not rec[j].converged]
            incs = [rec[j].incumbent for j in servers if j in rec]
            gap_blocks = len(incs) == len(servers) and None not in incs and sum(incs) - c * Ta <= 0
            if unfinished and gap_blocks and max(rec[j].time_limit for j in unfinished) < per_solve:
                # only the solver gap at T_b keeps this interval open: solve longer there instead of splitting
                ub = self.level(Tb, Ta, min(per_solve, 2 * max(rec[j].time_limit for j in unfinished)))
                heapq.heappush(heap, (-min(-negU, ub - c * Ta), Ta, Tb))
                continue
            if (Ta, Tb) not in split_bounds and Ta in levels:
                # price split: F ≤ Σ_m max_{T ∈ [Ta, Tb]} (V_m(T) − c_m T) for any c_m ≥ 0 with Σ c_m = c;
                # with c_m ≈ V_m'(T*) this bound is tight to second order around T*, where the simple
                # bound Σ V̄_m(Tb) − c Ta keeps the slack c (Tb − Ta) and bisection alone needs
                # intervals of relative width ~ the target gap
                split_bounds[(Ta, Tb)] = self.split_interval(Ta, Tb, min(per_solve, 2 * t0_limit))
                U = min(-negU, split_bounds[(Ta, Tb)])
                if U > 0:
                    heapq.heappush(heap, (-U, Ta, Tb))
                continue
            Tm = 0.5 * (Ta + Tb)
            vm = self.level(Tm, Ta, t0_limit)
            # a sub-interval keeps its parent's bound (a max over a smaller set) and gets the simple bound of its own ends
            heapq.heappush(heap, (-min(-negU, vm - c * Ta), Ta, Tm))
            Vb = sum(levels[Tb][j].bound for j in servers) if all(j in levels[Tb] for j in servers) else math.inf
            heapq.heappush(heap, (-min(-negU, Vb - c * Tm), Tm, Tb))
        return None


def solve_global(sc, o, start: Solution | None, say, t0: float | None = None) -> Solution:
    """Method ``global`` from the warm start ``start``; ``t0`` is when the run began (the warm start's time counts)."""
    t0 = time.perf_counter() if t0 is None else t0
    limit = o.time_limit
    deadline = t0 + limit
    gs = GlobalSearch(sc, o, start, deadline, say)
    N, M = sc.n_users, sc.n_servers
    n_assoc = M**N
    info = {"route": None, "associations": n_assoc, "proved": 0, "unresolved": 0}
    if n_assoc > o.global_max_associations:
        return _full_model_route(gs, info, t0)
    info["route"] = "enumeration"
    assocs = [np.array(a) for a in itertools.product(range(M), repeat=N)]
    # cheap incumbents and an order: equal split with φ in {0, 1/2, 1}
    scores = []
    for a in assocs:
        best = -math.inf
        for phi in (0.0, 0.5, 1.0):
            s = equal_split(sc, a, phi=np.full(N, phi))
            ev = evaluate(sc, s, attach=False)
            if ev.feasible and ev.scr > best:
                best = ev.scr
                cand = s
        gs.offer(cand, "equal split")
        scores.append(best)
    order = np.argsort(scores)[::-1]
    # association -> proven SCR bound (no MINLP solve), and the multipliers that found them
    lagrangian, shared = _lagrangian_bounds(gs, info, np.array(assocs))
    open_bounds = {}  # association -> an upper bound on its SCR
    line = _live_line(o, n_assoc)

    def show(screened):
        bound = max([gs.y_target, *open_bounds.values()]) if screened == n_assoc else math.inf
        gs.record_bound(bound)
        if line is None:
            return
        line.n = info["proved"]
        line.set_postfix_str(f"open {len(open_bounds)}, screened {screened}/{n_assoc}, best {gs.y:.6g}, bound {bound:.6g}, "
                             f"gap {(bound - gs.y) / gs.y:.2g}" if gs.best is not None else "no point yet", refresh=True)

    screen_limit = max(1.0, min(30.0, limit / (4 * len(assocs))))
    try:
        for i, k in enumerate(order):
            if lagrangian[k] <= gs.y_target:  # no point of this association beats the target: settled without a solver
                info["proved"] += 1
                info["lagrangian_settled"] += 1
            elif gs.time_left() <= 0:
                open_bounds[k] = lagrangian[k]
            else:
                proved, U = screen(gs, assocs[k], screen_limit)
                if not proved:  # the solver could not settle it at once: the association's own Lagrangian bound
                    lagrangian[k] = _own_lagrangian(gs, info, assocs[k], lagrangian[k], shared)
                    proved = lagrangian[k] <= gs.y_target
                    info["lagrangian_settled"] += int(proved)
                if proved:
                    info["proved"] += 1
                else:
                    open_bounds[k] = min(lagrangian[k], gs.y_target + max(U, 0.0) * gs.u.objective / _cost_lb(sc, assocs[k], gs.u))
            show(i + 1)
        for k in [k for k in open_bounds if lagrangian[k] <= gs.y_target]:  # the target may have moved up meanwhile
            del open_bounds[k]
            info["proved"] += 1
            info["lagrangian_settled"] += 1
        info["screened_open"] = len(open_bounds)
        _decompose_open(gs, info, assocs, open_bounds, lambda: show(n_assoc))
    finally:
        if line is not None:
            line.close()
    bound = max([gs.y_target, *open_bounds.values()])
    info["unresolved"] = len(open_bounds)
    return _finish(gs, info, bound, t0)


#: the share of global's remaining time its Lagrangian bound may take (at least 1 s, at most ``bound_time_limit``): on the
#: references, 1–2 s of it settled as many associations as 30 s did on (4,2) and (6,2) (docs/DESIGN.md)
LAGRANGIAN_SHARE = 0.02
#: the time (s) of one association's own Lagrangian bound, for an association the solver's screen left open
LAGRANGIAN_PER_ASSOCIATION = 3.0


def _lagrangian(gs: GlobalSearch, info):
    """The Lagrangian SCR bound of the whole network at the incumbent (:func:`~pyomo_llmmec.methods.scr_bound`, at most
    ``min(bound_time_limit, max(1 s, 2 % of the time left))``), recorded as a proven bound of the run; its
    :class:`~pyomo_llmmec.bounds.BoundResult`, or None when it is off (``global_lagrangian=False``), there is no
    incumbent yet, or the relaxation fails numerically (a warning in ``info``)."""
    from . import scr_bound

    info["lagrangian_settled"] = 0
    if not gs.o.global_lagrangian or gs.best is None:
        return None
    t = time.perf_counter()
    bound, res, warning = scr_bound(gs.sc, gs.y, min(gs.o.bound_time_limit, max(LAGRANGIAN_SHARE * gs.time_left(), 1.0)),
                                    branch=False)  # global branches over the associations itself
    info["lagrangian_seconds"] = time.perf_counter() - t
    if bound is None:
        info.setdefault("warnings", []).append(warning)
        gs.say(f"[global] {warning}")
        return None
    gs.record_bound(bound)
    gs.say(f"[global] Lagrangian SCR bound {bound:.8g} in {info['lagrangian_seconds']:.1f} s")
    return res


def _lagrangian_bounds(gs: GlobalSearch, info, assocs: np.ndarray):
    """A proven SCR bound per association (:func:`~pyomo_llmmec.bounds.association_bounds`) with the multipliers of
    :func:`_lagrangian`.  An association whose bound is at most the target y_t is settled without a MINLP solve; the
    others keep theirs as the bound of last resort (an association the time limit left unscreened is bounded by it
    instead of +inf).  Without the relaxation every association gets +inf.  Returns (bounds, the BoundResult or None)."""
    from ..bounds import association_bounds

    res = _lagrangian(gs, info)
    if res is None:
        return np.full(len(assocs), math.inf), None
    t = time.perf_counter()
    out = association_bounds(gs.sc, assocs, res, gs.y_target)
    info["lagrangian_seconds"] += time.perf_counter() - t
    gs.say(f"[global] {int(np.sum(out <= gs.y_target))} of {len(assocs)} associations settled by their Lagrangian bounds")
    return out, res


def _own_lagrangian(gs: GlobalSearch, info, a, known: float, shared=None) -> float:
    """min(``known``, the Lagrangian bound of association ``a`` with multipliers fitted to it alone).

    :func:`~pyomo_llmmec.bounds.scr_upper_bound` with ``assignment=a``, stopped as soon as it settles ``a``
    (bound ≤ y_t) or after ``LAGRANGIAN_PER_ASSOCIATION`` seconds, its price search started from the whole network's
    multipliers ``shared`` (a :class:`~pyomo_llmmec.bounds.BoundResult`) where there are some.  Multipliers fitted to one association bound it
    far more tightly than the whole network's (measured at (10,2): 19 of 20 associations the shared multipliers
    left open were settled, ~1.3 s each; docs/DESIGN.md)."""
    from ..bounds import scr_upper_bound

    limit = min(LAGRANGIAN_PER_ASSOCIATION, gs.time_left())
    if not gs.o.global_lagrangian or gs.best is None or limit <= 0:
        return known
    try:
        res = scr_upper_bound(gs.sc, gs.y_target, time_limit=limit, assignment=a, stop_below=gs.y_target, start=shared)
    except SolveFailed as exc:  # numerics on extreme data: the association keeps the bound it had
        if "lagrangian_failed" not in info:
            info["lagrangian_failed"] = str(exc)
            info.setdefault("warnings", []).append(f"an association's Lagrangian bound failed: {exc}")
        return known
    info["lagrangian_seconds"] = info.get("lagrangian_seconds", 0.0) + res.seconds
    return min(known, res.bound)


def _live_line(o, n_assoc):
    """The CLI's live status line (``options.progress``: stderr is a terminal, no --quiet), shown after 2 s: associations
    proved, open and screened, the best SCR, the bound and the gap."""
    if not o.progress:
        return None
    from tqdm import tqdm

    return tqdm(total=n_assoc, desc="global: associations proved", leave=False, delay=2.0, dynamic_ncols=True)


#: the least slice of time (s) the best-first schedule of :func:`_decompose_open` gives an association
MIN_SLICE = 5.0


def _decompose_open(gs, info, assocs, open_bounds, show) -> None:
    """The delay decomposition for the associations the screen left open, best first: the association with the
    largest bound — the one that sets the run's gap — gets the next slice of the remaining time (an equal share,
    remaining / number open, at least ``MIN_SLICE`` s); its decomposition resumes where it stopped
    (``gs.decompositions``), and an association proved leaves its time to the others."""
    info["slices"] = 0
    while open_bounds and gs.time_left() > 1.0:
        for j in [j for j, b in open_bounds.items() if b <= gs.y_target]:  # the target moved up past its bound
            del open_bounds[j]
            info["proved"] += 1
        if not open_bounds:
            break
        info["slices"] += 1
        k = max(open_bounds, key=lambda k: open_bounds[k])
        remaining = gs.time_left()
        until = time.perf_counter() + min(remaining, max(MIN_SLICE, remaining / len(open_bounds)))
        proved, bound_k = delay_decomposition(gs, assocs[k], per_solve=min(60.0, remaining), until=until)
        if proved:
            info["proved"] += 1
            del open_bounds[k]
        else:
            open_bounds[k] = min(open_bounds[k], bound_k)
        show()


def _full_model_route(gs: GlobalSearch, info, t0) -> Solution:
    """The full MINLP (3) with binaries, Dinkelbach with the chosen solver, warm-started from the incumbent (Gurobi)."""
    from ..model.full import build_model, extract_solution, load_solution

    sc = gs.sc
    info["route"] = "full MINLP"
    bound = math.inf
    _lagrangian(gs, info)  # a finite proven bound however far the solver gets (the run's bound is the smaller one)
    m = build_model(sc, form="dinkelbach", units=gs.u)  # built once; Dinkelbach moves the mutable Param y
    while gs.time_left() > 0:
        y_t = gs.y_target
        m.y.set_value(y_t)
        if gs.best is not None:
            load_solution(m, gs.best, sc)
        tc, U, inc = gs.checked(m, gs.time_left(), -math.inf, stop=0.0)
        if inc is not None and inc > 0 and gs.offer(extract_solution(m, sc), "full MINLP"):
            continue
        if U <= 0:
            bound = y_t
        else:
            cost_lb = sc.system.weight_energy * min(min_energy(sc, np.full(sc.n_users, j)) for j in range(sc.n_servers))
            bound = y_t + U * gs.u.objective / cost_lb if cost_lb > 0 else math.inf
        break
    return _finish(gs, info, bound, t0)


def _finish(gs: GlobalSearch, info, bound, t0) -> Solution:
    if gs.best is None:
        raise SolveFailed("the global search found no feasible point", status="no_solution")
    bound = min(bound, gs.best_bound)  # every recorded bound stays proven (a later target y_t may sit above it)
    y = gs.y
    gap = (bound - y) / y if math.isfinite(bound) else math.inf
    gs.record("final", bound)
    proven = gap <= gs.o.global_gap * (1 + 1e-9)
    ran = [name for name in SOLVERS if gs.runs[name]]
    info.update(solver="+".join(ran) or "none", solver_choice=gs.choice, refuted=gs.refuted,
                **{f"{name}_solves": gs.runs[name] for name in SOLVERS}, **{f"{name}_seconds": gs.seconds[name] for name in SOLVERS})
    info.update(bound=float(bound), gap=float(gap), solves=gs.solves, solver_seconds=gs.solver_seconds,
                warnings=info.get("warnings", []) + ([] if proven else [f"gap {gap:.3g} not closed within the time limit"]))
    status = "optimal" if proven else "time_limit"
    return gs.best.copy(method="global", status=status, termination=status, wall_s=time.perf_counter() - t0, info=info,
                        evaluation=None, history=pd.DataFrame(gs.trace))

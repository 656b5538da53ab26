"""The building blocks of DASHF and the baselines, as swappable parts.

* association blocks solve P1 (6) at fixed resources: :class:`MILPAssociation`
  (exact, HiGHS), :class:`GurobiAssociation` (exact MIQCP), :class:`SDRAssociation`
  (the paper's SDR + Hungarian);
* :class:`PhiStep`: P1 with x fixed — the exact LP in (φ, T);
* resource blocks: :class:`FPResources` (AO part 2: quadratic transform + Ipopt)
  and :class:`EqualSplitResources` (the baselines' equal split).

Also the [decision] of MODEL.md §5.1 on resources of unassigned pairs
(:func:`p1_resources`).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import pyomo.environ as pyo
from pyomo.opt import TerminationCondition

from ..errors import InputError, SolveFailed, SolverUnavailable
from ..model.association import P1Data, build_p1, build_phi_lp, p1_data, read_p1, set_p1_data, set_p1_start, set_phi_lp_data
from ..model.lp_relaxation import SEED_PAIRS, smallest_per_row
from ..model.p1_levels import level_costs
from ..model.full import positive_floor
from ..model.resources import build_part2, read_resources, set_association, set_point
from ..points import equal_split
from ..solution import Solution, evaluate
from ..status import Failure
from .split_part2 import SplitStepFailed
from .. import solvers

log = logging.getLogger(__name__)


class PhaseTimer:
    """Accumulates seconds per phase (model build, SDP, MILP, LP, Ipopt, evaluation)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def add(self, phase: str, seconds: float):
        self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds

    def __call__(self, phase: str):
        timer = self

        class _Ctx:
            def __enter__(self):
                self.t = time.perf_counter()

            def __exit__(self, *exc):
                timer.add(phase, time.perf_counter() - self.t)

        return _Ctx()


# -----------------------------------------------------------------------------------------
# resources of P1 [decision, MODEL.md §5.1]
# -----------------------------------------------------------------------------------------


def p1_resources(scenario, inc: Solution):
    """Pair resources (b, P, F), each (N, M), at which P1 scores every association.

    [decision] For server m with k_m current users and budget B (for each of
    bandwidth, power, compute):

    * a pair that is not assigned gets the equal share of a newcomer, B/(k_m+1);
    * assigned pairs keep their current resources, scaled down only as far as
      needed to leave that share free: factor min(1, (B − B/(k_m+1)) / used_m).

    So at P1's fixed resources every server can take its current users plus one
    newcomer (more when users leave), the budgets (3d)/(3f)/(3h) stay meaningful,
    and P1 sees each server as it would be with one more user.  The user-side
    resources (p_n, F_n) are the incumbent's.  A new association found this way is
    accepted only if the SCR after the following part 2 is not lower than the
    incumbent's (see :class:`pyomo_llmmec.methods.ao.AODriver`).
    """
    sc = scenario
    N, M = sc.n_users, sc.n_servers
    a = inc.assignment
    k = np.bincount(a, minlength=M).astype(float)
    out = []
    for cur, budget in ((inc.b, sc.bandwidth_hz), (inc.p_server, sc.server_p_max_w), (inc.f_server, sc.server_f_max_flops)):
        vacancy = budget / (k + 1.0)
        used = np.bincount(a, weights=cur, minlength=M)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(used > 0, np.minimum(1.0, (budget - vacancy) / used), 1.0)
        R = np.tile(vacancy, (N, 1))
        R[np.arange(N), a] = cur * scale[a]
        out.append(R)
    return tuple(out)


def pair_matrices(scenario, sol: Solution):
    """(N, M) pair resources holding ``sol``'s values on its assigned pairs (others: budget/N, unused)."""
    sc = scenario
    N = sc.n_users
    mats = []
    for cur, budget in ((sol.b, sc.bandwidth_hz), (sol.p_server, sc.server_p_max_w), (sol.f_server, sc.server_f_max_flops)):
        R = np.tile(budget / N, (N, 1))
        R[np.arange(N), sol.assignment] = cur
        mats.append(R)
    return tuple(mats)


def fit_to_budgets(scenario, sol: Solution) -> Solution:
    """Clip resources into their bounds and scale each server's resources down
    proportionally where a budget (3d)/(3f)/(3h) is exceeded (no-op when feasible)."""
    sc = scenario
    a = sol.assignment
    M = sc.n_servers
    eps = positive_floor(sc)
    new = {}
    for name, budget in (("b", sc.bandwidth_hz), ("p_server", sc.server_p_max_w), ("f_server", sc.server_f_max_flops)):
        v = np.clip(getattr(sol, name), eps * budget[a], budget[a])
        used = np.bincount(a, weights=v, minlength=M)
        over = used > budget  # (only there: a server without users has used = 0)
        scale = np.ones(M)
        scale[over] = budget[over] / used[over]
        new[name] = v * scale[a]
    new["p"] = np.clip(sol.p, eps * sc.user_p_max_w, sc.user_p_max_w)
    new["f_user"] = np.clip(sol.f_user, eps * sc.user_f_max_flops, sc.user_f_max_flops)
    new["phi"] = np.clip(sol.phi, 0.0, 1.0)
    return sol.copy(**new, evaluation=None)


def repair_size(before: Solution, after: Solution) -> float:
    """The largest relative change :func:`fit_to_budgets` made to a point (0.0: none) — recorded, never silent."""
    worst = 0.0
    for name in ("b", "p", "p_server", "f_user", "f_server", "phi"):
        x, y = np.asarray(getattr(before, name), float), np.asarray(getattr(after, name), float)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.abs(y - x) / np.maximum(np.abs(x), np.finfo(float).tiny)
        worst = max(worst, float(np.nanmax(rel, initial=0.0)))
    return worst


# -----------------------------------------------------------------------------------------
# P1 with x fixed: the LP in (φ, T)
# -----------------------------------------------------------------------------------------


def _highs():
    from pyomo.contrib.appsi.solvers import Highs

    opt = Highs()
    opt.config.load_solution = False
    # coefficients are scaled (units.py); terms below 1e-9 of a unit are negligible, not errors
    opt.highs_options["small_matrix_value"] = 1e-12
    return opt


def _appsi_tc():
    """The TerminationCondition enum of Pyomo's appsi solvers (HiGHS here)."""
    from pyomo.contrib.appsi.base import TerminationCondition

    return TerminationCondition


def _tc_name(tc) -> str:
    return getattr(tc, "name", str(tc)).split(".")[-1]


def _checked_p1(scenario, data: P1Data) -> dict:
    """Refuse P1 data a solver cannot take (a NaN coefficient on a usable pair, or a user without a
    usable server: SolveFailed, one line); return what the proposal records about it: the pairs
    left out of P1 and the coefficients capped (model/association.py: usable_pairs, P1_CAP)."""
    bad = data.first_nonfinite()
    if bad is not None:
        raise SolveFailed(f"P1's coefficients of user {scenario.user_ids[bad]!r} are not finite numbers", status="numerics")
    if not np.any(data.usable, axis=1).all():
        n = int(np.flatnonzero(~np.any(data.usable, axis=1))[0])
        raise SolveFailed(f"P1 has no usable server for user {scenario.user_ids[n]!r}", status="numerics")
    if data.n_excluded or data.n_capped:
        log.debug("P1: %d pair(s) left out, %d coefficient(s) capped", data.n_excluded, data.n_capped)
    return {"excluded_pairs": data.n_excluded, "capped_coefficients": data.n_capped}


class PhiStep:
    """P1 (6) with x fixed: a linear program in (φ, T), solved exactly by HiGHS."""

    def __init__(self, scenario, units, timer: PhaseTimer):
        solvers.require("highs")
        self.sc, self.units, self.timer = scenario, units, timer
        with timer("model build"):
            self.model = build_phi_lp(scenario.n_users)
        self.opt = _highs()
        self.cold_retries = 0  # solves repeated from scratch after the warm-started one did not end optimal

    def solve_data(self, data: P1Data, assignment):
        """(φ, T, objective) of P1 at ``data`` with x fixed to ``assignment``."""
        bad = data.first_nonfinite(assignment)
        if bad is not None:
            raise SolveFailed(f"P1's coefficients of user {self.sc.user_ids[bad]!r} on server "
                              f"{self.sc.server_ids[int(np.asarray(assignment)[bad])]!r} are not finite numbers", status="numerics")
        m = self.model
        with self.timer("model update"):
            set_phi_lp_data(m, data, assignment)
        with self.timer("LP (phi)"):
            res = self.opt.solve(m)
            if res.termination_condition != _appsi_tc().optimal:
                # HiGHS starts from the previous solve's basis; from a stale one its simplex can stop 'unknown' on an
                # LP it solves from scratch (seen at (200,10) on the lp route): once more with a new solver, counted.
                # Any status but optimal is the solver's, never the LP's: with 0 <= φ <= 1, T >= 0 free above and
                # cT >= 0 the LP is feasible (T large) and bounded below, so "infeasible" is retried as well
                log.debug("φ LP: %s from the previous basis; solved again from scratch", _tc_name(res.termination_condition))
                self.cold_retries += 1
                self.opt = _highs()
                res = self.opt.solve(m)
        if res.termination_condition != _appsi_tc().optimal:
            tc = _tc_name(res.termination_condition)
            raise SolveFailed(f"the φ linear program (P1 with x fixed) ended with status {tc}", status=Failure.from_termination(tc), termination=tc)
        res.solution_loader.load_vars()
        phi = np.clip(np.array([pyo.value(m.phi[n]) for n in m.N]), 0.0, 1.0)
        return phi, float(pyo.value(m.T)), float(res.best_feasible_objective)

    def run(self, sol: Solution, y: float, units=None):
        """Optimise φ for ``sol``'s association and resources; returns (new solution, P1 objective)."""
        b, P, F = pair_matrices(self.sc, sol)
        data = p1_data(self.sc, units or self.units, y, sol.p, sol.f_user, b, P, F)
        phi, _T, obj = self.solve_data(data, sol.assignment)
        return sol.copy(phi=phi, evaluation=None), obj


# -----------------------------------------------------------------------------------------
# association blocks (P1 solvers)
# -----------------------------------------------------------------------------------------


@dataclass
class Proposal:
    assignment: np.ndarray
    phi: np.ndarray
    objective: float  # P1 objective at the proposal (model units)
    bound: float  # lower bound on P1's minimum (SDR value, or the MIP dual bound)
    status: str
    seconds: float
    solver_iterations: int | None = None
    extra: dict = field(default_factory=dict)


class MILPAssociation:
    """P1 exactly: w = xφ linearised, solved to optimality by HiGHS (no size limit)."""

    name = "milp"
    exact = True
    first_point = True  # propose(..., first_point=True) stops at P1's first point better than the current association

    def __init__(self, scenario, units, options, timer: PhaseTimer, phi_step: PhiStep):
        solvers.require("highs")
        self.sc, self.timer, self.options, self.phi_step = scenario, timer, options, phi_step
        with timer("model build"):
            self.model = build_p1(scenario.n_users, scenario.n_servers, "milp")
        self.opt = _highs()
        self.opt.config.mip_gap = options.mip_gap
        self.opt.config.time_limit = options.p1_time_limit

    def propose(self, data: P1Data, inc_assignment, first_point: bool = False) -> Proposal:
        """P1 to ``mip_gap`` within ``p1_time_limit``; with ``first_point``, only to its first point better than the
        current association.

        ``first_point`` (the driver's first attempt, ``p1_first_point``): HiGHS starts from the current association
        with its φ-LP optimum (a MIP start; ``extra['stay_objective']`` is that point's P1 objective) and stops at the
        first better point its search finds (``mip_max_improving_sols`` = 1: a count, so the same data give the same
        point on any machine), or at the proof that there is none.  At (200,10) HiGHS from nothing found only points
        30x above the optimum in its first seconds; from the start it improves on it within a second
        (docs/DESIGN.md 'Scale').  Without ``first_point`` the solve starts from nothing, as before."""
        import highspy

        m = self.model
        extra = _checked_p1(self.sc, data)
        with self.timer("model update"):
            set_p1_data(m, data)
        t0 = time.perf_counter()
        self.opt.config.warmstart = first_point
        self.opt.highs_options["mip_max_improving_sols"] = 1 if first_point else highspy.kHighsIInf  # appsi sets it every solve
        if first_point:
            phi0, T0, extra["stay_objective"] = self.phi_step.solve_data(data, inc_assignment)
            with self.timer("model update"):
                set_p1_start(m, inc_assignment, phi0, T0)
        with self.timer("MILP (P1)"):
            res = self.opt.solve(m)
        tc = _tc_name(res.termination_condition)
        bound = res.best_objective_bound if res.best_objective_bound is not None else math.nan
        if res.best_feasible_objective is None or not math.isfinite(res.best_feasible_objective or math.nan):
            if first_point and tc != "optimal":  # HiGHS did not take the start and found nothing by its limit: the
                # attempt proposes the current association, and the driver solves P1 in full before the run can end
                return Proposal(np.asarray(inc_assignment), phi0, extra["stay_objective"], float(bound),
                                f"{tc}, no point found: the current association", time.perf_counter() - t0, extra=extra)
            raise SolveFailed(f"HiGHS found no solution of P1 (status {tc})", status=Failure.from_termination(tc), termination=tc)
        res.solution_loader.load_vars()
        a, phi, _T = read_p1(m, self.sc.n_users, self.sc.n_servers)
        return Proposal(a, phi, float(res.best_feasible_objective), float(bound), tc, time.perf_counter() - t0, extra=extra)


class GurobiAssociation:
    """P1 exactly as a MIQCP (bilinear x·φ kept), solved by Gurobi."""

    name = "gurobi"
    exact = True

    def __init__(self, scenario, units, options, timer: PhaseTimer, phi_step: PhiStep):
        solvers.require("gurobi")
        N, M = scenario.n_users, scenario.n_servers
        n_vars, n_cons = N * M + N + 1, N + 3 * M + N * M
        # P1 with its bilinear x·φ terms is a nonconvex MIQCP: the pip licence's nonlinear limit applies to its variables
        if solvers.gurobi_size_limited() and (n_vars > solvers.GUROBI_NONLINEAR_SIZE_LIMIT or n_cons > solvers.GUROBI_SIZE_LIMIT):
            raise SolverUnavailable(
                f"Gurobi's size-limited licence cannot take P1 of {N} users x {M} servers ({n_vars} variables, {n_cons} "
                f"constraints; {solvers.GUROBI_LIMITS_TEXT}): use --assoc milp (HiGHS, exact, no size limit) or a full licence"
            )
        from pyomo.contrib.appsi.solvers import Gurobi

        self.sc, self.timer = scenario, timer
        with timer("model build"):
            self.model = build_p1(N, M, "miqcp")
        self.opt = Gurobi()
        self.opt.config.load_solution = False
        self.opt.config.mip_gap = options.mip_gap
        self.opt.config.time_limit = options.p1_time_limit
        self.opt.gurobi_options["NonConvex"] = 2
        self.opt.gurobi_options["Threads"] = 2

    def propose(self, data: P1Data, inc_assignment) -> Proposal:
        import gurobipy

        m = self.model
        extra = _checked_p1(self.sc, data)
        with self.timer("model update"):
            set_p1_data(m, data)
        t0 = time.perf_counter()
        try:
            with self.timer("MIQCP (P1, Gurobi)"):
                res = self.opt.solve(m)
        except gurobipy.GurobiError as exc:
            if "size-limited" in str(exc):
                raise SolverUnavailable(f"Gurobi refused P1: {exc}; use --assoc milp or a full licence") from None
            raise SolveFailed(f"Gurobi failed on P1: {exc}") from None
        tc = _tc_name(res.termination_condition)
        if res.best_feasible_objective is None:
            raise SolveFailed(f"Gurobi found no solution of P1 (status {tc})", status=Failure.from_termination(tc), termination=tc)
        res.solution_loader.load_vars()
        a, phi, _T = read_p1(m, self.sc.n_users, self.sc.n_servers)
        bound = res.best_objective_bound if res.best_objective_bound is not None else math.nan
        return Proposal(a, phi, float(res.best_feasible_objective), float(bound), tc, time.perf_counter() - t0, extra=extra)


class SDRAssociation:
    """The paper's route: the SDR of P1 (cvxpy), rounding, the Hungarian step, then the exact φ LP.

    Rounding: x̃ = S[x, K] clipped to [0, 1]; rows summing above 1 are
    normalised.  Hungarian (scipy's ``linear_sum_assignment``, maximum weight)
    on users × server slots, weight x̃_nm for every slot of server m.
    [decision] Server m gets k_m + 1 slots (capped at N): the users P1's fixed
    resources were sized for (see :func:`p1_resources`).  The rectangular
    problem is equivalent to the paper's zero-padded square one.  Pairs P1 leaves
    out (``P1Data.usable``) weigh −(N+1) in the matching, so it uses one only if
    no matching avoids them (the incumbent's association always does).  If the
    matched users' fixed resources exceed a budget (possible only when several
    newcomers replace users that held less than a newcomer's share), the
    server's resources are scaled down proportionally before part 2
    (:func:`fit_to_budgets`).
    """

    name = "sdr"
    exact = False

    def __init__(self, scenario, units, options, timer: PhaseTimer, phi_step: PhiStep):
        solvers.require("sdp")
        from ..model.sdr import SDRProblem

        self.sc, self.timer, self.phi_step = scenario, timer, phi_step
        with timer("model build"):
            self.sdp = SDRProblem(scenario.n_users, scenario.n_servers, cuts=options.sdr_cuts, chordal=options.sdr_chordal)
        self.solver_names = solvers.sdp_solvers()

    def propose(self, data: P1Data, inc_assignment) -> Proposal:
        from scipy.optimize import linear_sum_assignment

        N, M = self.sc.n_users, self.sc.n_servers
        checked = _checked_p1(self.sc, data)
        t0 = time.perf_counter()
        with self.timer(self.phase):
            res = self._relax(data, inc_assignment)
        if not res.solver:
            raise SolveFailed(f"the {self.relaxation} of P1 could not be solved ({res.status})", termination=str(res.status))
        x = np.clip(np.nan_to_num(res.x_frac, nan=0.0), 0.0, 1.0)
        rows = x.sum(axis=1)
        x = np.where(rows[:, None] > 1.0, x / rows[:, None], x)
        x = np.where(data.usable, x, -(N + 1.0))  # the usable pairs' weights are in [0, 1]
        loads = np.bincount(inc_assignment, minlength=M)
        slots = np.minimum(N, loads + 1)
        cols = np.repeat(np.arange(M), slots)
        with self.timer("Hungarian"):
            r, c = linear_sum_assignment(x[:, cols], maximize=True)
        a = np.empty(N, dtype=int)
        a[r] = cols[c]
        phi, _T, obj = self.phi_step.solve_data(data, a)
        iters = res.iterations
        gap = (obj - res.lower_bound) / max(abs(res.lower_bound), 1e-12)
        # a relaxation solved only to 'optimal_inaccurate' gives no valid lower bound of P1: flagged, bound NaN
        bound, status = (res.lower_bound, res.status) if res.status == "optimal" else \
            (math.nan, f"{res.status} ({self.relaxation} value {res.lower_bound:.6g} not used as a bound)")
        extra = {"rounded": obj, "rounding_gap": gap, "sdp_solver": res.solver, **checked}
        if res.pairs is not None:
            extra["lp_pairs"] = res.pairs
        return Proposal(a, phi, obj, bound, status, time.perf_counter() - t0, iters, extra)

    phase = "SDP (SDR of P1)"
    relaxation = "SDR"

    def _relax(self, data: P1Data, inc_assignment):
        return self.sdp.solve(data, self.solver_names)


SUPPORT_TOL = 1e-6  # a user's SEED_PAIRS heaviest pairs in an LP, if above this, start the next priced LP


class LPAssociation(SDRAssociation):
    """The SDR route with the SDR's linear part (an LP) in place of the SDP, for networks where the SDP is too big.

    The relaxation (``model/lp_relaxation.py``) has the SDR's constraints and cuts
    without its 3×3 cones, solved by HiGHS's interior-point method; where the cones do
    not bind (every instance measured) it has the SDR's optimal value and its interior
    point rounds as the SDR's does.  Rounding, the Hungarian step on k_m + 1 slots and
    the φ LP are the SDR route's.  At 1000 users × 20 servers one solve takes 7–18 s and
    the run 0.4 GB, against the SDP's 15–38 s per solve and 3.3 GB.  At its time limit
    (``p1_time_limit``) the LP's point so far is rounded, with no bound.

    From the second P1 on (``lp_pricing``), the LP is solved by pricing
    (:meth:`LPRelaxation._priced`) from each user's heaviest pairs in the previous LP and
    the incumbent's pairs: after the first outer iteration ~12 % of the pairs carry
    weight, and the restricted LPs take a fraction of the full LP's time for the same
    optimal value.
    """

    name = "lp"
    phase = "LP (relaxation of P1)"
    relaxation = "LP relaxation"

    def __init__(self, scenario, units, options, timer: PhaseTimer, phi_step: PhiStep):
        solvers.require("highs")
        from ..model.lp_relaxation import LPRelaxation

        self.sc, self.timer, self.phi_step = scenario, timer, phi_step
        self.p1_time_limit = options.p1_time_limit
        self.tol = options.lp_tol
        self.pricing = options.lp_pricing
        self.support = None  # each user's heaviest pairs in the last LP (at most SEED_PAIRS, above SUPPORT_TOL)
        with timer("model build"):
            self.lp = LPRelaxation(scenario.n_users, scenario.n_servers)

    def _relax(self, data: P1Data, inc_assignment):
        pairs = None
        if self.pricing and self.support is not None:  # the first LP whole: its optimal face is wide (see the docstring)
            pairs = self.support.copy()
            pairs[np.arange(self.sc.n_users), inc_assignment] = True
        res = self.lp.solve(data, self.p1_time_limit, tol=self.tol, pairs=pairs)
        if res.status == "optimal":
            self.support = smallest_per_row(-res.x_frac, SEED_PAIRS) & (res.x_frac > SUPPORT_TOL)
        return res


class GAPAssociation:
    """P1 (6) by delay level: a generalized assignment problem per level, for networks where the MILP is too slow.

    At a fixed delay level T, P1 separates: every pair gets its cost with its
    best φ (:func:`~pyomo_llmmec.model.p1_levels.level_costs`), and what is left
    is to assign each user (3b) within the three budgets (3d), (3f), (3h) — a
    generalized assignment problem with no φ, no w = xφ and no T.  It is solved
    by HiGHS (``scipy.optimize.milp`` on sparse arrays: N·M binaries, N + 3M
    rows, built in milliseconds) at the levels ``gap_levels`` × the incumbent's
    delay in P1; the association of each level then gets its exact φ and T from
    the φ LP, and the best by P1's objective is proposed.  The incumbent's
    association is a candidate, so the proposal is never worse than it in P1.
    Not exact — P1's optimum lies at one T, and only the levels are tried — so
    there is no bound; ``benchmarks/bench_scale.py`` compares its P1 objective
    with the exact MILP's where both run.
    """

    name = "gap"
    exact = False

    def __init__(self, scenario, units, options, timer: PhaseTimer, phi_step: PhiStep):
        solvers.require("highs")
        self.sc, self.timer, self.options, self.phi_step = scenario, timer, options, phi_step
        try:
            self.levels = tuple(float(f) for f in options.gap_levels.split(","))
        except ValueError:
            raise InputError(f"gap_levels must be comma-separated numbers, not {options.gap_levels!r}") from None
        if not self.levels or min(self.levels) <= 0:
            raise InputError(f"gap_levels must be positive numbers, not {options.gap_levels!r}")
        self.time_limit = options.p1_time_limit / len(self.levels)  # P1's time limit shared by the levels

    def _gap(self, cost, data: P1Data):
        """(assignment or None, status text, settled): the GAP with pair costs ``cost`` (inf: not allowed);
        settled when HiGHS proved the level optimal or infeasible (not stopped by a limit)."""
        from scipy.optimize import Bounds, LinearConstraint, milp
        from scipy.sparse import csr_array

        N, M = cost.shape
        j = np.flatnonzero(np.isfinite(cost.ravel()))
        n, s = np.divmod(j, M)
        if np.bincount(n, minlength=N).min() == 0:
            return None, "infeasible (a user has no pair within the delay level)", True
        K = len(j)
        cols = np.arange(K)
        one = csr_array((np.ones(K), (n, cols)), shape=(N, K))  # (3b)
        shares = np.concatenate([data.share_b.ravel()[j], data.share_p.ravel()[j], data.share_f.ravel()[j]])
        rows = np.concatenate([s, M + s, 2 * M + s])
        budgets = csr_array((shares, (rows, np.tile(cols, 3))), shape=(3 * M, K))  # (3d), (3f), (3h)
        res = milp(cost.ravel()[j], integrality=np.ones(K), bounds=Bounds(0, 1),
                   constraints=[LinearConstraint(one, 1, 1), LinearConstraint(budgets, -np.inf, 1)],
                   options={"time_limit": self.time_limit, "mip_rel_gap": self.options.gap_mip_gap,
                            "disp": False})
        settled = res.status in (0, 2)  # scipy.optimize.milp: 0 optimal, 2 infeasible; else a limit or a failure
        if res.x is None:
            return None, ("infeasible" if res.status == 2 else f"no solution (HiGHS: {res.message})"), settled
        x = np.zeros((N, M))
        x[n, s] = res.x
        return np.argmax(x, axis=1), ("optimal" if res.status == 0 else f"feasible ({res.message})"), settled

    def propose(self, data: P1Data, inc_assignment) -> Proposal:
        extra = _checked_p1(self.sc, data)
        t0 = time.perf_counter()
        inc = np.asarray(inc_assignment)
        phi, T0, obj = self.phi_step.solve_data(data, inc)
        best, statuses, ok = (obj, inc, phi), [], True
        for f in self.levels:
            with self.timer("GAP (P1 by delay level)"):
                a, status, settled = self._gap(level_costs(data, f * T0), data)
            ok = ok and settled
            if a is None or np.array_equal(a, best[1]):
                statuses.append(f"{f:g}T: {status}")
                continue
            try:
                phi_a, _T, obj_a = self.phi_step.solve_data(data, a)
            except SolveFailed as exc:  # this level's association is not scored (HiGHS 'unknown' on its φ LP): reported
                statuses.append(f"{f:g}T: {status}; its φ LP failed ({exc.termination or exc.status})")
                ok = False
                continue
            statuses.append(f"{f:g}T: {status}")
            if obj_a < best[0]:
                best = (obj_a, a, phi_a)
        obj, a, phi = best
        return Proposal(a, phi, obj, math.nan, "levels solved" if ok else "; ".join(statuses), time.perf_counter() - t0,
                        extra={**extra, "levels": "; ".join(statuses)})


ASSOCIATION_BLOCKS = {"milp": MILPAssociation, "gurobi": GurobiAssociation, "sdr": SDRAssociation, "lp": LPAssociation,
                      "gap": GAPAssociation}


def choose_assoc(name: str, scenario, options) -> str:
    if name != "auto":
        return name
    pairs = scenario.n_users * scenario.n_servers
    if pairs <= options.sdr_max_pairs:
        return "sdr"
    return "lp" if pairs <= options.lp_max_pairs else "gap"


# -----------------------------------------------------------------------------------------
# resource blocks
# -----------------------------------------------------------------------------------------


class EqualSplitResources:
    """The baselines' resources: server m splits its budgets equally among its k_m users (MODEL.md §6)."""

    name = "equal"

    def __init__(self, scenario, units, options, timer):
        self.sc = scenario

    def for_association(self, inc: Solution, assignment, R1) -> Solution:
        return equal_split(self.sc, assignment, phi=inc.phi).copy(method=inc.method)

    def improve(self, sol, ev, y, record, deadline, max_iter=None, accept=None):
        return sol, ev


class FPResources:
    """AO part 2 (MODEL.md §5.2): the quadratic transform (11) and Ipopt on (12), iterated.

    Each inner iteration sets y to the current SCR and anchors z at the current
    point (so the surrogate is tight there and a lower bound of the Dinkelbach
    objective elsewhere: majorise-minimise), solves the concave problem (12)
    with Ipopt through ``SolverFactory('cyipopt')``, and keeps the new point if
    the evaluator finds it feasible and its SCR not lower.  It stops when the SCR
    gain of a solve is at most ``part2_tol`` (relative).
    """

    name = "fp"

    def __init__(self, scenario, units, options, timer: PhaseTimer):
        solvers.require("ipopt")
        self.sc, self.units, self.options, self.timer = scenario, units, options, timer
        with timer("model build"):
            self.model = build_part2(scenario, units, positive_floor(scenario))
        self.ipopt = pyo.SolverFactory("cyipopt")
        self.persistent = None
        self.ipopt_options = {
            "tol": options.ipopt_tol,
            "max_iter": options.ipopt_max_iter,
            "print_level": 0,
            "sb": "yes",
            "honor_original_bounds": "yes",
            "mu_init": 1e-4,  # each solve starts at the previous optimum: a small barrier start saves ~40 % of iterations
        }
        if options.part2_persistent:
            from ..model.resources import POINT_DATA
            from ..nlp import PersistentIpopt

            opts = dict(self.ipopt_options)  # with "sb": Ipopt's banner is printed once per process, and never wanted
            # re-solves start from the previous optimum's primal and dual point (a new association: cold, mu_init above)
            self.persistent = PersistentIpopt(self.model, [getattr(self.model, c) for c in POINT_DATA], opts, warm=True)
        self.split = None
        self.notes: list[str] = []
        if options.part2 == "split" and scenario.system.weight_time == 0:
            # the split is coordinated by the price of T (ω_t): with none, G = Σ λ stays >= 0 and the level search
            # stops short (measured (6,2) s0, ω_t = 0: SCR 115.96 against the joint NLP's 173.58)
            self.notes.append("part2='split' needs a delay price (ω_t > 0); with ω_t = 0 the joint NLP ran")
        elif options.part2 == "split":
            from .split_part2 import SplitPart2

            scheduler = options.scheduler or None  # checked by SolveOptions
            opts = dict(self.ipopt_options)  # "sb" too: each worker process would print Ipopt's banner on stdout
            # a server NLP converges in tens of iterations (at most ~200 measured); one that runs on sits at a degenerate
            # level, which the level search then skips
            opts["max_iter"] = min(int(opts["max_iter"]), 1000)
            self.split = SplitPart2(scenario, self.model, opts, workers=options.workers, scheduler=scheduler, timer=timer)
        self.solves = 0
        self.ipopt_iterations = 0
        self.failures: list[str] = []
        self.repairs: list[float] = []  # relative size of each fit_to_budgets repair of an Ipopt point

    def for_association(self, inc: Solution, assignment, R1) -> Solution:
        """Resources for a new association: P1's fixed resources on the new pairs, fitted to the budgets."""
        N = self.sc.n_users
        idx = np.arange(N)
        b, P, F = (R[idx, assignment] for R in R1)
        trial = inc.copy(assignment=np.asarray(assignment, dtype=np.int64), b=b, p_server=P, f_server=F, evaluation=None)
        return fit_to_budgets(self.sc, trial)

    @staticmethod
    def solver_errors() -> tuple:
        """The exceptions of one Ipopt solve that mean a failed block step (reported, not raised).

        Pyomo's ApplicationError (the solver could not run), and the evaluation
        errors of PyNumero/cyipopt (a function undefined at Ipopt's point, when
        they escape Ipopt's own step cutting).  Anything else is a bug and is
        raised; an interrupt is raised as :class:`~pyomo_llmmec.interrupts.Interrupted`.
        """
        import cyipopt
        from pyomo.common.errors import ApplicationError
        from pyomo.contrib.pynumero.exceptions import PyNumeroEvaluationError

        return (ApplicationError, PyNumeroEvaluationError, cyipopt.CyIpoptEvaluationError, SplitStepFailed)

    class _QuietCyipoptLog:
        """Pyomo logs every exception out of a cyipopt solve with its traceback (at ERROR); part 2 reports a
        failed solve in its history and warnings instead (one line), so that log is off during the solve."""

        name = "pyomo.contrib.pynumero.algorithms.solvers.cyipopt_solver"

        def __enter__(self):
            self.logger = logging.getLogger(self.name)
            self.level = self.logger.level
            self.logger.setLevel(logging.CRITICAL)

        def __exit__(self, *exc):
            self.logger.setLevel(self.level)

    def _solve_once(self):
        from .. import interrupts

        iters = [0]

        def callback(*args):
            iters[0] = int(args[3] if len(args) >= 13 else args[2])
            return interrupts.requested() is None  # False: Ipopt stops at once (User_Requested_Stop)

        # deferred: a signal during the solve only sets the flag (no exception passes through Ipopt's C code);
        # the callback stops Ipopt and Interrupted is raised when the solve returns
        if self.split is not None:
            with self.timer("Ipopt (part 2, split by server)"):
                tc, n_it, obj = self.split.solve()  # a failed level search raises SplitStepFailed
            interrupts.check()
            self.solves += 1
            self.ipopt_iterations += n_it
            return tc, n_it, obj
        if self.persistent is not None:
            with self.timer("Ipopt (part 2)"):
                tc, n_it, obj = self.persistent.solve()
            interrupts.check()
            self.solves += 1
            self.ipopt_iterations += n_it
            return tc, n_it, obj
        with self.timer("Ipopt (part 2)"), self._QuietCyipoptLog(), interrupts.deferred():
            res = self.ipopt.solve(self.model, options=dict(self.ipopt_options), intermediate_callback=callback)
        self.solves += 1
        self.ipopt_iterations += iters[0]
        obj = res.problem.lower_bound  # the objective (12) at Ipopt's point (maximisation)
        return res.solver.termination_condition, iters[0], float(obj) if obj is not None else math.nan

    def close(self) -> None:
        """Stop the worker processes of a split part 2 (if any)."""
        if self.split is not None:
            self.split.close()

    def improve(self, sol: Solution, ev, y, record, deadline, max_iter=None, accept=None):
        """Run part 2 from ``sol``; ``record(**row)`` logs each inner iteration. Returns (solution, evaluation).

        ``accept(new_ev, cur_ev)`` decides whether an inner step's point is kept (default: feasible and not lower SCR;
        the AO driver passes its own rule, :meth:`pyomo_llmmec.methods.ao.AODriver.accept`)."""
        accept = accept or not_worse
        m = self.model
        with self.timer("model update"):
            before = m._assignment
            set_association(m, self.sc, sol.assignment)
            if self.persistent is not None and m._assignment is not before:
                self.persistent.invalidate()  # new budgets and bounds: the NLP is written again
        cur, cur_ev = sol, ev
        for k in range(1, (max_iter or self.options.part2_max_iter) + 1):
            if time.perf_counter() > deadline:
                break
            with self.timer("model update"):
                set_point(m, self.sc, cur, cur_ev, cur_ev.scr)
            t0 = time.perf_counter()
            error = None
            try:
                tc, iters, obj = self._solve_once()  # Pyomo's TerminationCondition
            except self.solver_errors() as exc:  # a failed step, reported (an interrupt is raised by _solve_once)
                first = str(exc).splitlines()[0] if str(exc) else ""
                error = f"error: {first}" if isinstance(exc, SplitStepFailed) else f"error: {type(exc).__name__}: {first}"
            secs = time.perf_counter() - t0
            if error is not None:
                self.failures.append(error)
                record(step="part2", inner=k, candidate_scr=math.nan, accepted=False, status=error, seconds=secs, inner_iterations=0)
                break
            b, p, P, Fu, Fs = read_resources(m, self.sc)
            raw = cur.copy(b=b, p=p, p_server=P, f_user=Fu, f_server=Fs, evaluation=None)
            new = fit_to_budgets(self.sc, raw)  # Ipopt's point into the bounds and budgets, within its tolerance
            repair = repair_size(raw, new)
            if repair > 0.0:
                self.repairs.append(repair)
            with self.timer("evaluation"):
                new_ev = evaluate(self.sc, new, attach=False)
            ok = accept(new_ev, cur_ev)
            optimal = tc == TerminationCondition.optimal
            if not optimal:
                self.failures.append(f"Ipopt ended with {tc.value}")
            record(step="part2", inner=k, candidate_scr=new_ev.scr, accepted=ok, status=tc.value,
                   objective=obj, seconds=secs, inner_iterations=iters, repair=repair,
                   # a drop measures an exact block step; a failed Ipopt solve is counted in the failures instead
                   drop=max(0.0, 1 - new_ev.scr / cur_ev.scr) if new_ev.feasible and optimal else math.nan)
            if not ok:
                break
            gain = new_ev.scr / cur_ev.scr - 1.0
            cur, cur_ev = new, new_ev
            if gain <= self.options.part2_tol:
                break
        return cur, cur_ev


def not_worse(new_ev, cur_ev) -> bool:
    """The default acceptance of a step: its point is feasible and its SCR not lower."""
    return new_ev.feasible and new_ev.scr >= cur_ev.scr


RESOURCE_BLOCKS = {"fp": FPResources, "equal": EqualSplitResources}

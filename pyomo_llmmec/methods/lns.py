"""Method ``lns``: a large-neighbourhood search over associations, past DASHF's fixed point.

Two parts (docs/DESIGN.md, section "lns"):

**The resource step at a fixed association** (:class:`ResourceSearch`).  With x
fixed, (3) is an NLP in (φ, b, p, P, F_n, F_nm, T); it is non-convex and its
local optima differ mostly in the delay level T.  With T *fixed* (and y fixed)
the problem separates into one NLP per server (model/fixed_association.py):
``F(T; y) = Σ_m V_m(T; y) − y ω_t T``.  The step is Dinkelbach over y; for each
y it scans a log-spaced grid of delay levels T, solving every server's NLP at
each level (Ipopt, warm-started from the neighbouring level) down to the
association's least feasible level (one min-T NLP per server, :meth:`ResourceSearch.edge_level`),
keeps the best level, and refines it with the joint NLP in which T is free.  φ is optimised
jointly with the resources (the exact energies, no quadratic transform).  Each
NLP is built once and re-solved with new data (:class:`~pyomo_llmmec.nlp.PersistentIpopt`).

**The search over associations** (:class:`LNS`).  Start points: DASHF (and on
small networks DASHF with the exact P1 route), the equal split of the greedy
association and AAUCO's point.  Cheap steps come first, so that a short time
limit still gains: the best start (by SCR) through the joint polish from several
starts (its own point and equal splits), the other starts through the joint
polish, then a *quick descent* (moves and swaps taken as scored, no full step);
then each start through the full resource step, and the search below.  Neighbourhoods: *move*
one user to another server and *swap* two users of different servers.  A candidate is scored at the incumbent's
(T, y) by re-solving only the (two) servers it touches; since every other
server keeps its point and its delays ≤ T, the assembled point is feasible for
(3) and its SCR is computed by the evaluator.  An improvement (exact SCR,
first improvement in a seeded random order) is accepted and the new
association goes through the full resource step.  At a local optimum of both
neighbourhoods the search scores the moves again at other delay levels
(T/2, 2T), then *destroys and repairs* (``lns_destroy`` users put on random
other servers, then local search) up to ``lns_rounds`` rounds without
improvement.  The result is deterministic for a given ``seed``; with a
``time_limit`` the search is anytime (checked between NLP solves).

**The Lagrangian screen** (``lns_prune``; :class:`~pyomo_llmmec.bounds.AssociationScreen`).
After the quick descent, two rounds of price improvement of the Lagrangian SCR
bound at the incumbent give multipliers under which any association's bound is a
sum of N table entries.  An association whose bound is at most the acceptance level can never
be accepted, so its full resource step is skipped wherever the search would
spend one on it (a start, a scanned candidate, a deep step, a destroy/repair
draw); the search's outcome is unchanged where the skipped step could not have
been accepted, and the time goes to associations that still can.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo
from cyipopt import CyIpoptEvaluationError
from pyomo.contrib.pynumero.exceptions import PyNumeroEvaluationError
from pyomo.opt import TerminationCondition

from .. import interrupts, physics, solvers
from ..errors import SolveFailed
from ..model.fixed_association import DATA, build_fixed_association_nlp, read_point, set_start
from ..model.full import positive_floor
from ..points import equal_split
from ..solution import RESOURCE_FIELDS, Solution, evaluate
from ..units import units_for
from .ao import History
from .blocks import PhaseTimer

_OK = (TerminationCondition.optimal, TerminationCondition.locallyOptimal)
#: the Lagrangian screen (LNS._start_screen) runs on networks of at most this many user-server pairs
PRUNE_MAX_PAIRS = 400
#: rounds of price improvement of the screen's bound (measured: 1 round, ~1.5 s, settles 2–54 of the associations of
#: (3,2)…(6,2) references; a second round (0.3–0.7 s more) tightened the bound at (6,2) s0 from 34.30 to 29.32 against the
#: optimum 25.87 and cut the NLP solves by 18–23 % on (4,2) s4, s5, (6,2) s0, s6; a third cost more than it saved;
#: docs/DESIGN.md)
PRUNE_ROUNDS = 2
#: evaluations of the relaxation per round, and the uniform price levels started from (2026-12-07, with the proximal
#: bundle price search: 40 and 1 instead of 120 and 2 took the screen from 0.6–1.5 s to ~0.5 s on the (3,2) and (4,2)
#: references; the 20 runs, old and new code interleaved in one process: 109.7 / 98.3 / 107.1 / 98.2 s, the same SCR on
#: each; it pruned as many associations on 17 of 20, more on 2, one fewer on 1)
PRUNE_EVALS = 40
PRUNE_STARTS = 1
#: destroy/repair draws again (at most this often) when its new association is proven unable to beat the best
PRUNE_REDRAWS = 20
#: the screen's pair values are recomputed when the best SCR has risen by this fraction since
PRUNE_REFRESH = 1e-3


#: the scan's lowest level sits this far (relative) above the edge (ResourceSearch.edge_level): at the edge itself
#: the server NLPs' feasible set is a single point
EDGE_MARGIN = 1e-3


class OutOfTime(Exception):
    """The search's deadline passed (raised between solves; the incumbent stands)."""


@dataclass
class Incumbent:
    sol: Solution
    ev: object  # Evaluation

    @property
    def scr(self) -> float:
        return self.ev.scr


class ResourceSearch:
    """The continuous part of (3) at a fixed association (see the module docstring)."""

    def __init__(self, scenario, options, timer: PhaseTimer, deadline: float):
        solvers.require("ipopt")
        self.sc, self.o, self.timer, self.deadline = scenario, options, timer, deadline
        self.eps = max(positive_floor(scenario), min(options.lns_floor, 0.01 / scenario.n_users))
        # bound_relax_factor = 0: Ipopt must not use φ slightly below 0.  A relaxed φ_n = −1e-8 times the
        # uplink delay coefficient D_n / r_up (up to ~1e6 s when p_n sits at its floor because φ_n = 0) "saves"
        # delay (0.035 s on (4,2) seed 7) that the evaluator, which sees φ_n = 0, does not grant: the point then misses its
        # delay level by ~1e-5 relative and was discarded (instance (4,2) seed 7 lost 0.6 % of the optimum so)
        self.ipopt_options = {
            "tol": 1e-9, "constr_viol_tol": 1e-9, "max_iter": int(options.lns_ipopt_max_iter), "print_level": 0, "sb": "yes",
            "honor_original_bounds": "yes", "bound_relax_factor": 0.0,
        }
        self.units = units_for(scenario)
        self._server_models: dict = {}
        self._server_edge: dict = {}  # (server, users) -> the least delay level they can meet (s), NaN if unknown
        self._edge_models: dict = {}
        self._joint_models: dict = {}
        self.min_delay = self._min_delay()
        self.polished: dict = {}  # association -> best point of multistart_polish
        self.optimised: dict = {}  # association -> result of the full step
        self.solves = 0
        self.nonoptimal = 0
        self.evaluation_errors: list[str] = []
        self.bound_violations = 0  # solves whose point left its bounds by more than roundoff (1e-9)
        self.max_bound_excess = 0.0

    def _min_delay(self) -> np.ndarray:
        """(N, M): the least delay of user n on server m, holding every resource alone.

        The delay (3j) is linear in φ at fixed resources, so its minimum is at φ = 0
        or 1; with all of b_max, p_max_n, P_max, F_max_n, F_max_m it bounds every
        feasible delay of the pair from below."""
        sc = self.sc
        snr = sc.gain / sc.sigma2
        b = sc.bandwidth_hz[None, :]
        bits = sc.adapter_bits[:, None]
        local = sc.user_work_flops[:, None] / sc.user_f_max_flops[:, None] + physics.link_delay(
            1.0, bits, physics.rate(b, snr, sc.user_p_max_w[:, None]))
        remote = sc.server_work_flops / sc.server_f_max_flops[None, :] + physics.link_delay(
            1.0, bits, physics.rate(b, snr, sc.server_p_max_w[None, :]))
        return np.minimum(local, remote)

    # -- NLP solves -------------------------------------------------------------------
    def _check_time(self):
        if time.perf_counter() > self.deadline:
            raise OutOfTime

    def _build(self, users, servers, **kw):
        """A fixed-association NLP (model/fixed_association.py) with its :class:`~pyomo_llmmec.nlp.PersistentIpopt`:
        the NLP is built once and re-solved with new data (y, T, the units: the model's fixed variables)."""
        from ..nlp import PersistentIpopt

        with self.timer("model build"):
            m = build_fixed_association_nlp(self.sc, self.units, users, servers, **kw)
        return PersistentIpopt(m, [getattr(m, n) for n in DATA], self.ipopt_options, warm=True)

    def _solve(self, ipopt, phase, warm=False):
        """Ipopt on ``ipopt.model`` from its current values (loaded back into it); True when it ended (locally) optimal.

        With ``warm`` Ipopt also starts from the multipliers of the model's last solve, if it ended optimal (the
        caller passes it where the start is near that solve's point)."""
        self._check_time()
        try:
            with self.timer(phase):
                tc, _iters, _obj = ipopt.solve(warm=warm)
        except (PyNumeroEvaluationError, CyIpoptEvaluationError) as exc:
            interrupts.check()  # an interrupt that surfaced as a solver error is an interrupt
            # a start at which the NLP cannot be evaluated (e.g. a link rate that underflows): a failed start,
            # counted; the caller keeps only points the evaluator accepts
            self.solves += 1
            self.nonoptimal += 1
            self.evaluation_errors.append(f"{type(exc).__name__}: {exc}")
            return False
        excess = _bound_excess(ipopt.model)
        self.max_bound_excess = max(self.max_bound_excess, excess)
        if excess > 1e-9:
            self.bound_violations += 1
        interrupts.check()  # a signal swallowed inside Ipopt's callbacks still stops the search
        self.solves += 1
        ok = tc in _OK
        if not ok:
            self.nonoptimal += 1
        return ok

    def _cached(self, cache: dict, key, limit: int, users, servers, **kw):
        """The NLP (a PersistentIpopt; its model is ``.model``) stored under ``key`` in ``cache``, built on first use;
        a cache holding more than ``limit`` NLPs is emptied first."""
        nlp = cache.get(key)
        if nlp is None:
            if len(cache) > limit:
                cache.clear()
            nlp = cache[key] = self._build(users, servers, **kw)
        return nlp

    @staticmethod
    def _server_key(s, users):
        return int(s), tuple(int(i) for i in users)

    def _set_scales(self, m, ref_ev):
        ref = units_for(self.sc, ref_ev)
        m.t_unit.set_value(ref.seconds)
        m.obj_unit.set_value(ref.objective)

    @staticmethod
    def _phi_patterns(k):
        """Starting φ of the cold starts: ½, 0 and 1 for every user."""
        return [np.full(k, 0.5), np.zeros(k), np.ones(k)]

    # -- one server at a fixed delay level -------------------------------------------
    def server_point(self, base: Solution, ref_ev, s: int, users, T: float, y: float, warm: Solution | None, newcomers=(),
                     cold: int = 3):
        """Best point found for server ``s`` serving ``users`` at delay level T (s) and Dinkelbach y.

        Returns the solution ``base`` with these users' φ and resources replaced
        and their server set to ``s``, or None when no start gave a point with
        every delay ≤ T.  ``newcomers`` (users that were on another server in
        ``warm``) get two more warm starts, with their φ at 0 and at 1: the φ a
        user had on its old server is often the wrong side for the new one
        (offloading to a far server, or computing locally where a near one is idle).
        They are alternatives to a plain warm start that gave a point: where that
        one fails, they are not tried (measured on (3,2)…(6,2) runs, 68 moves whose
        plain warm start failed: neither its φ variants nor the cold starts gave a
        point for any of them, at ~80 Ipopt iterations per failed solve).
        Where no warm start gives a point, at most ``cold`` of the three cold
        starts (equal split, φ = ½, 0, 1) are tried.  The first warm start also
        takes the multipliers of the model's last solve when that one ended optimal
        (:class:`~pyomo_llmmec.nlp.PersistentIpopt`; in a scan over delay levels it
        is the solve of the level next to this one).
        """
        users = np.asarray(users, dtype=int)
        if len(users) == 0:
            return base
        if T < np.max(self.min_delay[users, s]) * (1 - 1e-9):
            return None  # below the fastest any of these users could be served, even alone: infeasible
        key = self._server_key(s, users)
        if T < self._server_edge.get(key, 0.0) * (1 - 1e-9):
            return None  # below the least level these users can meet together (edge_level)
        nlp = self._cached(self._server_models, key, 4000, users, np.full(len(users), s), eps=self.eps)
        m = nlp.model
        self._set_scales(m, ref_ev)
        m.y.set_value(float(y))
        m.T_fix.set_value(T / pyo.value(m.t_unit))
        sc = self.sc
        k = len(users)
        starts = []  # (is warm, φ, b, p, P, F_n, F_nm)
        if warm is not None:
            wst = (warm.phi[users], warm.b[users], warm.p[users], warm.p_server[users], warm.f_user[users], warm.f_server[users])
            starts.append((True, *wst))
            new = np.isin(users, np.asarray(newcomers, dtype=int))
            if new.any():
                for side in (0.0, 1.0):
                    phi = np.where(new, side, wst[0])
                    if not np.array_equal(phi, wst[0]):
                        starts.append((True, phi, *wst[1:]))
        eq = (np.full(k, sc.bandwidth_hz[s] / k), sc.user_p_max_w[users], np.full(k, sc.server_p_max_w[s] / k),
              sc.user_f_max_flops[users], np.full(k, sc.server_f_max_flops[s] / k))
        for phi in self._phi_patterns(k)[:max(0, int(cold))]:
            starts.append((False, phi, *eq))
        best, best_val = None, -math.inf
        ow = sc.system.weight_energy
        for j, (is_warm, *st) in enumerate(starts):
            if best is not None and not is_warm and not self.o.lns_cold_always:
                break  # the warm start gave a point: cold starts only where it fails
            if j >= 1 and best is None and is_warm:
                continue  # the plain warm start failed: so do its φ variants (see the docstring)
            set_start(m, *st)
            self._solve(nlp, "Ipopt (server NLP)", warm=j == 0 and is_warm)
            phi, b, p, P, Fu, Fs = read_point(m)
            cand = base.copy(evaluation=None)
            cand.assignment = cand.assignment.copy()
            cand.assignment[users] = s
            for name, vals in (("phi", phi), ("b", b), ("p", p), ("p_server", P), ("f_user", Fu), ("f_server", Fs)):
                arr = getattr(cand, name).copy()
                arr[users] = vals
                setattr(cand, name, arr)
            with self.timer("evaluation"):
                ev = evaluate(sc, cand, attach=False)
            if not self._server_feasible(cand, ev, s, users, T):
                continue
            val = float(np.sum(ev.score[users] - y * ow * ev.user_energy[users]))
            if val > best_val:
                best, best_val = cand, val
        return best

    def _server_feasible(self, cand: Solution, ev, s: int, users, T: float) -> bool:
        """Server ``s``'s part of ``cand`` is feasible at delay level T: the values of ``users`` (all of the server's
        users in the new association) finite and within their bounds, their delays ≤ T, and their use of the
        budgets (3d), (3f), (3h) of ``s`` within them (the evaluator's tolerance).

        Only this part: while a move is scored server by server (:meth:`LNS._try`), a user leaving ``s`` for a
        server not yet re-solved still sits on ``s`` in ``cand`` with its old values, over the budget of ``s``
        together with the new point of ``users``; the whole point is not feasible until every touched server is
        re-solved, and the caller evaluates the assembled point in full."""
        sc = self.sc
        tol = ev.tol
        if not all(np.all(np.isfinite(getattr(cand, k)[users])) for k in RESOURCE_FIELDS):
            return False
        delay = ev.user_delay[users]
        if not np.all(np.isfinite(delay)) or np.max(delay) > T * (1 + 1e-7):
            return False
        phi = cand.phi[users]
        if np.min(phi) < -tol or np.max(phi) > 1 + tol:
            return False
        if np.any(cand.p[users] > sc.user_p_max_w[users] * (1 + tol)) or np.any(cand.f_user[users] > sc.user_f_max_flops[users] * (1 + tol)):
            return False
        if min(float(np.min(getattr(cand, k)[users])) for k in ("b", "p", "p_server", "f_user", "f_server")) <= 0:
            return False  # the NLPs keep every resource at its floor or above; a non-positive one is a failed solve
        return all(float(np.sum(getattr(cand, k)[users])) <= cap[s] * (1 + tol)
                   for k, cap in (("b", sc.bandwidth_hz), ("p_server", sc.server_p_max_w), ("f_server", sc.server_f_max_flops)))

    def level_point(self, inc: Incumbent, T: float, y: float, warm: Solution | None = None):
        """Every server re-solved at delay level T; None if some server cannot meet T."""
        a = inc.sol.assignment
        cur = inc.sol
        for s in range(self.sc.n_servers):
            users = np.flatnonzero(a == s)
            nxt = self.server_point(cur, inc.ev, s, users, T, y, warm if warm is not None else inc.sol,
                                    cold=self.o.lns_level_cold)
            if nxt is None:
                return None
            cur = nxt
        return cur

    def edge_level(self, inc: Incumbent) -> float | None:
        """The least delay level (s) at which ``inc``'s association has a point: the largest over the servers of the
        least level a server's users can meet together (the ``min_delay`` NLP, from ``inc``'s point, where its
        delays are met).  Below it every level of the scan fails; None when a server's NLP did not end optimal.

        A local optimum of that NLP, so a level below it is not proven infeasible; it is where the scan's warm
        starts fail (they come from above, as this NLP's start does)."""
        a = inc.sol.assignment
        edge = 0.0
        for s in range(self.sc.n_servers):
            users = np.flatnonzero(a == s)
            if len(users) == 0:
                continue
            key = self._server_key(s, users)
            own = float(np.max(inc.ev.user_delay[users]))  # the level this point meets on s
            t = self._server_edge.get(key)
            if t is None:
                nlp = self._cached(self._edge_models, key, 4000, users, np.full(len(users), s), form="min_delay", eps=self.eps)
                m = nlp.model
                self._set_scales(m, inc.ev)
                sol = inc.sol
                set_start(m, sol.phi[users], sol.b[users], sol.p[users], sol.p_server[users], sol.f_user[users],
                          sol.f_server[users], own)
                ok = self._solve(nlp, "Ipopt (edge NLP)")
                t = float(pyo.value(m.T) * pyo.value(m.t_unit)) if ok else math.nan
                self._server_edge[key] = t
            if math.isfinite(t) and t > own:  # a local optimum above a level this point meets (an earlier start's)
                t = self._server_edge[key] = own
            if not math.isfinite(t):
                return None
            edge = max(edge, t)
        return edge

    # -- the joint polish (T free) ----------------------------------------------------
    def polish(self, inc: Incumbent, max_iter: int = 8, eps: float | None = None) -> Incumbent:
        """Dinkelbach on the joint NLP of ``inc``'s association with T free, from ``inc``.

        ``eps`` overrides the resource floor (the final polish uses the full model's floor)."""
        sc = self.sc
        a = inc.sol.assignment
        eps = self.eps if eps is None else eps
        key = (tuple(int(v) for v in a), eps)
        nlp = self._cached(self._joint_models, key, 50, np.arange(sc.n_users), a, free_T=True, eps=eps)
        m = nlp.model
        for step in range(max_iter):
            self._set_scales(m, inc.ev)
            m.y.set_value(inc.scr)
            s = inc.sol
            set_start(m, s.phi, s.b, s.p, s.p_server, s.f_user, s.f_server, inc.ev.delay)
            # from the second Dinkelbach step on, the start is this NLP's last optimum (only y and the units
            # changed): its multipliers too
            self._solve(nlp, "Ipopt (joint NLP)", warm=step > 0 and self.o.lns_polish_warm)
            phi, b, p, P, Fu, Fs = read_point(m)
            cand = s.copy(phi=phi, b=b, p=p, p_server=P, f_user=Fu, f_server=Fs, evaluation=None)
            with self.timer("evaluation"):
                ev = evaluate(sc, cand, attach=False)
            if not ev.feasible or ev.scr <= inc.scr * (1 + 1e-9):
                break
            gain = ev.scr / inc.scr - 1
            inc = Incumbent(cand, ev)
            if gain < 1e-7:
                break
        return inc

    def final_polish(self, inc: Incumbent) -> Incumbent:
        """The joint polish once more with the full model's small floors (model/full.py), from the search's best
        point: the search's larger floors cost up to ~1e-3 of the SCR (kept only if the evaluator finds it better)."""
        small = positive_floor(self.sc)
        eps = self.eps
        while eps > small * (1 + 1e-12):  # continuation: floors 10x smaller each time, warm from the last point
            eps = max(small, eps / 10)
            inc = self.polish(inc, eps=eps)
        return inc

    def multistart_polish(self, inc: Incumbent, on_point=None) -> Incumbent:
        """The joint polish from the incumbent and from the equal split with φ = ½, 0 and 1 for everyone.

        ``on_point`` (optional) is called with each polished point as it is found, so that a time limit
        passing between the starts loses none of them.  Memoised per association: a second call for an
        association already polished returns the better of the stored result and ``inc`` polished once more."""
        key = tuple(int(v) for v in inc.sol.assignment)
        known = self.polished.get(key)
        if known is not None:
            best = self.polish(inc) if inc.scr > known.scr else known
            self.polished[key] = best
            return best
        best = self._multistart(inc, on_point or (lambda r: None))
        self.polished[key] = best
        return best

    def _multistart(self, inc: Incumbent, on_point) -> Incumbent:
        best = self.polish(inc)
        on_point(best)
        for phi in (0.5, 0.0, 1.0):
            s = equal_split(self.sc, inc.sol.assignment, phi=np.full(self.sc.n_users, phi))
            with self.timer("evaluation"):
                ev = evaluate(self.sc, s, attach=False)
            if not ev.feasible:
                continue
            r = self.polish(Incumbent(s, ev))
            on_point(r)
            if r.scr > best.scr:
                best = r
        return best

    # -- the whole step ------------------------------------------------------------------
    def at_level(self, inc: Incumbent, T: float, max_iter: int | None = None) -> Incumbent | None:
        """G(T): the best SCR with every delay ≤ T — Dinkelbach over y, each step one NLP per server."""
        best = None
        y = inc.scr
        warm = inc.sol
        for _ in range(self.o.lns_level_dinkelbach if max_iter is None else max_iter):
            pt = self.level_point(inc, T, y, warm)
            if pt is None:
                break
            with self.timer("evaluation"):
                ev = evaluate(self.sc, pt, attach=False)
            if not ev.feasible or (best is not None and ev.scr <= best.scr * (1 + 1e-7)):
                break
            best = Incumbent(pt, ev)
            y, warm = ev.scr, pt
        return best

    def optimise(self, inc: Incumbent, levels=None) -> Incumbent:
        """The resource step of the module docstring: max over T of G(T) by continuation, then the joint polish.

        G is traced from the incumbent's delay level T0 downwards (factor 1/√2 per
        level, each level warm-started from the one above, so that Ipopt starts
        near feasibility) and upwards (factor 2), ``lns_levels`` levels in all;
        the best level is refined by golden-section search on log T.
        """
        levels = self.o.lns_levels if levels is None else levels
        key = tuple(int(v) for v in inc.sol.assignment)
        known = self.optimised.get(key)
        if known is not None and known.scr >= inc.scr:
            return known
        inc = self.multistart_polish(inc)
        T0 = inc.ev.delay
        found: dict[float, Incumbent] = {}

        def G(logT, warm):
            r = self.at_level(warm, float(np.exp(logT)))
            found[logT] = r
            return r

        down = max(1, (2 * levels) // 3)
        up = max(0, levels - down)
        edge = self.edge_level(inc) if self.o.lns_edge_nlp else None
        misses = 0
        warm = inc
        for i in range(down):  # 1.001 T0, T0/√2, T0/2, ... (a level that fails is skipped; two in a row end the descent)
            logT = math.log(T0) + (1e-3 if i == 0 else -0.5 * math.log(2.0) * i)
            if edge is not None and math.exp(logT) < edge * (1 + EDGE_MARGIN):
                found[logT] = None  # below the edge: it would fail
                break
            r = G(logT, warm)
            misses = misses + 1 if r is None else 0
            if misses == 2:
                break
            warm = r or warm
        warm = inc
        for i in range(1, up + 1):  # 2 T0, 4 T0, ...
            r = G(math.log(T0) + math.log(2.0) * i, warm)
            if r is None:
                break
            warm = r
        # the edge: where the scan failed below its lowest feasible level, bisect (on log T) for the least feasible
        # level — the value is often largest just above it (a critical user), between the scan's coarse steps
        feasible = sorted(k for k, v in found.items() if v is not None)
        failed = [k for k, v in found.items() if v is None and feasible and k < feasible[0]]
        at_edge = None
        if edge is not None and feasible and failed and edge * (1 + EDGE_MARGIN) < math.exp(feasible[0]):
            # the edge is known: the level just above it instead of bisecting for it
            at_edge = G(math.log(edge * (1 + EDGE_MARGIN)), found[feasible[0]])
        if failed and at_edge is None:
            lo, hi = max(failed), feasible[0]
            for _ in range(self.o.lns_edge_steps):
                mid = 0.5 * (lo + hi)
                r = G(mid, found[hi])
                lo, hi = (mid, hi) if r is None else (lo, mid)
        ok = {k: v for k, v in found.items() if v is not None}
        if ok and self.o.lns_refine:
            # bracket the best level by its neighbours among all levels tried, failed ones included:
            # the optimum is often just above the least feasible T (a critical user), where levels fail
            keys = sorted(found)
            j = max((t for t in range(len(keys)) if found[keys[t]] is not None), key=lambda t: found[keys[t]].scr)
            lo, hi = keys[max(j - 1, 0)], keys[min(j + 1, len(keys) - 1)]
            g = (math.sqrt(5) - 1) / 2
            best_warm = found[keys[j]]
            c, d = hi - g * (hi - lo), lo + g * (hi - lo)
            fc = G(c, best_warm)
            fd = G(d, best_warm)
            val = lambda r: r.scr if r is not None else -math.inf  # noqa: E731
            for _ in range(self.o.lns_refine - 2):
                if val(fc) >= val(fd):
                    hi, d, fd = d, c, fc
                    c = hi - g * (hi - lo)
                    fc = G(c, best_warm)
                else:
                    lo, c, fc = c, d, fd
                    d = lo + g * (hi - lo)
                    fd = G(d, best_warm)
        for r in found.values():
            if r is not None and r.scr > inc.scr:
                inc = r
        inc = self.polish(inc)
        self.optimised[key] = inc
        return inc


def _bound_excess(model) -> float:
    """The largest amount (relative to max(1, |bound|)) by which a variable of ``model`` lies outside its bounds."""
    worst = 0.0
    for v in model.component_data_objects(pyo.Var, descend_into=True):
        x = v.value
        if x is None:
            continue
        if v.lb is not None and x < v.lb:
            worst = max(worst, (v.lb - x) / max(1.0, abs(v.lb)))
        if v.ub is not None and x > v.ub:
            worst = max(worst, (x - v.ub) / max(1.0, abs(v.ub)))
    return worst


class LNS:
    """The search over associations (see the module docstring)."""

    def __init__(self, scenario, options, say=None):
        self.sc, self.o = scenario, options
        self.t0 = time.perf_counter()
        self.deadline = self.t0 + options.time_limit
        self.timer = PhaseTimer()
        self.hist = History()
        self.rng = np.random.default_rng(options.seed)
        self.rs = ResourceSearch(scenario, options, self.timer, self.deadline)
        self.say = say or (lambda *a, **k: None)
        self.moves_tried = 0
        self.accepted = 0
        self.best: Incumbent | None = None
        self.progress = None
        self.screen = None  # bounds.AssociationScreen once the starts are polished (see _start_screen)
        self.pruned = 0  # candidates and start steps skipped because their association cannot beat the incumbent
        self.screen_note: dict = {}
        self._grid = None  # every association of a small network (_all_explored), built once

    # -- bookkeeping --------------------------------------------------------------------
    def _record(self, step, cand_scr, accepted, **extra):
        scr = self.best.scr if self.best is not None else cand_scr
        self.hist.add(iteration=self.accepted, step=step, scr=scr, candidate_scr=cand_scr, accepted=accepted,
                      moves_tried=self.moves_tried, seconds=time.perf_counter() - self.t0, **extra)
        if self.progress is not None:
            self.progress(scr, self.moves_tried, time.perf_counter() - self.t0)

    def _offer(self, inc: Incumbent, step: str) -> bool:
        better = self.best is None or inc.scr > self.best.scr * (1 + 1e-9)
        if better:
            self.best = inc
            self.accepted += 1
            if self.screen is not None and inc.scr > self.screen.y_ref * (1 + PRUNE_REFRESH):
                with self.timer("Lagrangian screen"):
                    self.screen.refresh(inc.scr)
            self.say(f"[lns] {step}: SCR {inc.scr:.6g} after {self.moves_tried} moves, {time.perf_counter() - self.t0:.1f} s")
        self._record(step, inc.scr, better)
        return better

    def _offer_if_better(self, inc: Incumbent, step: str) -> None:
        """:meth:`_offer` for a point better than the best only (no history row for the others)."""
        if self.best is None or inc.scr > self.best.scr * (1 + 1e-9):
            self._offer(inc, step)

    # -- neighbourhood ------------------------------------------------------------------
    def _candidates(self, a):
        N, M = self.sc.n_users, self.sc.n_servers
        cap = self.o.lns_max_candidates
        n_moves = N * (M - 1)
        if n_moves + N * N // 2 > 4 * cap:  # a large network: a seeded random sample, never the whole O(N²) list
            out = []
            for _ in range(cap):
                n = int(self.rng.integers(N))
                if self.rng.random() < 0.5 or M == 1:
                    s = int((a[n] + 1 + self.rng.integers(max(M - 1, 1))) % M)
                    if s != a[n]:
                        out.append(("move", (n,), (s,)))
                else:
                    j = int(self.rng.integers(N))
                    if a[j] != a[n]:
                        out.append(("swap", (n, j), (a[j], a[n])))
            return out
        cands = [("move", (n,), (s,)) for n in range(N) for s in range(M) if s != a[n]]
        cands += [("swap", (i, j), (a[j], a[i])) for i in range(N) for j in range(i + 1, N) if a[i] != a[j]]
        order = self.rng.permutation(len(cands))
        cap = self.o.lns_max_candidates
        return [cands[k] for k in order[:cap]]

    def _try(self, inc: Incumbent, kind, users, targets, T, base: Solution):
        """The candidate point of a move/swap at delay level T (servers touched re-solved), or None."""
        a = inc.sol.assignment.copy()
        for n, s in zip(users, targets):
            a[n] = s
        touched = sorted({int(inc.sol.assignment[n]) for n in users} | {int(s) for s in targets})
        cur = base
        for s in touched:
            members = np.flatnonzero(a == s)
            cur = self.rs.server_point(cur, inc.ev, s, members, T, inc.scr, inc.sol, newcomers=[n for n in users if a[n] == s],
                                       cold=self.o.lns_move_cold)
            if cur is None:
                return None
        cur.assignment = a
        with self.timer("evaluation"):
            ev = evaluate(self.sc, cur, attach=False)
        return Incumbent(cur, ev) if ev.feasible else None

    def _explored(self, inc: Incumbent, users, targets) -> bool:
        """The candidate's association went through the joint polish already and was not better, or it is proven
        unable to beat the incumbent (:meth:`_settled`)."""
        a = inc.sol.assignment.copy()
        a[list(users)] = targets
        known = self.rs.polished.get(tuple(int(v) for v in a))
        if known is not None and known.scr <= inc.scr:
            return True
        if self._settled(a, inc.scr):
            self.pruned += 1
            return True
        return False

    def _settled(self, assignment, scr: float):
        """No point of ``assignment`` (one, or an (A, N) array) can be accepted against an incumbent at ``scr``: its
        Lagrangian bound is at most the acceptance level scr·(1 + 1e-7) (proven; False where unknown)."""
        if self.screen is None:
            return False if np.ndim(assignment) == 1 else np.zeros(len(assignment), dtype=bool)
        return self.screen.settled(assignment, scr * (1 + 1e-7))

    def _all_explored(self) -> bool:
        """Every association of a small network has been polished (M^N of them) or is proven unable to beat the best."""
        N, M = self.sc.n_users, self.sc.n_servers
        if N * math.log(M) >= math.log(1e6):
            return False
        if len(self.rs.polished) >= M**N:
            return True
        if self.screen is None or M**N > 4096:
            return False
        if self._grid is None:
            self._grid = np.array(list(itertools.product(range(M), repeat=N)))
        polished = np.array([tuple(int(v) for v in a) in self.rs.polished for a in self._grid])
        return bool(np.all(polished | self._settled(self._grid, self.best.scr)))

    def _start_screen(self) -> None:
        """The Lagrangian bound at the incumbent and its :class:`~pyomo_llmmec.bounds.AssociationScreen`: from here on
        an association proven unable to beat the incumbent is skipped (its full resource step could not be accepted).

        ``PRUNE_ROUNDS`` rounds of price improvement (a fixed amount of work, so the search stays deterministic),
        at most ``bound_time_limit`` s: a bound that hits that limit is not used (the same seed must give the same
        result on any machine).  Only on networks of at most ``PRUNE_MAX_PAIRS`` pairs (larger ones: one evaluation
        of the relaxation costs seconds and its bound is loose, docs/DESIGN.md); a relaxation that fails is a warning."""
        from ..bounds import AssociationScreen
        from . import scr_bound

        sc = self.sc
        limit = min(self.o.bound_time_limit, self.deadline - time.perf_counter())
        if (not self.o.lns_prune or limit <= 0 or self.best is None or sc.n_servers < 2
                or sc.n_users * sc.n_servers > PRUNE_MAX_PAIRS):
            return
        with self.timer("Lagrangian screen"):
            bound, res, warning = scr_bound(sc, self.best.scr, limit, branch=False, max_rounds=PRUNE_ROUNDS,
                                            round_evaluations=PRUNE_EVALS, starts=PRUNE_STARTS)
            if bound is None:
                self.screen_note["warning"] = warning
                return
            self.screen_note["bound"] = bound
            if res.status != "ok":  # stopped by the time limit: its multipliers depend on the machine's speed
                return
            self.screen = AssociationScreen(sc, res, self.best.scr)

    def local_search(self, inc: Incumbent) -> Incumbent:
        """First-improvement descent over moves and swaps; at a local optimum, other delay levels."""
        while True:
            improved = False
            scored = []  # (candidate SCR, candidate) of the moves that did not improve at the incumbent's (T, y)
            for factor in self.o.lns_move_levels_factors():
                T = inc.ev.delay * factor
                base = inc.sol if factor == 1.0 else self.rs.level_point(inc, T, inc.scr)
                if base is None:
                    continue
                for kind, users, targets in self._candidates(inc.sol.assignment):
                    if self._explored(inc, users, targets):
                        continue
                    self.moves_tried += 1
                    cand = self._try(inc, kind, users, targets, T, base)
                    if cand is None:  # infeasible at this T: it may need another delay level
                        scored.append((-math.inf, self.moves_tried, kind, (users, targets)))
                    elif cand.scr <= inc.scr * (1 + 1e-7):
                        scored.append((cand.scr, self.moves_tried, kind, cand))
                    if cand is not None and cand.scr > inc.scr * (1 + 1e-7):
                        inc = self.rs.optimise(cand) if self.o.lns_full_step else self.rs.multistart_polish(cand)
                        self._offer(inc, kind)
                        improved = True
                        break
                if improved:
                    break
            if not improved:
                # no move pays at the incumbent's (T, y); scoring at a fixed T is myopic (the neighbour may need another
                # delay level), so the lns_deep best-scored neighbours get the full resource step
                scored.sort(key=lambda t: (-t[0], t[1]))
                for _scr, _k, kind, cand in scored[: self.o.lns_deep]:
                    if not isinstance(cand, Incumbent):  # from the equal split of the neighbour's association
                        users, targets = cand
                        a = inc.sol.assignment.copy()
                        a[list(users)] = targets
                        s = equal_split(self.sc, a, phi=inc.sol.phi)
                        with self.timer("evaluation"):
                            ev = evaluate(self.sc, s, attach=False)
                        if not ev.feasible:
                            continue
                        cand = Incumbent(s, ev)
                    key = tuple(int(v) for v in cand.sol.assignment)
                    if key in self.rs.optimised:
                        continue
                    if self._settled(cand.sol.assignment, self.best.scr):  # cannot beat the best point found so far
                        self.pruned += 1
                        continue
                    full = self.rs.optimise(cand)
                    if full.scr > inc.scr * (1 + 1e-7):
                        inc = full
                        self._offer(inc, f"{kind} (deep)")
                        improved = True
                        break
                if improved:
                    continue
                # a local optimum of both neighbourhoods: the full resource step once more, and go on if it gained
                full = self._gain(inc, self.rs.optimise, "resource step")
                if full is None:
                    return inc
                inc = full

    def _gain(self, inc: Incumbent, step, label: str) -> Incumbent | None:
        """``step(inc)`` if it raised the SCR (offered as ``label``), else None."""
        new = step(inc)
        if new.scr <= inc.scr * (1 + 1e-7):
            return None
        self._offer(new, label)
        return new

    def quick_descent(self, inc: Incumbent) -> Incumbent:
        """First-improvement descent over moves and swaps with the cheap resource step only.

        A candidate is scored as in :meth:`local_search` (its servers re-solved at the
        incumbent's (T, y)) and an improving one is taken as it is, with no full step;
        at a local optimum the joint polish runs, and the descent goes on if it gained.
        What a short time limit can afford at scale (a move costs a few server solves,
        the full step hundreds); the thorough search follows it.

        An association is entered at most once per descent.  A move's servers are
        re-solved at the incumbent's (T, y), which also improves their resources, so a
        swap and its reverse can each gain a little (~0.1 % measured at (6,2) s1 from every
        user on one server): without the rule the descent crept between two associations
        for hundreds of moves."""
        visited = {tuple(int(v) for v in inc.sol.assignment)}
        while True:
            improved = False
            for kind, users, targets in self._candidates(inc.sol.assignment):
                a = inc.sol.assignment.copy()
                a[list(users)] = targets
                key = tuple(int(v) for v in a)
                if key in visited or self._explored(inc, users, targets):
                    continue
                self.moves_tried += 1
                cand = self._try(inc, kind, users, targets, inc.ev.delay, inc.sol)
                if cand is not None and cand.scr > inc.scr * (1 + 1e-7):
                    visited.add(key)
                    inc = cand
                    self._offer(inc, f"{kind} (quick)")
                    improved = True
                    break
            if improved:
                continue
            polished = self._gain(inc, self.rs.polish, "polish (quick)")
            if polished is None:
                return inc
            inc = polished

    def perturb(self, inc: Incumbent) -> Incumbent | None:
        """Destroy and repair: ``lns_destroy`` users (at least 2, at most N) to random other servers.

        A new association proven unable to beat the best point (:meth:`_settled`) is drawn again, up to
        ``PRUNE_REDRAWS`` times; None when every draw was such an association."""
        sc = self.sc
        N, M = sc.n_users, sc.n_servers
        k = min(N, max(2, int(round(self.o.lns_destroy * N)) if self.o.lns_destroy < 1 else int(self.o.lns_destroy)))
        for _ in range(PRUNE_REDRAWS):
            who = self.rng.choice(N, size=k, replace=False)
            a = inc.sol.assignment.copy()
            for n in who:
                a[n] = (a[n] + 1 + self.rng.integers(0, M - 1)) % M
            if not self._settled(a, self.best.scr):
                break
            self.pruned += 1
        else:
            return None
        start = equal_split(sc, a, phi=inc.sol.phi)
        with self.timer("evaluation"):
            ev = evaluate(sc, start, attach=False)
        start = Incumbent(start, ev)
        return self.rs.optimise(start) if self.o.lns_full_step else self.rs.multistart_polish(start)

    # -- the driver ---------------------------------------------------------------------
    def run(self, starts: list[tuple[str, Solution]]) -> Solution:
        bar = None
        if self.o.progress:
            from tqdm import tqdm

            bar = tqdm(total=None, desc="lns", unit=" moves", leave=False, dynamic_ncols=True)

            def progress(scr, moves, secs):
                bar.n = moves
                bar.set_postfix_str(f"SCR {scr:.6g}, {secs:.0f} s", refresh=True)

            self.progress = progress
        try:
            return self._run(starts)
        finally:
            if bar is not None:
                bar.close()

    def _run(self, starts: list[tuple[str, Solution]]) -> Solution:
        status = "local_optimum"
        raw = None  # the best start as it came (returned if the time limit passes before one is optimised)
        try:
            # cheap first, so that a short time limit still gains: the best start's own point through the joint
            # polish from several starts (a few NLP solves: at (50,5) DASHF's 11.9 becomes 58.8 in 0.9 s; at (1000,20)
            # the polish from DASHF's own point can end at Ipopt's iteration limit below it, while one from an equal
            # split reaches 1.9x), then the other starts' polish (a weaker start can polish to the best point: AAUCO's
            # at (20,3) s2), then the quick descent from the best
            evaluated = []
            for name, s in starts:
                with self.timer("evaluation"):
                    ev = evaluate(self.sc, s, attach=False)
                if ev.feasible:
                    evaluated.append((name, Incumbent(s, ev)))
            evaluated.sort(key=lambda t: -t[1].scr)  # stable: ties keep the starts' order
            if evaluated:
                raw = evaluated[0]
            polished = []
            for i, (name, inc) in enumerate(evaluated):
                label = f"start: {name} (polished)"
                if i == 0:  # each of its polished points offered as found (a time limit may pass between them)
                    inc = self.rs.multistart_polish(inc, on_point=lambda r, label=label: self._offer_if_better(r, label))
                    if inc is not self.best:
                        self._offer(inc, label)
                else:
                    inc = self.rs.polish(inc)
                    self._offer(inc, label)
                polished.append((name, inc))
            if self.best is None:
                raise SolveFailed("lns: no feasible start point", status="no_solution")
            if self.sc.n_servers > 1:
                self.best = self.quick_descent(self.best)
            self._start_screen()
            # the starts' associations are the most promising ones: the full step for each (the joint polish
            # alone can undervalue an association by half: it finds the wrong delay level); not for an association
            # proven unable to beat the incumbent
            for name, inc in polished:
                if self._settled(inc.sol.assignment, self.best.scr):
                    self.pruned += 1
                    self._record(f"start: {name} (skipped: its Lagrangian bound is below the best)", inc.scr, False)
                    continue
                inc = self.rs.optimise(inc) if self.o.lns_full_step else self.rs.multistart_polish(inc)
                self._offer(inc, f"start: {name}")
            self.best = self.local_search(self.best)
            if self.sc.n_servers > 1:
                fails = 0
                while fails < self.o.lns_rounds and not self._all_explored():
                    start = self.perturb(self.best)
                    if start is None:  # every draw was an association that cannot beat the best
                        fails += 1
                        continue
                    cand = self.local_search(start)
                    if not self._offer(cand, "destroy/repair"):
                        fails += 1
                    else:
                        fails = 0
        except OutOfTime:
            status = "time_limit"
        if self.best is None and raw is not None:
            self._offer(raw[1], f"start: {raw[0]} (not optimised: time limit)")
        if self.best is None:
            raise SolveFailed("lns: the time limit passed before any start point was evaluated", status="time_limit")
        if status != "time_limit":
            try:
                polished = self.rs.final_polish(self.best)
            except OutOfTime:
                polished = self.best
            self._offer(polished, "final polish")
        df = self.hist.frame()
        info = {
            "moves_tried": self.moves_tried, "accepted": self.accepted, "nlp_solves": self.rs.solves,
            "nlp_not_optimal": self.rs.nonoptimal, "times": dict(self.timer.seconds), "warnings": [],
            "nlp_evaluation_errors": len(self.rs.evaluation_errors), "nlp_bound_violations": self.rs.bound_violations,
            "nlp_max_bound_excess": self.rs.max_bound_excess,
            "seed": self.o.seed, "pruned": self.pruned,
        }
        if "bound" in self.screen_note:
            info["screen_bound"] = self.screen_note["bound"]
        if "warning" in self.screen_note:
            info["warnings"].append(f"no Lagrangian screen: {self.screen_note['warning']}")
        if status == "time_limit":
            info["warnings"].append(f"time limit of {self.o.time_limit:g} s reached; the best point so far is returned")
        return self.best.sol.copy(method="lns", status=status, termination=status, history=df, info=info, evaluation=None)

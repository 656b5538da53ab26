"""AO part 2 split by server: problem (12) as one NLP per server, coordinated over the delay level T (issue 16).

At a fixed association, φ, anchors of the transform (11) and Dinkelbach parameter y, problem (12) is

    max  Σ_m V_m(T) − c_T · T,     V_m(T) = max { Σ_{n∈m} f_n(b, p, P, F_n, F_nm) : delay_n ≤ T (3j), budgets of m }

(f_n the user's term of (12): its service score minus y·ω_e times its energies and transform surrogates;
c_T = y·ω_t): only T couples the servers.  Each V_m is concave in T (it is the value of a concave
maximisation whose constraints are jointly convex in the resources and T), so the master problem is a
one-dimensional concave maximisation.  Its derivative is

    G(T) = Σ_m Σ_{n∈m} λ_n(T) − c_T

with λ_n the multiplier of user n's delay constraint in its server's NLP (the sensitivity of V_m to T),
and G is non-increasing.  :class:`SplitPart2` finds the root of G from the current point's T (which every
server meets) by safeguarded Newton/secant steps; every evaluation of G solves the M server NLPs.  So that
every level can be solved, even one below what some server can meet, each server NLP carries an exact
penalty: ``delay_n ≤ T + e``, ``e ≥ 0`` at a cost ρ·e with ρ = 4·c_T.  At the optimal level the servers'
multipliers sum to c_T < ρ, so e = 0 there and the penalised and the true problem agree; below a server's
least delay e > 0, its multipliers sum to ρ and G > 0, which sends the search up.

The server NLPs are :func:`pyomo_llmmec.model.resources.build_part2` on the one-server sub-scenario, with T
fixed and kept, with the point's data, as data columns of a :class:`~pyomo_llmmec.nlp.PersistentIpopt`:
each is written once per association and re-solved warm at every level.  They run in this process
(``workers=1``), in ``workers`` processes (``concurrent.futures``, one single-process pool per worker, so
server ``s`` always goes to worker ``s mod W``: its warm start, hence the result, does not depend on the
number of workers or on timing), or on the workers of a Dask cluster (``scheduler``), pinned the same way.
Never threads: Pyomo's model writers are not thread-safe.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pyomo.environ as pyo
from pyomo.opt import TerminationCondition

from .. import physics
from ..model.resources import POINT_DATA, build_part2, set_association

log = logging.getLogger(__name__)

#: per-user data copied from the joint model into a server's NLP (model units)
USER_DATA = ("phi", "E2_0", "p_0", "rup_0", "E4_0", "P_0", "rdn_0")
#: scalar data copied likewise
SCALAR_DATA = ("t_unit", "c_service", "c_energy", "c_time")
#: the decision variables (per user) passed as the start and returned as the optimum
RESOURCES = ("b", "p", "P", "Fu", "Fs")


class ServerNLPs:
    """The server NLPs of one scenario (in the master or in a worker process), built on first use.

    Keyed by (server, users); each server keeps the NLPs of its last ``per_server`` user sets (an AO trial
    that is rejected returns to the previous set), so what is cached — and each NLP's warm start — depends on
    that server's own history only, not on how servers are spread over processes."""

    per_server = 3

    def __init__(self, scenario, units, eps: float, ipopt_options: dict):
        self.sc, self.units, self.eps = scenario, units, eps
        self.ipopt_options = dict(ipopt_options)
        self.models: dict = {}
        self.lock = threading.Lock()  # a Dask worker may run tasks on threads: one solve at a time per process

    def _model(self, s: int, users: tuple):
        from ..nlp import PersistentIpopt

        key = (s, users)
        if key not in self.models:
            mine = [k for k in self.models if k[0] == s]  # insertion order: oldest first
            for k in mine[: max(0, len(mine) - self.per_server + 1)]:
                del self.models[k]
            sub = self.sc.subset(list(users), [s])
            m = build_part2(sub, self.units, self.eps)
            set_association(m, sub, np.zeros(len(users), dtype=int))
            m.T.fix()
            # an exact penalty on a delay excess e >= 0 (delay_n <= T + e, cost rho·e): every level is feasible, and at
            # the optimal level, where the multipliers of the servers sum to c_T < rho, e = 0 (SplitPart2.solve)
            m.excess = pyo.Var(domain=pyo.NonNegativeReals, initialize=0.0)
            m.rho = pyo.Var(initialize=1.0)
            m.rho.fix()
            m.del_component(m.delay)
            m.delay = pyo.Constraint(m.N, rule=lambda m, n: m.user_delay[n] <= m.T + m.excess)
            m.obj.deactivate()
            m.obj_level = pyo.Objective(expr=m.obj.expr - m.rho * m.excess, sense=pyo.maximize)
            solver = PersistentIpopt(m, [getattr(m, c) for c in POINT_DATA] + [m.T, m.rho], self.ipopt_options, warm=True)
            self.models[key] = (m, solver)
        return self.models[key]

    @staticmethod
    def _load(m, data: dict) -> None:
        for name in USER_DATA + RESOURCES:
            comp, vals = getattr(m, name), data[name]
            for i, v in enumerate(vals):
                var = comp[i]
                if name in RESOURCES:
                    v = min(max(float(v), var.lb), var.ub)
                var.set_value(float(v))
        for name in SCALAR_DATA:
            getattr(m, name).set_value(float(data[name]))

    @staticmethod
    def _resources(m) -> dict:
        return {name: np.array([pyo.value(getattr(m, name)[i]) for i in m.N], dtype=float) for name in RESOURCES}

    def level(self, s: int, users: tuple, data: dict, T: float) -> dict:
        """Server ``s``'s NLP at delay level ``T`` (model units): its value V_m, slope Σλ and optimum."""
        with self.lock:
            m, solver = self._model(s, users)
            self._load(m, data)
            m.T.set_value(float(T))
            m.rho.set_value(float(data["rho"]))
            m.excess.set_value(0.0)
            # the multipliers of the model's previous solve are a good start only for a nearby level met without excess
            last = getattr(m, "_last_level", None)
            warm = last is not None and last[1] == 0.0 and abs(T - last[0]) <= 0.05 * T
            tc, iters, obj = solver.solve(warm=warm)
            out = {"tc": tc.value, "iterations": iters, "builds": solver.builds, "cold_retries": solver.cold_retries}
            if tc != TerminationCondition.optimal:
                m._last_level = None
                return out
            lam = solver.constraint_multipliers([m.delay[i] for i in m.N])
            e = max(float(pyo.value(m.excess)), 0.0)
            m._last_level = (float(T), 0.0 if e <= 1e-9 * T else e)
            out.update(value=obj + float(data["c_time"]) * float(T) + float(data["rho"]) * e, slope=float(np.sum(lam)),
                       excess=e, **self._resources(m))
            return out


# -- worker processes -------------------------------------------------------------------------------------------
_WORKER: dict = {}


def _init_worker(scenario, units, eps, ipopt_options, ignore_sigint=True, run="local"):
    """The server NLPs of one run in this worker process (a Dask worker may hold several runs: keyed by ``run``)."""
    if ignore_sigint:  # the master handles an interrupt (it stops between rounds); a worker must not die of it
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER[run] = ServerNLPs(scenario, units, eps, ipopt_options)


def _drop_worker(run):
    _WORKER.pop(run, None)


def _level_task(s, users, data, T, run="local"):
    nlps = _WORKER.get(run)
    if nlps is None:  # a Dask worker that joined after the run started has none of its NLPs
        raise SplitStepFailed(f"this worker process holds no server NLPs of run {run} (it joined the cluster later)")
    return nlps.level(s, users, data, T)


def _start_method() -> str:
    """forkserver (spawn where there is none): the W pools start their processes one after another, each after the
    previous pool's manager thread runs, and a fork beside a running thread may deadlock.  Both re-import the main
    module, which then needs the ``if __name__ == "__main__":`` guard (the ``llmmec`` command has it)."""
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


class _Pool:
    """Runs per-server calls in order of the servers: in process, on W single-process pools, or on Dask."""

    def __init__(self, nlps: ServerNLPs, workers: int = 1, scheduler: str | None = None):
        # a process per server at most: more would never get a server's NLP (and each holds pipes open)
        self.nlps, self.workers, self.scheduler = nlps, min(int(workers), nlps.sc.n_servers), scheduler
        self.asked = int(workers)
        self._pools: list = []
        self._client = None
        self._client_cm = None
        self._dask_workers: list = []
        self.description = "in process"
        self.run = f"{os.getpid()}-{id(self)}-{time.time_ns()}"  # names this run's NLPs on shared Dask workers
        if scheduler:
            from ..dask_setup import dask_client

            self._client_cm = dask_client(scheduler=scheduler)
            self._client, desc = self._client_cm.__enter__()
            try:
                self._client.run(_init_worker, nlps.sc, nlps.units, nlps.eps, nlps.ipopt_options, False, self.run)
                self._dask_workers = sorted(self._client.scheduler_info()["workers"])
            except BaseException:
                self.close()
                raise
            self.description = f"Dask ({desc}, {len(self._dask_workers)} worker(s))"
        elif self.workers > 1:
            args = (nlps.sc, nlps.units, nlps.eps, nlps.ipopt_options)
            ctx = multiprocessing.get_context(_start_method())
            self._pools = [ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=_init_worker, initargs=args)
                           for _ in range(self.workers)]
            self.description = f"{self.workers} processes" + (f" ({self.asked} asked; one per server at most)"
                                                               if self.asked > self.workers else "")

    def map(self, calls: list) -> list:
        """``calls``: (s, users, *args) per server; the results in the same order."""
        if self._client is not None:
            futs = [self._client.submit(_level_task, *c, run=self.run, workers=[self._dask_workers[c[0] % len(self._dask_workers)]],
                                        pure=False)
                    for c in calls]
            return self._client.gather(futs)
        if self._pools:
            futs = [self._pools[c[0] % len(self._pools)].submit(_level_task, *c) for c in calls]
            return [f.result() for f in futs]
        return [self.nlps.level(*c) for c in calls]

    def close(self) -> None:
        for p in self._pools:
            p.shutdown(wait=True, cancel_futures=True)
        self._pools = []
        if self._client_cm is not None:
            if self._client is not None:
                with contextlib.suppress(Exception):  # the workers forget this run's NLPs
                    self._client.run(_drop_worker, self.run)
            self._client_cm.__exit__(None, None, None)
            self._client_cm = self._client = None


class SplitStepFailed(RuntimeError):
    """The level search could not give a point of (12) (a server NLP failed where no other level stands in):
    a failed part-2 step, reported like a failed Ipopt solve of the joint NLP."""


class _Close(Exception):
    """The level search is within its tolerance (raised out of brentq)."""


class SplitPart2:
    """One solve of (12) on the joint part-2 model ``m`` (its data set by ``set_point``) by server NLPs.

    :meth:`solve` reads the point's data from ``m``, coordinates T, and writes the optimum back into
    ``m``'s resources and T, like a solve of ``m`` itself; it returns (termination, Ipopt iterations,
    objective of (12))."""

    def __init__(self, scenario, model, ipopt_options: dict, *, workers: int = 1, scheduler: str | None = None,
                 timer=None, tol: float = 1e-9, max_levels: int = 60):
        self.sc, self.m, self.timer, self.tol, self.max_levels = scenario, model, timer, tol, max_levels
        self.nlps = ServerNLPs(scenario, model.units, model._eps, ipopt_options)
        self.pool = _Pool(self.nlps, workers, scheduler)
        self.levels = 0  # evaluations of G (rounds of M server solves)
        self.solves = 0
        self.iterations = 0
        self.failed_levels = 0  # levels inside a bracket where a server NLP failed (the search stopped at its best level)
        self._kappa = None  # −G'(T) measured by the last secant (Newton's first step of the next solve)

    def close(self) -> None:
        self.pool.close()

    def _groups(self):
        a = self.m._assignment
        return [(s, tuple(int(i) for i in np.flatnonzero(a == s))) for s in range(self.sc.n_servers) if np.any(a == s)]

    def _data(self, users, start: dict | None, rho: float) -> dict:
        m = self.m
        idx = list(users)
        d = {name: np.array([pyo.value(getattr(m, name)[i]) for i in idx], dtype=float) for name in USER_DATA}
        for name in RESOURCES:
            d[name] = start[name] if start is not None else np.array([pyo.value(getattr(m, name)[i]) for i in idx], dtype=float)
        for name in SCALAR_DATA:
            d[name] = float(pyo.value(getattr(m, name)))
        d["rho"] = rho
        return d

    def _floor(self) -> float:
        """A lower bound of every feasible delay level at this φ (model units of T): each user alone with
        all of its server's and its own resources (the delay (3j) falls in every resource)."""
        sc, m = self.sc, self.m
        a = m._assignment
        idx = np.arange(sc.n_users)
        phi = np.array([pyo.value(m.phi[i]) for i in m.N])
        snr = sc.gain[idx, a] / sc.sigma2
        b = sc.bandwidth_hz[a]
        d = (physics.compute_delay(phi, sc.user_work_flops, sc.user_f_max_flops)
             + physics.link_delay(phi, sc.adapter_bits, physics.rate(b, snr, sc.user_p_max_w))
             + physics.compute_delay(1 - phi, sc.server_work_flops[idx, a], sc.server_f_max_flops[a])
             + physics.link_delay(1 - phi, sc.adapter_bits, physics.rate(b, snr, sc.server_p_max_w[a])))
        return float(np.max(d)) / float(pyo.value(m.t_unit))

    def solve(self):
        """(TerminationCondition.optimal, Ipopt iterations, objective of (12)); :class:`SplitStepFailed` when no
        level gives a point.

        The level search: G at T0 (the current point's delay, met by every server); a Newton step with the
        curvature measured by the previous solve; then, until the root is bracketed, the floor (below T0: a
        lower bound of every feasible level, where the penalised G is > 0) or doublings (above).  Brent's
        method (``scipy.optimize.brentq``) on the bracket, stopped as soon as the concavity bound
        F* − F(end) <= |G(end)| · (hi − lo) is at most ``tol`` · max(1, |F|).  The best level evaluated is
        returned."""
        from .. import interrupts

        m = self.m
        it0 = self.iterations
        groups = self._groups()
        c_T = float(pyo.value(m.c_time))
        rho = 4.0 * c_T if c_T > 0 else 1.0
        results: dict = {}

        def start_for(T, k):
            """Server k's start at level T: its optimum at the nearest level met without excess (else the point)."""
            done = [t for t, r in results.items() if "F" in r] or [t for t, r in results.items() if "outs" in r]
            if not done:
                return None
            o = results[min(done, key=lambda t: abs(t - T))]["outs"][k]
            return {name: o[name] for name in RESOURCES}

        def G(T):
            if T in results:
                return results[T]["G"]
            interrupts.check()
            calls = [(s, users, self._data(users, start_for(T, k), rho), T) for k, (s, users) in enumerate(groups)]
            outs = self.pool.map(calls)
            self.levels += 1
            self.solves += len(outs)
            self.iterations += sum(o["iterations"] for o in outs)
            bad = [(s, o["tc"]) for (s, _), o in zip(groups, outs) if "value" not in o]
            if bad:  # a server NLP that failed at this level
                log.debug("level T=%.12g: failed %s iterations=%s", T, bad, [o["iterations"] for o in outs])
                results[T] = {"G": math.nan, "bad": bad}
                return math.nan
            r = {"G": sum(o["slope"] for o in outs) - c_T, "outs": outs}
            if max(o["excess"] for o in outs) <= 1e-9 * T:  # every server meets T: a point of (12) at this level
                r["F"] = sum(o["value"] for o in outs) - c_T * T
            results[T] = r
            log.debug("level T=%.12g: G=%.6g F=%s iterations=%s", T, r["G"], r.get("F"), [o["iterations"] for o in outs])
            return r["G"]

        def failed(T):
            s, tc = results[T]["bad"][0]
            raise SplitStepFailed(f"the NLP of server {self.sc.server_ids[s]!r} ended {tc} at delay level {T:.6g}")

        T0 = float(pyo.value(m.T))
        g0 = G(T0)
        if math.isnan(g0):
            return failed(T0)
        floor = self._floor()
        # bracket the root: a Newton step with the previous solve's curvature, then (or without one) the floor
        # below (where G = ρ − c_T > 0 as soon as some server cannot meet the level) or doublings above
        pts = [(T0, g0)]
        if g0 != 0 and self._kappa:
            T1 = min(max(T0 + g0 / self._kappa, floor * (1 + 1e-9)), 4.0 * T0)
            if T1 != T0 and not math.isnan(G(T1)):  # (a failed Newton level is skipped)
                pts.append((T1, results[T1]["G"]))
        while not (any(g == 0 for _, g in pts) or (min(g for _, g in pts) < 0 < max(g for _, g in pts))):
            T, g = pts[-1]
            if math.isnan(g):
                return failed(T)
            if g < 0:
                nxt = floor * (1 + 1e-9) if T > floor * (1 + 1e-9) else None
            else:
                nxt = 2.0 * max(t for t, _ in pts)
                if nxt > 1e6 * T0:
                    nxt = None
            if nxt is None or len(pts) >= self.max_levels:
                break
            pts.append((nxt, G(nxt)))
        if any(math.isnan(g) for _, g in pts):
            return failed(next(t for t, g in pts if math.isnan(g)))
        pos, neg = [t for t, g in pts if g > 0], [t for t, g in pts if g < 0]
        if pos and neg and not any(g == 0 for _, g in pts):
            from scipy.optimize import brentq

            lo, hi = max(pos), min(neg)
            F_ref = max(1.0, max((abs(r["F"]) for r in results.values() if "F" in r), default=1.0))
            # F concave and |G| <= ρ: a level within xtol of the root is within tol·F_ref of the optimum over T
            xtol = max(1e-13 * max(lo, hi), self.tol * F_ref / rho)
            def G_until_close(T):
                g = G(T)
                if math.isnan(g):  # a server NLP failed at a level inside the bracket: the search ends with the best level found
                    raise _Close
                pos = [t for t, r in results.items() if r["G"] > 0]
                neg = [t for t, r in results.items() if r["G"] < 0]
                if g == 0 or (pos and neg and min(results[max(pos)]["G"], -results[min(neg)]["G"]) * (min(neg) - max(pos))
                              <= self.tol * F_ref):
                    raise _Close  # the concavity bound: F* − F(end) <= |G(end)| · (hi − lo) is small enough
                return g

            try:
                brentq(G_until_close, lo, hi, xtol=xtol, rtol=4 * np.finfo(float).eps, maxiter=self.max_levels)
            except _Close:
                pass
            except (RuntimeError, ValueError):  # no convergence in max_levels, or a NaN level: reported below
                pass
            self.failed_levels += sum(math.isnan(r["G"]) for r in results.values())
            ks = sorted((t, r["G"]) for t, r in results.items() if not math.isnan(r["G"]))
            slopes = [-(g2 - g1) / (t2 - t1) for (t1, g1), (t2, g2) in zip(ks, ks[1:]) if g1 > 0 > g2]
            self._kappa = slopes[0] if slopes and slopes[0] > 0 else self._kappa
        # the best level evaluated (within the gap above of the optimum)
        if not any("F" in r for r in results.values()):
            raise SplitStepFailed("no delay level of (12) met by every server was found")
        T = max((t for t, r in results.items() if "F" in r), key=lambda t: results[t]["F"])
        best = results[T]
        for (s, users), o in zip(groups, best["outs"]):
            for name in RESOURCES:
                comp = getattr(m, name)
                for i, v in zip(users, o[name]):
                    comp[i].set_value(float(v), skip_validation=True)
        m.T.set_value(T)
        return TerminationCondition.optimal, self.iterations - it0, float(best["F"])

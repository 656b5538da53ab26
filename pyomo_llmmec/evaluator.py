"""The evaluator: the reference physics every result is judged by (MODEL.md §3 and §8.3).

:func:`evaluate` recomputes, for one point of problem (3), the rates (§3.1), the
four delays (§3.2) and energies (§3.3), the service score (1), T_total (the
actual maximum), E_total, the SCR (2) and every constraint violation (3c)-(3i)
from the definitions — never from a solver's objective.  Every formula comes
from :mod:`pyomo_llmmec.physics`, the same functions the Pyomo models call.

A point is anything with the attributes of a :class:`pyomo_llmmec.solution.Solution`
(``assignment``, ``phi``, ``p``, ``f_user``, ``b``, ``p_server``, ``f_server``,
``n_users``, ``n_servers``); this module does not import the solution container,
so the models can evaluate a point without depending on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import physics
from .errors import InputError

#: relative tolerance of MODEL.md §8.3 for bounds and budgets
FEASIBILITY_TOL = 1e-6

#: the per-user arrays of a point of (3)
RESOURCE_FIELDS = ("phi", "p", "f_user", "b", "p_server", "f_server")


@dataclass
class Evaluation:
    """Everything the evaluator computes for one solution of one scenario.

    Per-user arrays (user n with its server m): rates in bit/s, delays in s,
    energies in J, the score v_nm.  Totals follow MODEL.md §3.

    Attributes
    ----------
    rate_up, rate_down : ndarray
        r_up, r_dn of §3.1 (bit/s).
    t1, t2, t3, t4 : ndarray
        The delays of §3.2 (s).
    e1, e2, e3, e4 : ndarray
        The energies of §3.3 (J).
    score : ndarray
        The service score (1) of the user's pair.
    service, delay, energy, cost, scr : float
        Σ v, T_total = max_n delay_n (s), E_total (J), ω_t T_total + ω_e E_total, the SCR (2).
    violations : dict
        Constraint family → largest relative violation (0 when satisfied).
    problems : list of str
        One readable line per violation beyond ``tol``.
    """

    rate_up: np.ndarray
    rate_down: np.ndarray
    t1: np.ndarray
    t2: np.ndarray
    t3: np.ndarray
    t4: np.ndarray
    e1: np.ndarray
    e2: np.ndarray
    e3: np.ndarray
    e4: np.ndarray
    score: np.ndarray
    service: float
    delay: float  # T_total = max_n delay_n
    energy: float  # E_total
    cost: float  # ω_t T_total + ω_e E_total
    scr: float
    violations: dict  # constraint -> largest relative violation (0 when satisfied)
    problems: list  # human-readable descriptions of every violation beyond tolerance
    tol: float = FEASIBILITY_TOL

    @property
    def user_delay(self) -> np.ndarray:
        """T1 + T2 + T3 + T4 of every user (s)."""
        return physics.user_delay(self.t1, self.t2, self.t3, self.t4)

    @property
    def user_energy(self) -> np.ndarray:
        """E1 + E2 + E3 + E4 of every user (J)."""
        return physics.user_energy(self.e1, self.e2, self.e3, self.e4)

    @property
    def feasible(self) -> bool:
        return not self.problems

    @property
    def max_violation(self) -> float:
        return max(self.violations.values()) if self.violations else 0.0

    def dinkelbach_objective(self, y: float) -> float:
        """Objective of (3) at this point for a given y: service − y·cost (with T = T_total)."""
        return self.service - y * self.cost

    def frame(self) -> pd.DataFrame:
        """One row per user (in the scenario's order), every column named with its unit.

        Columns: ``rate_up_bps``, ``rate_down_bps`` (bit/s), ``t1_s``..``t4_s`` and
        ``delay_s`` (s), ``e1_j``..``e4_j`` (J), ``score`` (v_nm, dimensionless).  These are
        the derived columns the solution workbook's ``links`` sheet carries (MODEL.md §8.2),
        so the names must not change.
        """
        return pd.DataFrame(
            {
                "rate_up_bps": self.rate_up,
                "rate_down_bps": self.rate_down,
                "t1_s": self.t1,
                "t2_s": self.t2,
                "t3_s": self.t3,
                "t4_s": self.t4,
                "delay_s": self.user_delay,
                "e1_j": self.e1,
                "e2_j": self.e2,
                "e3_j": self.e3,
                "e4_j": self.e4,
                "score": self.score,
            }
        )


def rates(scenario, assignment, b, p, p_server):
    """Uplink and downlink rates (bit/s) of every user on its server (MODEL.md §3.1); 0 where b or the power is 0."""
    snr = scenario.gain[np.arange(scenario.n_users), assignment] / scenario.sigma2
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        up = np.where((b > 0) & (p > 0), physics.rate(b, snr, p), 0.0)
        down = np.where((b > 0) & (p_server > 0), physics.rate(b, snr, p_server), 0.0)
    return up, down


def _terms(scenario, a, phi, p, fu, b, ps, fs):
    """Rates, the delays and energies of §3.2-§3.3 and the score (1), per user.

    A term whose work is zero is zero; a term with work but no resource (rate 0,
    F = 0) is infinite."""
    sc = scenario
    bits = sc.adapter_bits
    work_s = sc.server_work_flops[np.arange(sc.n_users), a]  # W_nm of each user's own server
    r_up, r_dn = rates(sc, a, b, p, ps)
    has_up = phi * sc.adapter_params > 0  # parameters trained/sent on the device side
    has_dn = (1.0 - phi) * sc.adapter_params > 0
    inf = np.inf

    def guarded(work, ok, value):
        return np.where(work, np.where(ok, value, inf), 0.0)

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t1 = guarded(has_up, fu > 0, physics.compute_delay(phi, sc.user_work_flops, fu))
        t2 = guarded(has_up, r_up > 0, physics.link_delay(phi, bits, r_up))
        t3 = guarded(has_dn, fs > 0, physics.compute_delay(1.0 - phi, work_s, fs))
        t4 = guarded(has_dn, r_dn > 0, physics.link_delay(1.0 - phi, bits, r_dn))
        e1 = np.where(has_up, physics.compute_energy(phi, sc.user_work_flops, sc.user_kappa, fu), 0.0)
        e2 = guarded(has_up, r_up > 0, physics.link_energy(p, t2))
        e3 = np.where(has_dn, physics.compute_energy(1.0 - phi, work_s, sc.server_kappa[a], fs), 0.0)
        e4 = guarded(has_dn, r_dn > 0, physics.link_energy(ps, t4))
        share = ps / sc.server_p_max_w[a] + fs / sc.server_f_max_flops[a] + b / sc.bandwidth_hz[a]
        score = physics.score_of_share(sc.system.score_scale, sc.system.score_norm, np.maximum(share, 0.0))
    return r_up, r_dn, (t1, t2, t3, t4), (e1, e2, e3, e4), score, has_up, has_dn


def _check_budgets(sc, s, tol, viol, problems):
    """(3c), the budgets (3d), (3f), (3h) per server and the bounds (3e), (3g) per user, relative (MODEL.md §8.3)."""
    a = s.assignment

    def over(name, label, who, ids, val, cap):
        rel = (val - cap) / cap
        v = float(max(0.0, np.max(rel)))
        viol[name] = v
        if v > tol:
            i = int(np.argmax(rel))
            problems.append(f"{label} of {who} {ids[i]!r}: {val[i]:.6g} > {cap[i]:.6g}")

    def budget(name, label, used_by_user, cap):  # Σ over the server's users ≤ its budget
        over(name, label, "server", sc.server_ids, np.bincount(a, weights=used_by_user, minlength=sc.n_servers), cap)

    def bound(name, label, val, cap):  # a user's own value ≤ its maximum
        over(name, label, "user", sc.user_ids, val, cap)

    v3c = float(max(0.0, np.max(-s.phi), np.max(s.phi - 1.0)))
    viol["phi_bounds (3c)"] = v3c
    if v3c > tol:
        problems.append(f"phi outside [0, 1] (by {v3c:.3g})")
    budget("bandwidth_budget (3d)", "bandwidth", s.b, sc.bandwidth_hz)
    bound("user_power (3e)", "transmit power", s.p, sc.user_p_max_w)
    budget("server_power_budget (3f)", "transmit power", s.p_server, sc.server_p_max_w)
    bound("user_compute (3g)", "compute speed", s.f_user, sc.user_f_max_flops)
    budget("server_compute_budget (3h)", "compute speed", s.f_server, sc.server_f_max_flops)


def _check_signs(sc, s, has_up, has_dn, tol, viol, problems):
    """(3i), and 'a resource that carries work is positive' (MODEL.md §8.3)."""
    a = s.assignment
    scales = {
        "p": sc.user_p_max_w,
        "f_user": sc.user_f_max_flops,
        "b": sc.bandwidth_hz[a],
        "p_server": sc.server_p_max_w[a],
        "f_server": sc.server_f_max_flops[a],
    }
    neg = max(float(np.max(-getattr(s, k) / scl)) for k, scl in scales.items())
    viol["nonnegative (3i)"] = max(0.0, neg)
    if neg > tol:
        problems.append(f"negative resource (by {neg:.3g} of its budget)")
    need = {
        "b": s.b > 0,
        "p": (s.p > 0) | ~has_up,
        "f_user": (s.f_user > 0) | ~has_up,
        "p_server": (s.p_server > 0) | ~has_dn,
        "f_server": (s.f_server > 0) | ~has_dn,
    }
    bad = {k: np.flatnonzero(~ok) for k, ok in need.items() if not np.all(ok)}
    viol["positive_resources"] = float(sum(len(v) for v in bad.values()))
    for k, idx in bad.items():
        problems.append(f"{k} must be > 0 for user {sc.user_ids[int(idx[0])]!r} ({len(idx)} user(s)): it carries work")


def evaluate(scenario, solution, *, tol: float = FEASIBILITY_TOL, attach: bool = True) -> Evaluation:
    """Evaluate a point of (3) from the definitions of MODEL.md §3 and §8.3.

    Parameters
    ----------
    scenario : Scenario
    solution : Solution
        Or any object with its per-user arrays (see the module docstring).
    tol : float
        Relative feasibility tolerance (default ``FEASIBILITY_TOL`` = 1e-6).
    attach : bool
        Store the result in ``solution.evaluation``.

    Returns
    -------
    Evaluation
        Vectorised over users.  A delay or energy term whose work is zero is zero;
        a term with work but no resource (rate 0, F = 0) is infinite and the
        solution is reported infeasible.
    """
    if solution.n_users != scenario.n_users or solution.n_servers != scenario.n_servers:
        raise InputError(
            f"solution is for {solution.n_users} users and {solution.n_servers} servers; the scenario has "
            f"{scenario.n_users} and {scenario.n_servers}"
        )
    sc, s = scenario, solution
    problems: list[str] = []
    viol: dict[str, float] = {}

    finite = all(np.all(np.isfinite(getattr(s, k))) for k in RESOURCE_FIELDS)
    if not finite:
        bad = [k for k in RESOURCE_FIELDS if not np.all(np.isfinite(getattr(s, k)))]
        problems.append(f"non-finite values in {', '.join(bad)}")
        viol["finite"] = np.inf

    r_up, r_dn, t, e, score, has_up, has_dn = _terms(sc, s.assignment, s.phi, s.p, s.f_user, s.b, s.p_server, s.f_server)
    delay_n = physics.user_delay(*t)  # T1 + T2 + T3 + T4 per user (MODEL.md §3.2)
    T = float(np.max(delay_n))  # T_total
    E = float(np.sum(physics.user_energy(*e)))
    service = float(np.sum(score))
    w_t, w_e = sc.system.weight_time, sc.system.weight_energy
    cost = physics.cost(T, E, w_t, w_e)
    if np.isnan(T) or np.isnan(E) or np.isnan(service):
        problems.append("delay, energy or service is not a number")
        scr = 0.0
    else:
        scr = physics.scr(service, T, E, w_t, w_e)  # (2)

    with np.errstate(invalid="ignore"):
        _check_budgets(sc, s, tol, viol, problems)
        _check_signs(sc, s, has_up, has_dn, tol, viol, problems)
    if not np.isfinite(T) and finite:
        problems.append("some delay is infinite")

    ev = Evaluation(r_up, r_dn, *t, *e, score, service, T, E, cost, float(scr), viol, problems, tol)
    if attach:
        solution.evaluation = ev
    return ev

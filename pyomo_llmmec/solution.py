"""Solutions and the evaluator (MODEL.md §3 and §8).

A :class:`Solution` holds one point of problem (3): the association (one server
per user, so (3a)-(3b) hold by construction), φ, and every resource.  Because a
user has exactly one server, the pair resources ``b_nm, P_nm, F_nm`` are stored
per user for its own server.  :func:`evaluate` recomputes rates, the four delays
and energies, the service score (1), T_total (the actual maximum), E_total, the
SCR (2) and every constraint violation from the definitions — never from a
solver's objective.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import InputError

#: relative tolerance of MODEL.md §8 for bounds and budgets
FEASIBILITY_TOL = 1e-6

RESOURCE_FIELDS = ("phi", "p", "f_user", "b", "p_server", "f_server")


@dataclass
class Evaluation:
    """Everything the evaluator computes for one solution of one scenario.

    Per-user arrays (user n with its server m): rates in bit/s, delays in s,
    energies in J, the score v_nm.  Totals follow MODEL.md §3.
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
        return self.t1 + self.t2 + self.t3 + self.t4

    @property
    def user_energy(self) -> np.ndarray:
        return self.e1 + self.e2 + self.e3 + self.e4

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


@dataclass
class Solution:
    """One point of problem (3), plus how it was found.

    ``assignment[i]`` is the position of user i's server in ``server_ids``.
    Resources are per user: ``b``, ``p_server``, ``f_server`` are b_nm, P_nm,
    F_nm of user n's own server m.  SI units throughout.
    """

    user_ids: tuple
    server_ids: tuple
    assignment: np.ndarray
    phi: np.ndarray
    p: np.ndarray  # p_n (W)
    f_user: np.ndarray  # F_n (FLOP/s)
    b: np.ndarray  # b_nm (Hz)
    p_server: np.ndarray  # P_nm (W)
    f_server: np.ndarray  # F_nm (FLOP/s)
    method: str = "manual"
    status: str = "unknown"
    termination: str = ""
    wall_s: float = 0.0
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    info: dict = field(default_factory=dict)
    evaluation: Evaluation | None = None

    def __post_init__(self):
        self.user_ids = tuple(self.user_ids)
        self.server_ids = tuple(self.server_ids)
        n, m = len(self.user_ids), len(self.server_ids)
        a = np.asarray(self.assignment)
        if a.shape != (n,):
            raise InputError(f"assignment has shape {a.shape}, expected ({n},)")
        if not np.issubdtype(a.dtype, np.integer):
            if not np.all(np.isfinite(a.astype(float))) or not np.all(np.equal(np.mod(a, 1), 0)):
                raise InputError("assignment must hold whole server positions")
            a = a.astype(int)
        if np.any(a < 0) or np.any(a >= m):
            raise InputError(f"assignment must hold server positions in 0..{m - 1}")
        self.assignment = a.astype(np.int64)
        for name in RESOURCE_FIELDS:
            v = np.asarray(getattr(self, name), dtype=float)
            if v.shape == ():
                v = np.full(n, float(v))
            if v.shape != (n,):
                raise InputError(f"{name} has shape {v.shape}, expected ({n},)")
            setattr(self, name, v.copy())

    # -- constructors -------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, scenario, assignment, phi, p, f_user, b, p_server, f_server, **kw) -> "Solution":
        return cls(scenario.user_ids, scenario.server_ids, assignment, phi, p, f_user, b, p_server, f_server, **kw)

    def copy(self, **changes) -> "Solution":
        new = dataclasses.replace(self, **changes)
        if "history" not in changes:
            new.history = self.history.copy()
        if "info" not in changes:
            new.info = dict(self.info)
        return new

    # -- views ---------------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_servers(self) -> int:
        return len(self.server_ids)

    @property
    def x(self) -> np.ndarray:
        """The association matrix x_nm (N × M, 0/1)."""
        x = np.zeros((self.n_users, self.n_servers))
        x[np.arange(self.n_users), self.assignment] = 1.0
        return x

    @property
    def loads(self) -> np.ndarray:
        """Number of users of each server."""
        return np.bincount(self.assignment, minlength=self.n_servers)

    def _need_eval(self):
        if self.evaluation is None:
            raise ValueError("solution has not been evaluated: call pyomo_llmmec.evaluate(scenario, solution)")
        return self.evaluation

    @property
    def scr(self) -> float:
        return self._need_eval().scr

    @property
    def service(self) -> float:
        return self._need_eval().service

    @property
    def delay(self) -> float:
        return self._need_eval().delay

    @property
    def energy(self) -> float:
        return self._need_eval().energy

    @property
    def feasible(self) -> bool:
        return self._need_eval().feasible

    def frame(self) -> pd.DataFrame:
        """One row per user: server, φ and every resource (+ the evaluation when present)."""
        df = pd.DataFrame(
            {
                "user": list(self.user_ids),
                "server": [self.server_ids[j] for j in self.assignment],
                "phi": self.phi,
                "p_w": self.p,
                "f_flops": self.f_user,
                "bandwidth_hz": self.b,
                "p_server_w": self.p_server,
                "f_server_flops": self.f_server,
            }
        )
        if self.evaluation is not None:
            df = pd.concat([df, self.evaluation.frame()], axis=1)
        return df

    def summary(self) -> dict:
        """The rows of the workbook's ``summary`` sheet."""
        ev = self.evaluation
        out = {
            "scr": ev.scr if ev else None,
            "service": ev.service if ev else None,
            "delay_s": ev.delay if ev else None,
            "energy_j": ev.energy if ev else None,
            "method": self.method,
            "status": self.status,
            "wall_s": float(self.wall_s),
            "feasible": bool(ev.feasible) if ev else None,
            "max_violation": ev.max_violation if ev else None,
            "termination": self.termination,
            "n_users": self.n_users,
            "n_servers": self.n_servers,
        }
        for k in ("bound", "gap", "iterations", "outer_iterations", "part1_steps", "part2_steps", "seed", "moves_tried", "accepted", "nlp_solves"):
            if k in self.info and self.info[k] is not None:
                out[k] = self.info[k]
        return out

    def __repr__(self) -> str:
        if self.evaluation is None:
            return f"Solution(method={self.method!r}, status={self.status!r}, users={self.n_users}, servers={self.n_servers}, not evaluated)"
        ev = self.evaluation
        return (
            f"Solution(method={self.method!r}, status={self.status!r}, scr={ev.scr:.6g}, service={ev.service:.6g}, "
            f"delay_s={ev.delay:.6g}, energy_j={ev.energy:.6g}, feasible={ev.feasible}, wall_s={self.wall_s:.3g}, "
            f"loads={self.loads.tolist()})"
        )


def _log2_1p_ratio(num, den):
    """b·log2(1 + num/den)-style helper: log2(1 + num/den), 0 where num == 0, -inf-safe."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log1p(num / den) / np.log(2.0)


def rates(scenario, assignment, b, p, p_server):
    """Uplink and downlink rates (bit/s) of every user on its server (MODEL.md §3)."""
    g = scenario.gain[np.arange(scenario.n_users), assignment]
    s2 = scenario.sigma2
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.where((b > 0) & (p > 0), b * _log2_1p_ratio(g * p, s2 * b), 0.0)
        down = np.where((b > 0) & (p_server > 0), b * _log2_1p_ratio(g * p_server, s2 * b), 0.0)
    return up, down


def evaluate(scenario, solution: Solution, *, tol: float = FEASIBILITY_TOL, attach: bool = True) -> Evaluation:
    """Evaluate a solution of (3) from the definitions of MODEL.md §3 and §8.

    Vectorised over users.  A delay or energy term whose work is zero is zero;
    a term with work but no resource (rate 0, F = 0) is infinite and the
    solution is reported infeasible.  With ``attach`` the result is stored in
    ``solution.evaluation``.
    """
    if solution.n_users != scenario.n_users or solution.n_servers != scenario.n_servers:
        raise InputError(
            f"solution is for {solution.n_users} users and {solution.n_servers} servers; the scenario has "
            f"{scenario.n_users} and {scenario.n_servers}"
        )
    sc, s = scenario, solution
    a = s.assignment
    phi, p, fu, b, ps, fs = s.phi, s.p, s.f_user, s.b, s.p_server, s.f_server
    problems: list[str] = []
    viol: dict[str, float] = {}

    finite = all(np.all(np.isfinite(getattr(s, k))) for k in RESOURCE_FIELDS)
    if not finite:
        bad = [k for k in RESOURCE_FIELDS if not np.all(np.isfinite(getattr(s, k)))]
        problems.append(f"non-finite values in {', '.join(bad)}")
        viol["finite"] = np.inf

    d = sc.adapter_params
    wb = sc.system.bits_per_param
    e_m = sc.server_epochs[a]
    kappa_m = sc.server_kappa[a]
    up_work = phi * d  # parameters trained/sent on the device side
    down_work = (1.0 - phi) * d
    r_up, r_dn = rates(sc, a, b, p, ps)

    inf = np.inf
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        has_up = up_work > 0
        has_dn = down_work > 0
        t1 = np.where(has_up, np.where(fu > 0, sc.user_epochs * sc.flops_per_param * up_work / fu, inf), 0.0)
        t2 = np.where(has_up, np.where(r_up > 0, up_work * wb / r_up, inf), 0.0)
        t3 = np.where(has_dn, np.where(fs > 0, e_m * sc.flops_per_param * down_work / fs, inf), 0.0)
        t4 = np.where(has_dn, np.where(r_dn > 0, down_work * wb / r_dn, inf), 0.0)
        e1 = np.where(has_up, sc.user_epochs * sc.user_kappa * up_work * sc.flops_per_param * fu**2, 0.0)
        e2 = np.where(has_up, np.where(r_up > 0, p * up_work * wb / r_up, inf), 0.0)
        e3 = np.where(has_dn, e_m * kappa_m * down_work * sc.flops_per_param * fs**2, 0.0)
        e4 = np.where(has_dn, np.where(r_dn > 0, ps * down_work * wb / r_dn, inf), 0.0)
        share = ps / sc.server_p_max_w[a] + fs / sc.server_f_max_flops[a] + b / sc.bandwidth_hz[a]
        score = sc.system.score_scale * np.log1p(sc.system.score_norm * np.maximum(share, 0.0))

    delay_n = t1 + t2 + t3 + t4
    T = float(np.max(delay_n))
    E = float(np.sum(e1 + e2 + e3 + e4))
    service = float(np.sum(score))
    cost = sc.system.weight_time * T + sc.system.weight_energy * E
    if np.isnan(T) or np.isnan(E) or np.isnan(service):
        problems.append("delay, energy or service is not a number")
        scr = 0.0
    elif not np.isfinite(cost):
        scr = 0.0
    elif cost <= 0:
        scr = np.inf
    else:
        scr = service / cost

    # ---- constraint violations, relative (MODEL.md §8) ---------------------------
    M = sc.n_servers

    def budget(name, label, used_by_user, cap):
        used = np.bincount(a, weights=used_by_user, minlength=M)
        rel = (used - cap) / cap
        v = float(max(0.0, np.max(rel)))
        viol[name] = v
        if v > tol:
            j = int(np.argmax(rel))
            problems.append(f"{label} of server {sc.server_ids[j]!r}: {used[j]:.6g} > {cap[j]:.6g}")

    def bound(name, label, val, cap):
        rel = (val - cap) / cap
        v = float(max(0.0, np.max(rel)))
        viol[name] = v
        if v > tol:
            i = int(np.argmax(rel))
            problems.append(f"{label} of user {sc.user_ids[i]!r}: {val[i]:.6g} > {cap[i]:.6g}")

    with np.errstate(invalid="ignore"):
        v3c = float(max(0.0, np.max(-phi), np.max(phi - 1.0)))
        viol["phi_bounds (3c)"] = v3c
        if v3c > tol:
            problems.append(f"phi outside [0, 1] (by {v3c:.3g})")
        budget("bandwidth_budget (3d)", "bandwidth", b, sc.bandwidth_hz)
        bound("user_power (3e)", "transmit power", p, sc.user_p_max_w)
        budget("server_power_budget (3f)", "transmit power", ps, sc.server_p_max_w)
        bound("user_compute (3g)", "compute speed", fu, sc.user_f_max_flops)
        budget("server_compute_budget (3h)", "compute speed", fs, sc.server_f_max_flops)
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
        # resources that carry work must be positive (MODEL.md §8)
        need = {
            "b": b > 0,
            "p": (p > 0) | ~has_up,
            "f_user": (fu > 0) | ~has_up,
            "p_server": (ps > 0) | ~has_dn,
            "f_server": (fs > 0) | ~has_dn,
        }
        bad = {k: np.flatnonzero(~ok) for k, ok in need.items() if not np.all(ok)}
        viol["positive_resources"] = float(sum(len(v) for v in bad.values()))
        for k, idx in bad.items():
            problems.append(f"{k} must be > 0 for user {sc.user_ids[int(idx[0])]!r} ({len(idx)} user(s)): it carries work")
    if not np.isfinite(T) and finite:
        problems.append("some delay is infinite")

    ev = Evaluation(r_up, r_dn, t1, t2, t3, t4, e1, e2, e3, e4, score, service, T, E, cost, float(scr), viol, problems, tol)
    if attach:
        solution.evaluation = ev
    return ev

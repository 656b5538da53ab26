"""The result container: a point of problem (3) and how it was found (MODEL.md §8.2).

A :class:`Solution` holds one point of problem (3): the association (one server
per user, so (3a)-(3b) hold by construction), φ, and every resource.  Because a
user has exactly one server, the pair resources ``b_nm, P_nm, F_nm`` are stored
per user for its own server.  The evaluator (rates, delays, energies, the score
(1), the SCR (2), the feasibility checks) is :mod:`pyomo_llmmec.evaluator`;
``evaluate``, ``Evaluation``, ``rates`` and ``FEASIBILITY_TOL`` are re-exported
here so that ``from pyomo_llmmec.solution import evaluate`` keeps working.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import InputError
from .evaluator import FEASIBILITY_TOL, RESOURCE_FIELDS, Evaluation, evaluate, rates
from .status import Status

__all__ = ["Solution", "Evaluation", "evaluate", "rates", "FEASIBILITY_TOL", "RESOURCE_FIELDS"]


@dataclass
class Solution:
    """One point of problem (3), plus how it was found.

    ``assignment[i]`` is the position of user i's server in ``server_ids``.
    Resources are per user: ``b``, ``p_server``, ``f_server`` are b_nm, P_nm,
    F_nm of user n's own server m.  SI units throughout.

    Views (DataFrames, one row per user, column names with units): :meth:`users_frame`
    and :meth:`links_frame` (the workbook's ``users`` and ``links`` sheets, the latter
    optionally with the channel gain), :meth:`frame` (both, with the evaluation).
    ``history`` is one row per recorded step of an iterative method (the workbook's
    ``history`` sheet, docs/WORKBOOKS.md: ``iteration``, ``step``, ``scr``,
    ``candidate_scr``, ``accepted``, ``objective``, ``status``, ``seconds``, ...).
    ``status`` and ``termination`` are :class:`~pyomo_llmmec.status.Status` values.
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
    status: Status = Status.UNKNOWN  # how the method ended (pyomo_llmmec.status); a text is parsed
    termination: Status | str = ""  # the same vocabulary, or "" when not set
    wall_s: float = 0.0
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    info: dict = field(default_factory=dict)
    evaluation: Evaluation | None = None

    def __post_init__(self):
        try:
            self.status = Status.parse(self.status)
            self.termination = Status.parse(self.termination) if self.termination not in ("", None) else ""
        except ValueError as exc:
            raise InputError(str(exc)) from None
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

    def users_frame(self) -> pd.DataFrame:
        """One row per user, the solution workbook's ``users`` sheet (MODEL.md §8.2).

        Columns: ``user``, ``server`` (ids), ``phi`` (φ_n), ``p_w`` (p_n, W), ``f_flops`` (F_n, FLOP/s).
        """
        return pd.DataFrame(
            {
                "user": list(self.user_ids),
                "server": [self.server_ids[j] for j in self.assignment],
                "phi": self.phi,
                "p_w": self.p,
                "f_flops": self.f_user,
            }
        )

    def links_frame(self, scenario=None, *, evaluation: bool = True) -> pd.DataFrame:
        """One row per assigned user–server pair (x_nm = 1), in the users' order.

        Columns: ``user``, ``server``, then with ``scenario`` the pair's channel ``gain``
        (g_nm, linear), then ``bandwidth_hz`` (b_nm, Hz), ``p_server_w`` (P_nm, W),
        ``f_server_flops`` (F_nm, FLOP/s) — the solution workbook's ``links`` sheet
        (MODEL.md §8.2) — and, with ``evaluation`` and an evaluated solution, the derived
        columns of :meth:`Evaluation.frame <pyomo_llmmec.evaluator.Evaluation.frame>`
        (``rate_up_bps``, ``rate_down_bps``, ``t1_s``..``t4_s``, ``delay_s``, ``e1_j``..``e4_j``, ``score``).
        """
        cols = {"user": list(self.user_ids), "server": [self.server_ids[j] for j in self.assignment]}
        if scenario is not None:
            if scenario.n_users != self.n_users or scenario.n_servers != self.n_servers:
                raise InputError(f"solution is for {self.n_users} users and {self.n_servers} servers; the scenario has "
                                 f"{scenario.n_users} and {scenario.n_servers}")
            cols["gain"] = scenario.gain[np.arange(self.n_users), self.assignment]
        cols.update({"bandwidth_hz": self.b, "p_server_w": self.p_server, "f_server_flops": self.f_server})
        df = pd.DataFrame(cols)
        if evaluation and self.evaluation is not None:
            df = pd.concat([df, self.evaluation.frame()], axis=1)
        return df

    def frame(self) -> pd.DataFrame:
        """One row per user: :meth:`users_frame` and :meth:`links_frame` side by side.

        Columns: ``user``, ``server``, ``phi``, ``p_w``, ``f_flops``, ``bandwidth_hz``,
        ``p_server_w``, ``f_server_flops`` (+ the evaluation's columns when evaluated); every
        name carries its unit (``_w`` W, ``_flops`` FLOP/s, ``_hz`` Hz, ``_s`` s, ``_j`` J, ``_bps`` bit/s).
        """
        return pd.concat([self.users_frame(), self.links_frame().drop(columns=["user", "server"])], axis=1)

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
        # bound and gap are always rows (empty when no bound was computed: SolveOptions.bound)
        out["bound"] = self.info.get("bound")
        out["gap"] = self.info.get("gap")
        for k in ("bound_method", "bound_seconds", "iterations", "outer_iterations", "part1_steps", "part2_steps", "assoc", "seed",
                  "moves_tried", "accepted", "nlp_solves"):
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

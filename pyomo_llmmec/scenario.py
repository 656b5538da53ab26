"""Scenario: the data of MODEL.md §1, in SI units, and the generator of §7.

A :class:`Scenario` is immutable.  Build one with :func:`generate_scenario`,
:func:`pyomo_llmmec.io.read_scenario` or :meth:`Scenario.from_frames`; every
route runs the same validation rules (:mod:`pyomo_llmmec.validation`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import InputError
from .schema import CHANNEL_COLUMNS, SYSTEM_PARAMETERS
from .validation import check_scenario_arrays, scenario_fields_from_frames

_GAIN_MIN = next(f for f in CHANNEL_COLUMNS if f.name == "gain").supported[0]


@dataclass(frozen=True)
class SystemParams:
    """System-wide constants (sheet ``system``)."""

    noise_psd_dbm_per_hz: float = -134.0  # σ² as printed in the paper [decision, MODEL.md §7]
    bits_per_param: float = 32.0  # ω_b
    weight_time: float = 0.5  # ω_t
    weight_energy: float = 0.005  # ω_e
    score_scale: float = 10000.0 / math.log(2.0)  # ϖ1
    score_norm: float = 1.0 / 3.0  # ϖ2

    @property
    def noise_psd_w_per_hz(self) -> float:
        """σ² in W/Hz: 10^((dBm - 30)/10)."""
        return 10.0 ** ((self.noise_psd_dbm_per_hz - 30.0) / 10.0)


def _readonly(a) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


_ARRAY_FIELDS = (
    "adapter_params", "flops_per_param", "user_epochs", "user_kappa", "user_p_max_w", "user_f_max_flops",
    "bandwidth_hz", "server_p_max_w", "server_f_max_flops", "server_kappa", "server_epochs", "gain", "user_xy", "server_xy",
)


@dataclass(frozen=True, eq=False)
class Scenario:
    """An LLM-MEC instance: N users, M servers, the channel gains and system constants.

    Arrays are indexed by position (user ``i`` is ``user_ids[i]``); ids are the
    workbook's (``int`` where the workbook has whole numbers, else ``str``).
    Symbols of MODEL.md §1 in brackets.
    """

    user_ids: tuple
    server_ids: tuple
    adapter_params: np.ndarray  # d_n
    flops_per_param: np.ndarray  # t_n
    user_epochs: np.ndarray  # e_n
    user_kappa: np.ndarray  # κ_n
    user_p_max_w: np.ndarray  # p_max_n
    user_f_max_flops: np.ndarray  # F_max_n
    bandwidth_hz: np.ndarray  # b_max_m
    server_p_max_w: np.ndarray  # p_max_m
    server_f_max_flops: np.ndarray  # F_max_m
    server_kappa: np.ndarray  # κ_m
    server_epochs: np.ndarray  # e_m
    gain: np.ndarray  # g_nm, shape (N, M)
    system: SystemParams = field(default_factory=SystemParams)
    user_xy: np.ndarray | None = None  # optional positions (N, 2), m
    server_xy: np.ndarray | None = None  # optional positions (M, 2), m
    name: str = "scenario"

    def __post_init__(self):
        for name in _ARRAY_FIELDS:
            v = getattr(self, name)
            if v is not None or not name.endswith("_xy"):
                object.__setattr__(self, name, _readonly(v))
        object.__setattr__(self, "user_ids", tuple(self.user_ids))
        object.__setattr__(self, "server_ids", tuple(self.server_ids))
        n, m = self.n_users, self.n_servers
        for name in ("adapter_params", "flops_per_param", "user_epochs", "user_kappa", "user_p_max_w", "user_f_max_flops"):
            if getattr(self, name).shape != (n,):
                raise InputError(f"{name} has shape {getattr(self, name).shape}, expected ({n},)")
        for name in ("bandwidth_hz", "server_p_max_w", "server_f_max_flops", "server_kappa", "server_epochs"):
            if getattr(self, name).shape != (m,):
                raise InputError(f"{name} has shape {getattr(self, name).shape}, expected ({m},)")
        if self.gain.shape != (n, m):
            raise InputError(f"gain has shape {self.gain.shape}, expected ({n}, {m})")
        if n == 0 or m == 0:
            raise InputError("a scenario needs at least one user and one server")

    # -- sizes and handy views -------------------------------------------------
    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_servers(self) -> int:
        return len(self.server_ids)

    @property
    def sigma2(self) -> float:
        """Noise power spectral density σ² in W/Hz."""
        return self.system.noise_psd_w_per_hz

    @property
    def user_work_flops(self) -> np.ndarray:
        """Local training work of the whole adapter, e_n t_n d_n (FLOP)."""
        return self.user_epochs * self.flops_per_param * self.adapter_params

    @property
    def server_work_flops(self) -> np.ndarray:
        """Server training work of user n's whole adapter at server m, e_m t_n d_n (FLOP), (N, M)."""
        return np.outer(self.flops_per_param * self.adapter_params, self.server_epochs)

    @property
    def adapter_bits(self) -> np.ndarray:
        """d_n ω_b: bits of user n's whole adapter."""
        return self.adapter_params * self.system.bits_per_param

    def __repr__(self) -> str:
        return f"Scenario({self.name!r}, users={self.n_users}, servers={self.n_servers})"

    # -- tables ------------------------------------------------------------------
    def users_frame(self) -> pd.DataFrame:
        df = pd.DataFrame(
            {
                "user": list(self.user_ids),
                "adapter_params": self.adapter_params,
                "flops_per_param": self.flops_per_param,
                "epochs": self.user_epochs,
                "kappa": self.user_kappa,
                "p_max_w": self.user_p_max_w,
                "f_max_flops": self.user_f_max_flops,
            }
        )
        if self.user_xy is not None:
            df["x_m"], df["y_m"] = self.user_xy[:, 0], self.user_xy[:, 1]
        return df

    def servers_frame(self) -> pd.DataFrame:
        df = pd.DataFrame(
            {
                "server": list(self.server_ids),
                "bandwidth_hz": self.bandwidth_hz,
                "p_max_w": self.server_p_max_w,
                "f_max_flops": self.server_f_max_flops,
                "kappa": self.server_kappa,
                "epochs": self.server_epochs,
            }
        )
        if self.server_xy is not None:
            df["x_m"], df["y_m"] = self.server_xy[:, 0], self.server_xy[:, 1]
        return df

    def channels_frame(self) -> pd.DataFrame:
        n, m = self.n_users, self.n_servers
        return pd.DataFrame(
            {
                "user": np.repeat(np.array(self.user_ids, dtype=object), m),
                "server": np.tile(np.array(self.server_ids, dtype=object), n),
                "gain": self.gain.reshape(-1),
            }
        )

    def system_frame(self) -> pd.DataFrame:
        rows = []
        for f in SYSTEM_PARAMETERS:
            rows.append({"parameter": f.name, "value": getattr(self.system, f.name), "unit": f.unit, "description": f.description})
        return pd.DataFrame(rows)

    # -- derived scenarios ---------------------------------------------------------
    def replace(self, **changes) -> "Scenario":
        """A copy with some fields changed, e.g. ``sc.replace(bandwidth_hz=sc.bandwidth_hz * 2)``.

        System constants may be given by name too: ``sc.replace(weight_time=0.1)``.
        Scalars given for per-user or per-server arrays are broadcast.
        """
        sys_names = {f.name for f in dataclasses.fields(SystemParams)}
        sys_changes = {k: changes.pop(k) for k in list(changes) if k in sys_names}
        if sys_changes:
            changes["system"] = dataclasses.replace(self.system, **sys_changes)
        names = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - names
        if unknown:
            raise TypeError(f"unknown scenario field(s): {', '.join(sorted(unknown))}")
        for k, v in list(changes.items()):
            cur = getattr(self, k)
            if isinstance(cur, np.ndarray) and np.ndim(v) == 0:
                changes[k] = np.full(cur.shape, float(v))
        new = dataclasses.replace(self, **changes)
        check_scenario_arrays(new)
        return new

    def subset(self, users, servers) -> "Scenario":
        """The scenario restricted to some users and servers (positions), e.g. one server and its users."""
        users, servers = np.asarray(users, dtype=int), np.asarray(servers, dtype=int)
        pick = lambda a, idx: None if a is None else a[idx]  # noqa: E731
        return dataclasses.replace(
            self,
            user_ids=tuple(self.user_ids[i] for i in users),
            server_ids=tuple(self.server_ids[j] for j in servers),
            adapter_params=self.adapter_params[users], flops_per_param=self.flops_per_param[users],
            user_epochs=self.user_epochs[users], user_kappa=self.user_kappa[users],
            user_p_max_w=self.user_p_max_w[users], user_f_max_flops=self.user_f_max_flops[users],
            bandwidth_hz=self.bandwidth_hz[servers], server_p_max_w=self.server_p_max_w[servers],
            server_f_max_flops=self.server_f_max_flops[servers], server_kappa=self.server_kappa[servers],
            server_epochs=self.server_epochs[servers], gain=self.gain[np.ix_(users, servers)],
            user_xy=pick(self.user_xy, users), server_xy=pick(self.server_xy, servers),
            name=f"{self.name}[subset]",
        )

    @classmethod
    def from_frames(cls, system, users, servers, channels, *, name="scenario", path=None) -> "Scenario":
        """Validate the four sheets (as read from a workbook) and build a Scenario."""
        fields = scenario_fields_from_frames(system, users, servers, channels, name=name, path=path)
        return cls(system=SystemParams(**fields.pop("system")), **fields)


# ------------------------------------------------------------------------------
# The generator of MODEL.md §7
# ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratorSettings:
    """Settings of :func:`generate_scenario`; defaults are the paper's (MODEL.md §7)."""

    area_m: float = 1000.0  # side of the square area
    min_distance_m: float = 1.0  # distances are clamped to at least this
    path_loss_db_at_1km: float = 128.1  # PL = a + b log10(d_km)
    path_loss_slope_db: float = 37.6
    rayleigh: bool = True  # |l|^2 ~ Exp(1) small-scale fading
    adapter_params_range: tuple = (1.2e6, 14e6)  # d_n ~ U[.]
    token_bits_range: tuple = (10e6, 50e6)  # token data ~ U[.]; t_n takes the same number [decision]
    user_epochs: float = 1.0
    user_kappa: float = 1e-38
    user_p_max_w: float = 0.2
    user_f_max_flops: float = 19.58e12  # 4 GPUs x 8.9 TFLOP/s x 0.55 [decision, MODEL.md §1]
    bandwidth_hz: float = 10e6
    server_p_max_w: float = 10.0
    server_f_max_flops: float = 1372.8e12  # 8 GPUs x 312 TFLOP/s x 0.55
    server_kappa: float = 1e-38
    server_epochs: float = 1.0


def generate_scenario(n_users: int = 10, n_servers: int = 2, seed: int = 0, name: str | None = None, **overrides) -> Scenario:
    """Random scenario of MODEL.md §7 (the paper's Section V-A defaults).

    ``overrides`` may name any :class:`GeneratorSettings` field (e.g.
    ``bandwidth_hz=20e6``, ``area_m=500``) or any :class:`SystemParams` field
    (e.g. ``noise_psd_dbm_per_hz=-174``, ``weight_time=0.1``).  The same
    arguments always give the same scenario.  The random draws are, in order:
    user positions, server positions, adapter sizes, token sizes, fading.
    A gain below the supported minimum (docs/WORKBOOKS.md; a deep fade) is raised to it.
    """
    if int(n_users) != n_users or n_users < 1 or int(n_servers) != n_servers or n_servers < 1:
        raise InputError(f"need positive whole numbers of users and servers, got {n_users} and {n_servers}")
    n_users, n_servers = int(n_users), int(n_servers)
    gen_names = {f.name for f in dataclasses.fields(GeneratorSettings)}
    sys_names = {f.name for f in dataclasses.fields(SystemParams)}
    unknown = set(overrides) - gen_names - sys_names
    if unknown:
        raise InputError(
            f"unknown generator setting(s): {', '.join(sorted(unknown))}; "
            f"valid: {', '.join(sorted(gen_names | sys_names))}"
        )
    g = GeneratorSettings(**{k: v for k, v in overrides.items() if k in gen_names})
    system = SystemParams(**{k: float(v) for k, v in overrides.items() if k in sys_names})

    rng = np.random.default_rng(seed)
    user_xy = rng.uniform(0.0, g.area_m, size=(n_users, 2))
    server_xy = rng.uniform(0.0, g.area_m, size=(n_servers, 2))
    d = rng.uniform(*g.adapter_params_range, size=n_users)
    tokens = rng.uniform(*g.token_bits_range, size=n_users)
    fading = rng.exponential(1.0, size=(n_users, n_servers)) if g.rayleigh else np.ones((n_users, n_servers))

    dist = np.linalg.norm(user_xy[:, None, :] - server_xy[None, :, :], axis=2)
    dist_km = np.maximum(dist, g.min_distance_m) / 1000.0
    pl_db = g.path_loss_db_at_1km + g.path_loss_slope_db * np.log10(dist_km)
    gain = 10.0 ** (-pl_db / 10.0) * fading
    # [decision] a draw below the supported minimum gain (a deep fade: about 1e-8 per pair at the defaults) is
    # raised to it, so the generator never produces a scenario validation rejects; such a pair is unusable either way
    gain = np.maximum(gain, _GAIN_MIN)

    ones_n, ones_m = np.ones(n_users), np.ones(n_servers)
    sc = Scenario(
        user_ids=tuple(range(1, n_users + 1)),
        server_ids=tuple(range(1, n_servers + 1)),
        adapter_params=d,
        flops_per_param=tokens,
        user_epochs=g.user_epochs * ones_n,
        user_kappa=g.user_kappa * ones_n,
        user_p_max_w=g.user_p_max_w * ones_n,
        user_f_max_flops=g.user_f_max_flops * ones_n,
        bandwidth_hz=g.bandwidth_hz * ones_m,
        server_p_max_w=g.server_p_max_w * ones_m,
        server_f_max_flops=g.server_f_max_flops * ones_m,
        server_kappa=g.server_kappa * ones_m,
        server_epochs=g.server_epochs * ones_m,
        gain=gain,
        system=system,
        user_xy=user_xy,
        server_xy=server_xy,
        name=name or f"generated_{n_users}x{n_servers}_seed{seed}",
    )
    check_scenario_arrays(sc)
    return sc

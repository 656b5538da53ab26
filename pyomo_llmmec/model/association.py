"""AO part 1: problem P1 (6) — association x, offloading φ and T for fixed resources.

With every resource fixed (MODEL.md §5.1), (3) becomes

    min  y ω_t T + Σ_n A_n φ_n + Σ_nm (B_nm x_nm + G_nm x_nm φ_n)            (6)
    s.t. (3a)-(3d), (3f), (3h), (3j)

with A, B, G of MODEL.md §5.1.  P1's objective is exactly minus the Dinkelbach
objective of (3) at those resources.  :func:`p1_data` computes the
coefficients (numpy, SI, then scaled); :func:`build_p1` declares P1 in Pyomo:

* ``form="milp"``: ``w_nm = x_nm φ_n`` linearised exactly for binary x
  (w ≤ x, w ≤ φ, w ≥ φ − 1 + x, w ≥ 0), every constraint linear — any MILP
  solver (HiGHS) solves it to optimality;
* ``form="miqcp"``: the bilinear terms as they are, for Gurobi.

The budgets are written as shares: Σ_n x_nm (b_nm / b_max_m) ≤ 1, and the
delay constraint (3j) reads  c1_n φ_n + Σ_m [c34_nm x_nm + (c2_nm − c34_nm) w_nm] ≤ T
with T1 = c1 φ, T2 = c2 φ, T3 + T4 = c34 (1 − φ) (``c2m34`` holds c2 − c34).  Coefficients are mutable
Params, so one model serves every iteration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo

from ..units import Units

LN2 = np.log(2.0)


@dataclass
class P1Data:
    """Coefficients of P1 (6) at fixed resources, in model units (objective / units.objective, T / units.seconds)."""

    A: np.ndarray  # (N,)   coefficient of φ_n
    B: np.ndarray  # (N, M) coefficient of x_nm
    G: np.ndarray  # (N, M) coefficient of x_nm φ_n
    cT: float  # coefficient of T
    c1: np.ndarray  # (N,)   T1_n per unit φ_n
    c2: np.ndarray  # (N, M) T2_nm per unit φ_n
    c34: np.ndarray  # (N, M) T3_nm + T4_nm at φ_n = 0
    share_b: np.ndarray  # (N, M) b_nm / b_max_m
    share_p: np.ndarray  # (N, M) P_nm / p_max_m
    share_f: np.ndarray  # (N, M) F_nm / F_max_m

    def objective(self, assignment, phi, T) -> float:
        """P1's objective at an association (positions), φ and T (model units)."""
        n = np.arange(len(assignment))
        return float(self.cT * T + self.A @ phi + np.sum(self.B[n, assignment] + self.G[n, assignment] * phi))

    def delay(self, assignment, phi) -> np.ndarray:
        n = np.arange(len(assignment))
        return self.c1 * phi + self.c2[n, assignment] * phi + self.c34[n, assignment] * (1 - phi)


def pair_rates(scenario, b, p, P):
    """r_up_nm, r_dn_nm (bit/s) for (N, M) bandwidths b, (N,) user powers p and (N, M) server powers P."""
    s2 = scenario.sigma2
    g = scenario.gain
    up = b * np.log1p(g * p[:, None] / (s2 * b)) / LN2
    dn = b * np.log1p(g * P / (s2 * b)) / LN2
    return up, dn


def p1_data(scenario, units: Units, y: float, p, f_user, b, P, F) -> P1Data:
    """P1 coefficients (MODEL.md §5.1) for user resources p, f_user (N,) and pair resources b, P, F (N, M), SI units."""
    sc = scenario
    ow = sc.system.weight_energy
    ot = sc.system.weight_time
    d = sc.adapter_params
    bits = sc.adapter_bits  # d ω_b
    r_up, r_dn = pair_rates(sc, b, p, P)
    e_full_up = p[:, None] * bits[:, None] / r_up  # E2 at φ = 1
    e_full_dn = P * bits[:, None] / r_dn  # E4 at φ = 0
    e3_full = sc.server_epochs[None, :] * sc.server_kappa[None, :] * (d * sc.flops_per_param)[:, None] * F**2  # E3 at φ = 0
    e1_full = sc.user_epochs * sc.user_kappa * d * sc.flops_per_param * f_user**2  # E1 at φ = 1
    share = sc.system.score_norm * (P / sc.server_p_max_w[None, :] + F / sc.server_f_max_flops[None, :] + b / sc.bandwidth_hz[None, :])
    v = sc.system.score_scale * np.log1p(share)
    ou, tu = units.objective, units.seconds
    A = y * ow * e1_full / ou
    B = (y * ow * (e_full_dn + e3_full) - v) / ou
    G = y * ow * (e_full_up - e_full_dn - e3_full) / ou
    c1 = sc.user_work_flops / f_user / tu
    c2 = bits[:, None] / r_up / tu
    c34 = (sc.server_work_flops / F + bits[:, None] / r_dn) / tu
    return P1Data(
        A=A, B=B, G=G, cT=y * ot * tu / ou, c1=c1, c2=c2, c34=c34,
        share_b=b / sc.bandwidth_hz[None, :], share_p=P / sc.server_p_max_w[None, :], share_f=F / sc.server_f_max_flops[None, :],
    )


def build_p1(n_users: int, n_servers: int, form: str = "milp") -> pyo.ConcreteModel:
    """P1 (6) in Pyomo, indexed by user and server positions; fill it with :func:`set_p1_data`."""
    if form not in ("milp", "miqcp"):
        raise ValueError(f"form must be 'milp' or 'miqcp', not {form!r}")
    m = pyo.ConcreteModel(name=f"P1_{form}")
    m.N = pyo.RangeSet(0, n_users - 1)
    m.M = pyo.RangeSet(0, n_servers - 1)
    NM = m.N * m.M
    for name in ("B", "G", "c2m34", "c34", "share_b", "share_p", "share_f"):
        m.add_component(name, pyo.Param(NM, mutable=True, initialize=0.0))
    m.A = pyo.Param(m.N, mutable=True, initialize=0.0)
    m.c1 = pyo.Param(m.N, mutable=True, initialize=0.0)
    m.cT = pyo.Param(mutable=True, initialize=1.0)

    m.x = pyo.Var(m.N, m.M, domain=pyo.Binary, initialize=0)  # (3a)
    m.phi = pyo.Var(m.N, bounds=(0.0, 1.0), initialize=0.5)  # (3c)
    m.T = pyo.Var(domain=pyo.NonNegativeReals, initialize=1.0)
    if form == "milp":
        m.w = pyo.Var(m.N, m.M, bounds=(0.0, 1.0), initialize=0.0)  # w_nm = x_nm φ_n
        xphi = lambda m, n, s, coef: coef * m.w[n, s]  # noqa: E731
        m.w_le_x = pyo.Constraint(m.N, m.M, rule=lambda m, n, s: m.w[n, s] <= m.x[n, s])
        m.w_le_phi = pyo.Constraint(m.N, m.M, rule=lambda m, n, s: m.w[n, s] <= m.phi[n])
        m.w_ge = pyo.Constraint(m.N, m.M, rule=lambda m, n, s: m.w[n, s] >= m.phi[n] - 1 + m.x[n, s])
    else:
        # written (coef * x) * φ: Pyomo's quadratic representation mishandles coef * (x * φ) with mutable coef
        xphi = lambda m, n, s, coef: coef * m.x[n, s] * m.phi[n]  # noqa: E731

    # (6)
    m.obj = pyo.Objective(
        expr=m.cT * m.T + sum(m.A[n] * m.phi[n] for n in m.N)
        + sum(m.B[n, s] * m.x[n, s] + xphi(m, n, s, m.G[n, s]) for n in m.N for s in m.M),
        sense=pyo.minimize,
    )
    m.one_server = pyo.Constraint(m.N, rule=lambda m, n: sum(m.x[n, s] for s in m.M) == 1)  # (3b)
    m.bandwidth_budget = pyo.Constraint(m.M, rule=lambda m, s: sum(m.share_b[n, s] * m.x[n, s] for n in m.N) <= 1)  # (3d)
    m.power_budget = pyo.Constraint(m.M, rule=lambda m, s: sum(m.share_p[n, s] * m.x[n, s] for n in m.N) <= 1)  # (3f)
    m.compute_budget = pyo.Constraint(m.M, rule=lambda m, s: sum(m.share_f[n, s] * m.x[n, s] for n in m.N) <= 1)  # (3h)
    # (3j): T1_n + x_nm (T2_nm + T3_nm + T4_nm) <= T for every m.  With binary x and (3b) exactly one
    # x_nm is 1, so the N·M constraints are equivalent to one per user summed over m — the form used
    # here, whose LP relaxation is tighter (the SDR keeps the per-pair form of the paper).
    m.delay = pyo.Constraint(
        m.N,
        rule=lambda m, n: m.c1[n] * m.phi[n] + sum(m.c34[n, s] * m.x[n, s] + xphi(m, n, s, m.c2m34[n, s]) for s in m.M) <= m.T,
    )
    return m


def build_phi_lp(n_users: int) -> pyo.ConcreteModel:
    """P1 (6) with the association fixed: the linear program in (φ, T), N + 1 variables.

    With x fixed to a_n, (6) reads  min cT T + Σ_n (A_n + G_{n,a_n}) φ_n + Σ_n B_{n,a_n}  and (3j)
    becomes  c1_n φ_n + c34_{n,a_n} + (c2 − c34)_{n,a_n} φ_n ≤ T  (the budgets hold no φ).  The same
    LP as :func:`build_p1` with x fixed, without its N·M fixed binaries (the full model's update
    and presolve took ~30 s per solve at 1000 users × 20 servers; this one milliseconds).
    Fill it with :func:`set_phi_lp_data`.
    """
    m = pyo.ConcreteModel(name="P1_phi_LP")
    m.N = pyo.RangeSet(0, n_users - 1)
    m.cost = pyo.Param(m.N, mutable=True, initialize=0.0, doc="A_n + G_{n,a_n}")
    m.slope = pyo.Param(m.N, mutable=True, initialize=0.0, doc="c1_n + (c2 − c34)_{n,a_n}")
    m.base = pyo.Param(m.N, mutable=True, initialize=0.0, doc="c34_{n,a_n}")
    m.cT = pyo.Param(mutable=True, initialize=1.0)
    m.const = pyo.Param(mutable=True, initialize=0.0, doc="Σ_n B_{n,a_n}")
    m.phi = pyo.Var(m.N, bounds=(0.0, 1.0), initialize=0.5)  # (3c)
    m.T = pyo.Var(domain=pyo.NonNegativeReals, initialize=1.0)
    m.obj = pyo.Objective(expr=m.cT * m.T + sum(m.cost[n] * m.phi[n] for n in m.N) + m.const, sense=pyo.minimize)  # (6)
    m.delay = pyo.Constraint(m.N, rule=lambda m, n: m.slope[n] * m.phi[n] + m.base[n] <= m.T)  # (3j)
    return m


def set_phi_lp_data(m, data: P1Data, assignment) -> None:
    """Load P1's coefficients for the association ``assignment`` (positions) into :func:`build_phi_lp`'s model."""
    a = np.asarray(assignment)
    n = np.arange(len(a))
    cost = data.A + data.G[n, a]
    slope = data.c1 + data.c2[n, a] - data.c34[n, a]
    base = data.c34[n, a]
    # a slope below 1e-12 of the larger of T's unit and the pair's delay is below any solver's resolution (HiGHS
    # drops such matrix entries with a warning): take it as 0 here, silently; the evaluator checks (3j) anyway
    slope = np.where(np.abs(slope) < 1e-12 * np.maximum(1.0, np.abs(base)), 0.0, slope)
    for i in range(len(a)):
        m.cost[i].set_value(float(cost[i]))
        m.slope[i].set_value(float(slope[i]))
        m.base[i].set_value(float(base[i]))
    m.cT.set_value(float(data.cT))
    m.const.set_value(float(np.sum(data.B[n, a])))


def set_p1_data(m, data: P1Data) -> None:
    """Load P1 coefficients into the model's mutable Params."""
    N, M = data.B.shape
    m.cT.set_value(float(data.cT))
    for n in range(N):
        m.A[n].set_value(float(data.A[n]))
        m.c1[n].set_value(float(data.c1[n]))
    for name in ("B", "G", "c2m34", "c34", "share_b", "share_p", "share_f"):
        comp = getattr(m, name)
        arr = data.c2 - data.c34 if name == "c2m34" else getattr(data, name)
        for n in range(N):
            for s in range(M):
                comp[n, s].set_value(float(arr[n, s]))


def read_p1(m, n_users: int, n_servers: int):
    """(assignment, φ, T) from a solved P1 model."""
    xv = np.array([[pyo.value(m.x[n, s]) for s in range(n_servers)] for n in range(n_users)])
    phi = np.clip(np.array([pyo.value(m.phi[n]) for n in range(n_users)]), 0.0, 1.0)
    return np.argmax(xv, axis=1), phi, float(pyo.value(m.T))

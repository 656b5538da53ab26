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

**Unusable pairs** [decision].  A pair (n, m) whose channel is so weak
that no point of (3) using it can reach the SCR y of the incumbent is left out of
P1 (x_nm held at 0 by its upper bound; in the SDR x_nm ≤ 0; never matched by the Hungarian step):
see :func:`usable_pairs`.  Leaving it out loses nothing the algorithm could use —
a proposal through it would have SCR < y and be rejected — and it keeps P1's
coefficients finite and within a solver's range (a gain at the bottom of the
supported range gives delays of ~1e10 s and energies of ~1e12 J on that pair,
so coefficients some 1e8 times those of the other pairs; beyond the range they
overflow to inf/NaN).  The incumbent's own pairs are always usable.  Every
coefficient is also capped at ``P1_CAP`` (below), so P1 stays well-posed for any
data in the supported ranges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo

from .. import physics
from ..units import Units

# [decision] Largest |coefficient| of P1, in model units (where the incumbent's delay, its
# service and so its objective terms are of order one).  A coefficient beyond it (e.g. the cost of offloading
# to a server whose κ F² is 1e20 times the user's: 1e21 in model units, which HiGHS takes for an infinite
# cost) is set to it: the move it prices is then still 1e8 times the whole objective, so P1's optimum does not
# take it, and the evaluator checks every proposal anyway.  The cost at φ = 1 (B + G) and at φ = 0 (B) are
# capped separately, so neither is lost to cancellation.  Why 1e8 and not more: the φ LP's objective carries
# Σ B − Σ |G| φ, which cancels at φ = 1; HiGHS still solves it accurately with terms of 1e10 and gives up
# ("unknown") at 1e12, and 1e8 keeps that cancellation error near 1e-8 of the objective.
P1_CAP = 1e8


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
    usable: np.ndarray | None = None  # (N, M) bool: pairs P1 may use (usable_pairs); None: all
    n_capped: int = 0  # coefficients that were beyond ±P1_CAP (set to ±P1_CAP)

    def __post_init__(self):
        if self.usable is None:
            self.usable = np.ones(self.B.shape, dtype=bool)

    @property
    def n_excluded(self) -> int:
        """Pairs left out of P1 (x_nm held at 0)."""
        return int(self.usable.size - np.count_nonzero(self.usable))

    def masked(self, name: str) -> np.ndarray:
        """Coefficient array ``name`` (or ``"c2m34"`` = c2 − c34) with the unusable pairs' entries set to 0.

        What the SDR gets: those pairs' x_nm is held at 0, so the entries multiply 0, and as 0 they
        cannot carry an inf, NaN or a huge number into the solver's data."""
        arr = self.c2 - self.c34 if name == "c2m34" else getattr(self, name)
        return np.where(self.usable, arr, 0.0)

    def objective(self, assignment, phi, T) -> float:
        """P1's objective at an association (positions), φ and T (model units)."""
        n = np.arange(len(assignment))
        return float(self.cT * T + self.A @ phi + np.sum(self.B[n, assignment] + self.G[n, assignment] * phi))

    def delay(self, assignment, phi) -> np.ndarray:
        n = np.arange(len(assignment))
        return self.c1 * phi + self.c2[n, assignment] * phi + self.c34[n, assignment] * (1 - phi)

    def first_nonfinite(self, assignment=None):
        """The first user (position) whose P1 coefficients at ``assignment`` (positions; None: at any
        usable pair) are not finite, or None.  (Coefficients are capped, so only a NaN can be.)"""
        ok = np.isfinite(self.A) & np.isfinite(self.c1) & math.isfinite(self.cT)
        pair = np.isfinite(self.B) & np.isfinite(self.G) & np.isfinite(self.c2) & np.isfinite(self.c34)
        if assignment is None:
            ok &= np.all(pair | ~self.usable, axis=1)
        else:
            ok &= pair[np.arange(len(assignment)), np.asarray(assignment)]
        bad = np.flatnonzero(~ok)
        return int(bad[0]) if bad.size else None


def pair_rates(scenario, b, p, P):
    """r_up_nm, r_dn_nm (bit/s, MODEL.md §3.1) for (N, M) bandwidths b, (N,) user powers p and (N, M) server powers P."""
    snr = scenario.gain / scenario.sigma2
    return physics.rate(b, snr, p[:, None]), physics.rate(b, snr, P)


def usable_pairs(scenario, y: float) -> np.ndarray:
    """(N, M) bool: False for a pair (n, m) that no point of (3) with SCR >= ``y`` can use.

    Bounds valid at every feasible point that has x_nm = 1, whatever its resources:

    * delay: T ≥ T_n ≥ min(W_n/F_max_n + D_n/r̄_up, W_nm/F_max_m + D_n/r̄_dn), the delay of
      (3j) being linear in φ, with r̄ the rate at the whole band b_max_m and full power
      (r = b log2(1 + g p/(σ² b)) grows with b and p);
    * energy: E ≥ E2_n + E4_n ≥ D_n σ² ln 2 / g_nm (Shannon's limit: p/r ≥ σ² ln 2 / g for
      every b, p > 0, since log2(1 + s) ≤ s/ln 2);
    * service: at most V̄ = N ϖ1 ln(1 + 3 ϖ2) (every share at most 1).

    So the SCR of such a point is at most V̄ / (ω_t T_lb + ω_e E_lb); the pair is unusable
    when that is below y (with a relative margin of 1e-9 for rounding), or when a bound
    is not a finite number.  The incumbent (SCR = y) never uses an unusable pair.
    """
    sc = scenario
    s2, g = sc.sigma2, sc.gain
    bits = sc.adapter_bits[:, None]
    bmax = sc.bandwidth_hz[None, :]
    with np.errstate(over="ignore", divide="ignore", invalid="ignore", under="ignore"):
        r_up = physics.rate(bmax, g / s2, sc.user_p_max_w[:, None])
        r_dn = physics.rate(bmax, g / s2, sc.server_p_max_w[None, :])
        t_local = physics.compute_delay(1.0, sc.user_work_flops, sc.user_f_max_flops)[:, None] + physics.link_delay(1.0, bits, r_up)
        t_server = physics.compute_delay(1.0, sc.server_work_flops, sc.server_f_max_flops[None, :]) + physics.link_delay(1.0, bits, r_dn)
        t_lb = np.minimum(t_local, t_server)
        e_lb = bits * physics.energy_per_bit_floor(s2, g)
        cost_lb = physics.cost(t_lb, e_lb, sc.system.weight_time, sc.system.weight_energy)
        v_max = sc.n_users * float(physics.score_of_share(sc.system.score_scale, sc.system.score_norm, 3.0))
        ok = np.isfinite(cost_lb)
        if math.isfinite(y) and y > 0:
            ok &= y * cost_lb <= v_max * (1.0 + 1e-9)
    return ok


def p1_data(scenario, units: Units, y: float, p, f_user, b, P, F) -> P1Data:
    """P1 coefficients (MODEL.md §5.1) for user resources p, f_user (N,) and pair resources b, P, F (N, M), SI units.

    ``usable`` marks the pairs P1 may use (:func:`usable_pairs`, and finite coefficients)."""
    usable = usable_pairs(scenario, y)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # overflow only on pairs marked unusable
        return _p1_coefficients(scenario, units, y, p, f_user, b, P, F, usable)


def _p1_coefficients(sc, units, y, p, f_user, b, P, F, usable) -> P1Data:
    ow = sc.system.weight_energy
    ot = sc.system.weight_time
    bits = sc.adapter_bits[:, None]  # d ω_b
    r_up, r_dn = pair_rates(sc, b, p, P)
    t2_full = physics.link_delay(1.0, bits, r_up)  # T2 at φ = 1
    t4_full = physics.link_delay(1.0, bits, r_dn)  # T4 at φ = 0
    e_full_up = physics.link_energy(p[:, None], t2_full)  # E2 at φ = 1
    e_full_dn = physics.link_energy(P, t4_full)  # E4 at φ = 0
    e3_full = physics.compute_energy(1.0, sc.server_work_flops, sc.server_kappa[None, :], F)  # E3 at φ = 0
    e1_full = physics.compute_energy(1.0, sc.user_work_flops, sc.user_kappa, f_user)  # E1 at φ = 1
    v = physics.service_score(sc.system.score_scale, sc.system.score_norm, P / sc.server_p_max_w[None, :],
                              F / sc.server_f_max_flops[None, :], b / sc.bandwidth_hz[None, :])  # (1)
    ou, tu = units.objective, units.seconds
    A = y * ow * e1_full / ou
    B = (y * ow * (e_full_dn + e3_full) - v) / ou  # the pair's cost at φ = 0
    BG = (y * ow * e_full_up - v) / ou  # B + G: the pair's cost at φ = 1, computed without cancellation
    c1 = physics.compute_delay(1.0, sc.user_work_flops, f_user) / tu  # T1 per unit φ
    c2 = t2_full / tu
    c34 = (physics.compute_delay(1.0, sc.server_work_flops, F) + t4_full) / tu  # T3 + T4 at φ = 0
    # a pair whose coefficients are not numbers is unusable here too (with data in the supported range this
    # happens only on pairs usable_pairs already leaves out)
    finite = ~(np.isnan(B) | np.isnan(BG) | np.isnan(c2) | np.isnan(c34))
    raw = (A, B, BG, c1, c2, c34)
    A, B, BG, c1, c2, c34 = (np.clip(a, -P1_CAP, P1_CAP) for a in raw)
    capped = sum(int(np.count_nonzero(np.abs(r) > P1_CAP)) for r in raw)
    return P1Data(
        A=A, B=B, G=BG - B, cT=y * ot * tu / ou, c1=c1, c2=c2, c34=c34,
        share_b=b / sc.bandwidth_hz[None, :], share_p=P / sc.server_p_max_w[None, :], share_f=F / sc.server_f_max_flops[None, :],
        usable=usable & finite, n_capped=capped,
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
        # w = xφ for binary x with (3b): w_nm <= x_nm and Σ_m w_nm = φ_n.  This is the convex hull of each user's
        # choice of server (the disaggregated form); McCormick's w <= φ and w >= φ - 1 + x follow from it and its
        # LP relaxation is weaker: at (200,10) HiGHS proved P1 at a later outer iteration in 58 s with this form
        # and stopped at its 60 s limit with the McCormick form, 2x above the optimum (docs/DESIGN.md, "P1 exactly")
        m.w_le_x = pyo.Constraint(m.N, m.M, rule=lambda m, n, s: m.w[n, s] <= m.x[n, s])
        m.w_sum = pyo.Constraint(m.N, rule=lambda m, n: sum(m.w[n, s] for s in m.M) == m.phi[n])
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
    """Load P1 coefficients into the model's mutable Params.

    The x_nm of unusable pairs get the upper bound 0 and their coefficients are left as they were
    (finite values of an earlier call, or the initial 0: they multiply an x held at 0, and HiGHS is
    not sent a change for them); the other x_nm are binary in [0, 1].  A bound, not ``fix``: appsi's
    Gurobi interface rebuilds the quadratic constraints around a newly fixed variable and fails."""
    N, M = data.B.shape
    m.cT.set_value(float(data.cT))
    for n in range(N):
        m.A[n].set_value(float(data.A[n]))
        m.c1[n].set_value(float(data.c1[n]))
    use = data.usable
    for name in ("B", "G", "c2m34", "c34", "share_b", "share_p", "share_f"):
        comp = getattr(m, name)
        arr = data.c2 - data.c34 if name == "c2m34" else getattr(data, name)
        for n in range(N):
            for s in range(M):
                if use[n, s]:
                    comp[n, s].set_value(float(arr[n, s]))
    for n in range(N):
        for s in range(M):
            ub = 1 if use[n, s] else 0
            if m.x[n, s].ub != ub:
                m.x[n, s].setub(ub)


def set_p1_start(m, assignment, phi, T: float) -> None:
    """Give :func:`build_p1`'s model (form ``milp``) the values of a point: x from ``assignment`` (positions), w = xφ."""
    a = np.asarray(assignment)
    for n in range(len(a)):
        for s in m.M:
            on = s == a[n]
            m.x[n, s].set_value(1 if on else 0)
            m.w[n, s].set_value(float(phi[n]) if on else 0.0)
        m.phi[n].set_value(float(phi[n]))
    m.T.set_value(float(T))


def read_p1(m, n_users: int, n_servers: int):
    """(assignment, φ, T) from a solved P1 model."""
    xv = np.array([[pyo.value(m.x[n, s]) for s in range(n_servers)] for n in range(n_users)])
    phi = np.clip(np.array([pyo.value(m.phi[n]) for n in range(n_users)]), 0.0, 1.0)
    return np.argmax(xv, axis=1), phi, float(pyo.value(m.T))

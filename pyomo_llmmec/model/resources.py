"""AO part 2: the resource problem (12) for a fixed association x and offloading φ.

Variables (per user n, for its own server m = m(n)): bandwidth ``b[n]``, user
power ``p[n]``, server power ``P[n]``, user compute ``Fu[n]``, server compute
``Fs[n]``, and the delay epigraph ``T``.  The uplink and downlink energies are
ratios χ/r (χ1 = p φ d ω_b, χ2 = P (1−φ) d ω_b); the quadratic transform of the
paper's reference [1] replaces each by

    χ² z + 1/(4 r² z),   z = 1/(2 χ⁰ r⁰)                                  (11)

an upper bound for every z > 0, tight at the current point (⁰).  Written with
the current point's values it reads, for the uplink,

    (E2⁰/2) · [ (p/p⁰)² + (r_up⁰/r_up)² ]      (E2⁰ = χ1⁰/r_up⁰, the current E2)

which is the same expression, well scaled.  For fixed z the objective (12)

    max  Σ v_n − y ω_t T − y ω_e Σ_n (E1_n + E3_n + surrogate2_n + surrogate4_n)

is concave and the constraints — budgets (3d), (3f), (3h), bounds (3e), (3g),
(3i) and delays (3j) — are convex, so Ipopt finds its global optimum.  The
model is built once; the association's own-pair data are mutable Params, and
the data of the current point (φ, the transform's anchors, the units, and the
objective's coefficients, which carry y) are fixed Vars (``POINT_DATA``) —
constants for any solver, and columns that
:class:`pyomo_llmmec.nlp.PersistentIpopt` keeps, so that it writes the NL file
once per association and re-solves with new data (the three budget constraints
are re-declared when the association changes).
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from .. import physics
from ..errors import SolveFailed
from ..units import Units, units_for

#: the fixed Vars holding the current point's data (see build_part2)
POINT_DATA = ("phi", "t_unit", "c_service", "c_energy", "c_time", "E2_0", "p_0", "rup_0", "E4_0", "P_0", "rdn_0")


def build_part2(scenario, units: Units, eps: float) -> pyo.ConcreteModel:
    """Problem (12) in Pyomo, indexed by user and server positions, in ``units``."""
    sc, u = scenario, units
    N, M = sc.n_users, sc.n_servers
    m = pyo.ConcreteModel(name="part2_resources")
    m.units = u
    m.N = pyo.RangeSet(0, N - 1)
    m.M = pyo.RangeSet(0, M - 1)
    # fixed data (scaled; see pyomo_llmmec.units)
    m.bits = pyo.Param(m.N, initialize=dict(enumerate(map(float, u.bits(sc)))))
    m.work_u = pyo.Param(m.N, initialize=dict(enumerate(map(float, u.user_work(sc)))))
    m.kappa_u = pyo.Param(m.N, initialize=dict(enumerate(map(float, u.kappa_user(sc)))))
    m.b_max = pyo.Param(m.M, initialize=dict(enumerate(map(float, sc.bandwidth_hz / u.hz))))
    m.p_max_s = pyo.Param(m.M, initialize=dict(enumerate(map(float, sc.server_p_max_w))))
    m.F_max_s = pyo.Param(m.M, initialize=dict(enumerate(map(float, sc.server_f_max_flops / u.flops))))
    # association-dependent data (mutable): own server's gain, work, κ, budgets
    m.gamma = pyo.Param(m.N, mutable=True, initialize=1.0, doc="g_nm/(σ²·hz) of the own pair")
    m.work_s = pyo.Param(m.N, mutable=True, initialize=1.0, doc="e_m t_n d_n of the own server")
    m.kappa_s = pyo.Param(m.N, mutable=True, initialize=0.0)
    m.bmax_own = pyo.Param(m.N, mutable=True, initialize=1.0)
    m.pmax_own = pyo.Param(m.N, mutable=True, initialize=1.0)
    m.Fmax_own = pyo.Param(m.N, mutable=True, initialize=1.0)
    # data of the current point: fixed Vars, i.e. constants for every solver, changed between solves without
    # rebuilding the model; pyomo_llmmec.nlp.PersistentIpopt keeps them as NLP columns so the NL file is written once
    # per association (POINT_DATA lists them)
    m.phi = pyo.Var(m.N, initialize=0.5, doc="φ_n (fixed in part 2)")
    # time and objective units follow the current point (set_point), so T and the objective stay O(1); the
    # objective's coefficients carry the Dinkelbach parameter y and the objective unit, so that (12) is a sum of
    # per-user terms (a coefficient times a user's expression): its Hessian stays sparse, one block per user
    m.t_unit = pyo.Var(initialize=u.seconds, doc="seconds per unit of T")
    m.c_service = pyo.Var(initialize=1.0 / u.objective, doc="1 / objective unit")
    m.c_energy = pyo.Var(initialize=sc.system.weight_energy / u.objective, doc="y·ω_e / objective unit")
    m.c_time = pyo.Var(initialize=sc.system.weight_time * u.seconds / u.objective, doc="y·ω_t·t_unit / objective unit")
    # anchors of the quadratic transform (11)
    m.E2_0 = pyo.Var(m.N, initialize=0.0)
    m.p_0 = pyo.Var(m.N, initialize=1.0)
    m.rup_0 = pyo.Var(m.N, initialize=1.0)
    m.E4_0 = pyo.Var(m.N, initialize=0.0)
    m.P_0 = pyo.Var(m.N, initialize=1.0)
    m.rdn_0 = pyo.Var(m.N, initialize=1.0)
    for name in POINT_DATA:
        getattr(m, name).fix()

    p_max_u = sc.user_p_max_w
    F_max_u = sc.user_f_max_flops / u.flops
    m.b = pyo.Var(m.N, initialize=1.0)  # bounds set per association
    m.p = pyo.Var(m.N, bounds=lambda m, n: (eps * p_max_u[n], p_max_u[n]), initialize=lambda m, n: p_max_u[n])  # (3e), (3i)
    m.P = pyo.Var(m.N, initialize=1.0)
    m.Fu = pyo.Var(m.N, bounds=lambda m, n: (eps * F_max_u[n], F_max_u[n]), initialize=lambda m, n: F_max_u[n])  # (3g), (3i)
    m.Fs = pyo.Var(m.N, initialize=1.0)
    m.T = pyo.Var(domain=pyo.NonNegativeReals, initialize=1.0)

    m.rate_up = pyo.Expression(m.N, rule=lambda m, n: physics.rate(m.b[n], m.gamma[n], m.p[n]))
    m.rate_dn = pyo.Expression(m.N, rule=lambda m, n: physics.rate(m.b[n], m.gamma[n], m.P[n]))
    m.v = pyo.Expression(  # (1)
        m.N, rule=lambda m, n: physics.service_score(
            sc.system.score_scale, sc.system.score_norm, m.P[n] / m.pmax_own[n], m.Fs[n] / m.Fmax_own[n], m.b[n] / m.bmax_own[n]))
    m.E1 = pyo.Expression(m.N, rule=lambda m, n: physics.compute_energy(m.phi[n], m.work_u[n], m.kappa_u[n], m.Fu[n]))
    m.E3 = pyo.Expression(m.N, rule=lambda m, n: physics.compute_energy(1 - m.phi[n], m.work_s[n], m.kappa_s[n], m.Fs[n]))
    m.E2_bound = pyo.Expression(  # (11) for χ1/r_up
        m.N, rule=lambda m, n: 0.5 * m.E2_0[n] * ((m.p[n] / m.p_0[n]) ** 2 + (m.rup_0[n] / m.rate_up[n]) ** 2)
    )
    m.E4_bound = pyo.Expression(  # (11) for χ2/r_dn
        m.N, rule=lambda m, n: 0.5 * m.E4_0[n] * ((m.P[n] / m.P_0[n]) ** 2 + (m.rdn_0[n] / m.rate_dn[n]) ** 2)
    )
    m.obj = pyo.Objective(  # (12), in objective units: Σ_n (v_n − y·ω_e·E_n)/unit − y·ω_t·T/unit
        expr=sum(m.c_service * m.v[n] - m.c_energy * (m.E1[n] + m.E3[n] + m.E2_bound[n] + m.E4_bound[n]) for n in m.N)
        - m.c_time * m.T,
        sense=pyo.maximize,
    )
    m.user_delay = pyo.Expression(  # the left side of (3j), in t_unit
        m.N,
        rule=lambda m, n: (
            physics.compute_delay(m.phi[n], m.work_u[n], m.Fu[n])
            + physics.link_delay(m.phi[n], m.bits[n], m.rate_up[n])
            + physics.compute_delay(1 - m.phi[n], m.work_s[n], m.Fs[n])
            + physics.link_delay(1 - m.phi[n], m.bits[n], m.rate_dn[n])
        ) / m.t_unit,
    )
    m.delay = pyo.Constraint(m.N, rule=lambda m, n: m.user_delay[n] <= m.T)  # (3j)
    m._eps = eps
    m._assignment = None
    m._bits = np.asarray(u.bits(sc), dtype=float)
    pu, fu = np.asarray(p_max_u, dtype=float), np.asarray(F_max_u, dtype=float)
    m._fixed_bounds = {"p": (eps * pu, pu), "Fu": (eps * fu, fu)}  # the bounds of p and Fu above, for set_point
    return m


def declare_budgets(m, assignment) -> None:
    """(3d), (3f), (3h) over the users of each server; rebuilt only when the association changes."""
    users = {s: [n for n in m.N if assignment[n] == s] for s in m.M}
    for name in ("bandwidth_budget", "power_budget", "compute_budget"):
        if hasattr(m, name):
            m.del_component(name)
    m.bandwidth_budget = pyo.Constraint(m.M, rule=lambda m, s: sum(m.b[n] for n in users[s]) <= m.b_max[s] if users[s] else pyo.Constraint.Skip)
    m.power_budget = pyo.Constraint(m.M, rule=lambda m, s: sum(m.P[n] for n in users[s]) <= m.p_max_s[s] if users[s] else pyo.Constraint.Skip)
    m.compute_budget = pyo.Constraint(m.M, rule=lambda m, s: sum(m.Fs[n] for n in users[s]) <= m.F_max_s[s] if users[s] else pyo.Constraint.Skip)


def _set(comp, values) -> None:
    """Set the values of an indexed Var or mutable Param (indexed by user position) from an array."""
    for n, v in enumerate(values.tolist()):
        comp[n].set_value(v)


def set_association(m, scenario, assignment) -> None:
    """Load the association (and the own-pair data) into the mutable Params and bounds."""
    sc, u = scenario, m.units
    a = np.asarray(assignment)
    if m._assignment is not None and np.array_equal(a, m._assignment):
        return
    n = np.arange(len(a))
    eps = m._eps
    declare_budgets(m, a)
    bmax, pmax, fmax = sc.bandwidth_hz[a] / u.hz, sc.server_p_max_w[a].astype(float), sc.server_f_max_flops[a] / u.flops
    m._gamma = u.snr_per_watt(sc)[n, a]
    _set(m.gamma, m._gamma)
    _set(m.work_s, u.server_work(sc)[n, a])
    _set(m.kappa_s, u.kappa_server(sc)[a])
    for comp, top in ((m.bmax_own, bmax), (m.pmax_own, pmax), (m.Fmax_own, fmax)):
        _set(comp, top)
    # (3i), and a positive floor; the bounds are kept as arrays for set_point
    m._bounds = {"b": (eps * bmax, bmax), "P": (eps * pmax, pmax), "Fs": (eps * fmax, fmax)}
    for name, (lo, hi) in m._bounds.items():
        var = getattr(m, name)
        for i, (l, h) in enumerate(zip(lo.tolist(), hi.tolist())):
            var[i].setlb(l)
            var[i].setub(h)
    m._assignment = a.copy()


def set_point(m, scenario, solution, evaluation, y: float) -> None:
    """Anchor the transform (11) and Ipopt's start at a point; set φ and y (vectorised over the users)."""
    u = m.units
    s, ev = solution, evaluation
    bounds = {**m._fixed_bounds, **m._bounds}
    start = {"b": s.b / u.hz, "p": s.p, "P": s.p_server, "Fu": s.f_user / u.flops, "Fs": s.f_server / u.flops}
    # the start clipped into the bounds; anchors at the clipped start, so the bound (11) is tight there
    start = {k: np.minimum(np.maximum(np.asarray(v, dtype=float), bounds[k][0]), bounds[k][1]) for k, v in start.items()}
    phi = np.asarray(s.phi, dtype=float)
    _set(m.phi, phi)
    for name, vals in start.items():
        _set(getattr(m, name), vals)
    p0, P0, b0 = start["p"], start["P"], start["b"]
    # the rates as the model evaluates them (Pyomo's log(1 + x), not log1p: 0 where x is below float64's resolution)
    r_up0 = physics.rate_as_modelled(b0, m._gamma, p0)
    r_dn0 = physics.rate_as_modelled(b0, m._gamma, P0)
    up_work, dn_work = phi, 1.0 - phi
    bad_up = (up_work > 0) & ~((r_up0 > 0) & np.isfinite(r_up0))
    bad_dn = (dn_work > 0) & ~((r_dn0 > 0) & np.isfinite(r_dn0))
    bad = np.flatnonzero(bad_up | bad_dn)
    if bad.size:  # the first such user (its uplink first)
        n = int(bad[0])
        link, r = ("uplink", r_up0[n]) if bad_up[n] else ("downlink", r_dn0[n])
        raise SolveFailed(f"part 2: the {link} rate of user {scenario.user_ids[n]!r} is {r:.3g} in the model "
                          "(its SNR is below float64's resolution); this pair cannot be optimised", status="numerics")
    bits = m._bits
    with np.errstate(divide="ignore", invalid="ignore"):
        # a term without work has no energy: a neutral anchor (1) instead of 0/0
        _set(m.p_0, p0)
        _set(m.P_0, P0)
        _set(m.rup_0, np.where(up_work > 0, r_up0, 1.0))
        _set(m.rdn_0, np.where(dn_work > 0, r_dn0, 1.0))
        _set(m.E2_0, np.where(up_work > 0, p0 * up_work * bits / r_up0, 0.0))
        _set(m.E4_0, np.where(dn_work > 0, P0 * dn_work * bits / r_dn0, 0.0))
    ref = units_for(scenario, ev)
    ot, ow = scenario.system.weight_time, scenario.system.weight_energy
    m.t_unit.set_value(ref.seconds)
    m.c_service.set_value(1.0 / ref.objective)
    m.c_energy.set_value(float(y) * ow / ref.objective)
    m.c_time.set_value(float(y) * ot * ref.seconds / ref.objective)
    m.T.set_value(max(ev.delay / ref.seconds, 0.0) * (1 + 1e-9))


def read_resources(m, scenario):
    """(b, p, P, F_n, F_nm) in SI units from a solved part-2 model."""
    u = m.units
    get = lambda comp: np.array([pyo.value(comp[n]) for n in m.N], dtype=float)  # noqa: E731
    return get(m.b) * u.hz, get(m.p), get(m.P), get(m.Fu) * u.flops, get(m.Fs) * u.flops

"""The continuous part of (3) at a fixed association: φ and every resource, jointly.

With x fixed, (3) keeps φ_n, b_nm, p_n, P_nm, F_n, F_nm and T as variables.
This module declares that NLP for a *subset* of the users (each with its own,
fixed server), in two forms:

* ``form="dinkelbach"`` with the delay level T **fixed** (``T_fixed``):
  ``max Σ_n v_n − y ω_e Σ_n (E1_n + E2_n + E3_n + E4_n)`` subject to each
  user's delay (3j) ≤ T and the budgets (3d), (3f), (3h) of the servers
  involved.  With T fixed, (3) separates into one such problem per server
  (only T couples the servers, and only y couples the objective), so
  :class:`pyomo_llmmec.methods.lns.LNS` scores a move by re-solving the two
  servers it touches — MODEL.md §4 / DESIGN.md "lns".
* ``form="ratio"``: T is a variable and the objective is the SCR (2) of the
  users in the model, ``Σ v / (ω_t T + ω_e Σ E)`` — the joint polish of a
  whole association.
* ``form="min_delay"``: T is a variable and the objective is ``min T``: the
  least delay level these users can meet together (the edge below which the
  dinkelbach form has no feasible point).

Unlike AO part 2 (model/resources.py) there is no quadratic transform and φ is
not fixed: the energies are the exact ratios of MODEL.md §3, and Ipopt finds a
local optimum of the non-convex problem (the callers use several starts).
Units: :mod:`pyomo_llmmec.units` (bandwidth in ``hz``, compute in ``flops``,
power in W, T in ``t_unit`` seconds, energy in J, the objective in
``obj_unit``).  The physics comes from :mod:`pyomo_llmmec.physics`.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from .. import physics
from ..units import Units


#: the model's data, fixed variables set between solves (see build_fixed_association_nlp)
DATA = ("y", "T_fix", "t_unit", "obj_unit")


def build_fixed_association_nlp(scenario, units: Units, users, servers, *, form: str = "dinkelbach",
                                free_T: bool = False, eps: float = 1e-6) -> pyo.ConcreteModel:
    """The NLP of the module docstring for ``users`` (positions), user i on server ``servers[i]``.

    The data that changes between solves are *fixed variables* (:data:`DATA`):
    ``y`` (Dinkelbach parameter), ``T_fix`` (the fixed delay level, dinkelbach
    form), ``t_unit`` and ``obj_unit``.  Every solver sees a fixed variable as a
    constant; :class:`pyomo_llmmec.nlp.PersistentIpopt` keeps them as columns of
    the NLP it builds once, so a new value needs no new NL file.  The model is
    not solved here.
    """
    if form not in ("dinkelbach", "ratio", "min_delay"):
        raise ValueError(f"form must be 'dinkelbach', 'ratio' or 'min_delay', not {form!r}")
    sc, u = scenario, units
    users = np.asarray(users, dtype=int)
    servers = np.asarray(servers, dtype=int)
    k = len(users)
    gamma = u.snr_per_watt(sc)[users, servers]
    bits = u.bits(sc)[users]
    work_u = u.user_work(sc)[users]
    work_s = u.server_work(sc)[users, servers]
    kap_u = u.kappa_user(sc)[users]
    kap_s = u.kappa_server(sc)[servers]
    b_max = sc.bandwidth_hz[servers] / u.hz
    P_max = sc.server_p_max_w[servers]
    Fs_max = sc.server_f_max_flops[servers] / u.flops
    p_max = sc.user_p_max_w[users]
    Fu_max = sc.user_f_max_flops[users] / u.flops

    m = pyo.ConcreteModel(name=f"fixed_association_{form}")
    m.units = u
    m.users = users
    m.servers = servers
    m.I = pyo.RangeSet(0, k - 1)
    m.S = pyo.Set(initialize=sorted(set(int(s) for s in servers)))
    m.y = pyo.Var(initialize=1.0, doc="Dinkelbach parameter y")
    m.T_fix = pyo.Var(initialize=1.0, doc="fixed delay level (t_unit)")
    m.t_unit = pyo.Var(initialize=u.seconds, doc="seconds per unit of T")
    m.obj_unit = pyo.Var(initialize=u.objective, doc="objective unit")
    for name in DATA:
        getattr(m, name).fix()

    m.phi = pyo.Var(m.I, bounds=(0.0, 1.0), initialize=0.5)  # (3c)
    m.b = pyo.Var(m.I, bounds=lambda m, i: (eps * b_max[i], b_max[i]), initialize=lambda m, i: b_max[i] / k)  # (3i)
    m.p = pyo.Var(m.I, bounds=lambda m, i: (eps * p_max[i], p_max[i]), initialize=lambda m, i: p_max[i])  # (3e)
    m.P = pyo.Var(m.I, bounds=lambda m, i: (eps * P_max[i], P_max[i]), initialize=lambda m, i: P_max[i] / k)
    m.Fu = pyo.Var(m.I, bounds=lambda m, i: (eps * Fu_max[i], Fu_max[i]), initialize=lambda m, i: Fu_max[i])  # (3g)
    m.Fs = pyo.Var(m.I, bounds=lambda m, i: (eps * Fs_max[i], Fs_max[i]), initialize=lambda m, i: Fs_max[i] / k)
    if form in ("ratio", "min_delay") or free_T:
        m.T = pyo.Var(domain=pyo.NonNegativeReals, initialize=1.0)
        T = m.T
    else:
        T = m.T_fix

    m.rate_up = pyo.Expression(m.I, rule=lambda m, i: physics.rate(m.b[i], float(gamma[i]), m.p[i]))
    m.rate_dn = pyo.Expression(m.I, rule=lambda m, i: physics.rate(m.b[i], float(gamma[i]), m.P[i]))
    m.T1 = pyo.Expression(m.I, rule=lambda m, i: physics.compute_delay(m.phi[i], float(work_u[i]), m.Fu[i]))
    m.T2 = pyo.Expression(m.I, rule=lambda m, i: physics.link_delay(m.phi[i], float(bits[i]), m.rate_up[i]))
    m.T3 = pyo.Expression(m.I, rule=lambda m, i: physics.compute_delay(1 - m.phi[i], float(work_s[i]), m.Fs[i]))
    m.T4 = pyo.Expression(m.I, rule=lambda m, i: physics.link_delay(1 - m.phi[i], float(bits[i]), m.rate_dn[i]))
    m.E1 = pyo.Expression(m.I, rule=lambda m, i: physics.compute_energy(m.phi[i], float(work_u[i]), float(kap_u[i]), m.Fu[i]))
    m.E2 = pyo.Expression(m.I, rule=lambda m, i: m.p[i] * m.T2[i])
    m.E3 = pyo.Expression(m.I, rule=lambda m, i: physics.compute_energy(1 - m.phi[i], float(work_s[i]), float(kap_s[i]), m.Fs[i]))
    m.E4 = pyo.Expression(m.I, rule=lambda m, i: m.P[i] * m.T4[i])
    w1, w2 = sc.system.score_scale, sc.system.score_norm
    m.v = pyo.Expression(m.I, rule=lambda m, i: physics.service_score(  # (1)
        w1, w2, m.P[i] / float(P_max[i]), m.Fs[i] / float(Fs_max[i]), m.b[i] / float(b_max[i])))
    m.service = pyo.Expression(expr=sum(m.v[i] for i in m.I))
    m.energy = pyo.Expression(expr=sum(m.E1[i] + m.E2[i] + m.E3[i] + m.E4[i] for i in m.I))

    m.delay = pyo.Constraint(  # (3j), in t_unit
        m.I, rule=lambda m, i: (m.T1[i] + m.T2[i] + m.T3[i] + m.T4[i]) / m.t_unit <= T)
    members = {s: [i for i in range(k) if servers[i] == s] for s in m.S}
    bmax_s = {int(s): float(sc.bandwidth_hz[s] / u.hz) for s in m.S}
    pmax_s = {int(s): float(sc.server_p_max_w[s]) for s in m.S}
    fmax_s = {int(s): float(sc.server_f_max_flops[s] / u.flops) for s in m.S}
    m.bandwidth_budget = pyo.Constraint(m.S, rule=lambda m, s: sum(m.b[i] for i in members[s]) <= bmax_s[s])  # (3d)
    m.power_budget = pyo.Constraint(m.S, rule=lambda m, s: sum(m.P[i] for i in members[s]) <= pmax_s[s])  # (3f)
    m.compute_budget = pyo.Constraint(m.S, rule=lambda m, s: sum(m.Fs[i] for i in members[s]) <= fmax_s[s])  # (3h)

    ot, ow = sc.system.weight_time, sc.system.weight_energy
    if form == "min_delay":
        m.obj = pyo.Objective(expr=m.T, sense=pyo.minimize)
    elif form == "ratio":  # (2) for these users
        m.obj = pyo.Objective(expr=m.service / (ot * m.t_unit * m.T + ow * m.energy), sense=pyo.maximize)
    else:
        # (3) at fixed x: Σ_n (v_n − y ω_e E_n) − y ω_t T, in obj_unit; with T fixed without its constant − y ω_t T.
        # Written as a sum of one term per user, each divided by obj_unit: y and obj_unit are variables of the NLP that
        # PersistentIpopt builds (fixed data), and dividing the *whole* sum by one makes the objective a single
        # element of all variables, whose Hessian the NL reader takes as dense (at (200,10), 300 Ipopt iterations
        # took 77 s instead of ~10 s)
        per_user = sum((m.v[i] - m.y * ow * (m.E1[i] + m.E2[i] + m.E3[i] + m.E4[i])) / m.obj_unit for i in m.I)
        if free_T:
            per_user = per_user - m.y * ot * m.t_unit * m.T / m.obj_unit
        m.obj = pyo.Objective(expr=per_user, sense=pyo.maximize)
    return m


def set_start(m, phi, b, p, P, Fu, Fs, T_seconds=None) -> None:
    """Ipopt's starting point from SI arrays (one value per user of the model), clipped into the bounds."""
    u = m.units

    def put(var, vals, scale=1.0):
        for i in m.I:
            lo, hi = var[i].lb, var[i].ub
            var[i].set_value(min(max(float(vals[i]) / scale, lo), hi))

    put(m.phi, phi)
    put(m.b, b, u.hz)
    put(m.p, p)
    put(m.P, P)
    put(m.Fu, Fu, u.flops)
    put(m.Fs, Fs, u.flops)
    if T_seconds is not None and hasattr(m, "T"):
        m.T.set_value(max(float(T_seconds) / pyo.value(m.t_unit), 0.0))


def read_point(m):
    """(φ, b, p, P, F_n, F_nm) in SI units, one value per user of the model."""
    u = m.units
    get = lambda comp: np.array([pyo.value(comp[i]) for i in m.I], dtype=float)  # noqa: E731
    return np.clip(get(m.phi), 0.0, 1.0), get(m.b) * u.hz, get(m.p), get(m.P), get(m.Fu) * u.flops, get(m.Fs) * u.flops

"""The full MINLP (3) of MODEL.md §4 as a Pyomo ``ConcreteModel``.

``build_model(scenario, form="dinkelbach", y=...)`` declares

* ``x[n,m]`` ∈ {0,1} (3a), ``phi[n]`` ∈ [0,1] (3c),
* resources ``b[n,m]``, ``p[n]``, ``P[n,m]``, ``Fu[n]``, ``Fs[n,m]`` with the
  bounds (3e), (3g), (3i) and small positive lower bounds so that rates and
  delays stay finite,
* the epigraph variable ``T`` of the total delay,
* (3b) one server per user, the budgets (3d), (3f), (3h), the delay
  constraints (3j),
* the objective: (3) ``service − y·(ω_t T + ω_e E)`` (``form="dinkelbach"``), or
  the SCR (2) itself (``form="ratio"``).

Indices are the workbook's user and server ids.  The model works in the units
of :mod:`pyomo_llmmec.units` (``model.units``): bandwidth in ``units.hz`` Hz,
compute in ``units.flops`` FLOP/s, power in W, T in ``units.seconds`` s, the
Dinkelbach objective in ``units.objective``.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from .. import physics
from ..evaluator import evaluate
from ..points import initial_point
from ..solution import Solution
from ..units import Units, units_for


def positive_floor(scenario) -> float:
    """Relative lower bound on resources (fraction of each budget): small, and N of them fit a budget."""
    return min(1e-6, 0.1 / scenario.n_users)


# ---------------------------------------------------------------------------------------------
# sets and data
# ---------------------------------------------------------------------------------------------


def declare_sets(m, sc):
    m.N = pyo.Set(initialize=list(sc.user_ids), ordered=True, doc="users n")
    m.M = pyo.Set(initialize=list(sc.server_ids), ordered=True, doc="servers m")


def declare_data(m, sc, u: Units):
    """Scaled data as Params (see pyomo_llmmec.units)."""
    U, S = sc.user_ids, sc.server_ids
    gamma = u.snr_per_watt(sc)
    wsrv = u.server_work(sc)
    m.gamma = pyo.Param(m.N, m.M, initialize={(U[i], S[j]): float(gamma[i, j]) for i in range(len(U)) for j in range(len(S))},
                        doc="SNR per W per bandwidth unit, g/(σ²·hz)")
    m.bits = pyo.Param(m.N, initialize=dict(zip(U, map(float, u.bits(sc)))), doc="d_n ω_b in hz-bits")
    m.work_u = pyo.Param(m.N, initialize=dict(zip(U, map(float, u.user_work(sc)))), doc="e_n t_n d_n in flops·s")
    m.work_s = pyo.Param(m.N, m.M, initialize={(U[i], S[j]): float(wsrv[i, j]) for i in range(len(U)) for j in range(len(S))},
                         doc="e_m t_n d_n in flops·s")
    m.kappa_u = pyo.Param(m.N, initialize=dict(zip(U, map(float, u.kappa_user(sc)))), doc="κ_n·flops³")
    m.kappa_s = pyo.Param(m.M, initialize=dict(zip(S, map(float, u.kappa_server(sc)))), doc="κ_m·flops³")
    m.p_max_u = pyo.Param(m.N, initialize=dict(zip(U, map(float, sc.user_p_max_w))), doc="p_max_n (W)")
    m.F_max_u = pyo.Param(m.N, initialize=dict(zip(U, map(float, sc.user_f_max_flops / u.flops))), doc="F_max_n (flops)")
    m.b_max = pyo.Param(m.M, initialize=dict(zip(S, map(float, sc.bandwidth_hz / u.hz))), doc="b_max_m (hz)")
    m.p_max_s = pyo.Param(m.M, initialize=dict(zip(S, map(float, sc.server_p_max_w))), doc="p_max_m (W)")
    m.F_max_s = pyo.Param(m.M, initialize=dict(zip(S, map(float, sc.server_f_max_flops / u.flops))), doc="F_max_m (flops)")


# ---------------------------------------------------------------------------------------------
# variables
# ---------------------------------------------------------------------------------------------


def declare_var_association(m, relax=False):
    """x_nm ∈ {0,1} (3a) — or [0,1] when relaxed."""
    m.x = pyo.Var(m.N, m.M, domain=pyo.UnitInterval if relax else pyo.Binary, initialize=0)


def declare_var_offloading(m):
    """φ_n ∈ [0,1] (3c)."""
    m.phi = pyo.Var(m.N, bounds=(0.0, 1.0), initialize=0.5)


def declare_var_resources(m, eps):
    """b_nm, p_n, P_nm, F_n, F_nm with (3e), (3g), (3i) and positive floors (MODEL.md §4 Numerics)."""
    m.b = pyo.Var(m.N, m.M, bounds=lambda m, n, s: (eps * m.b_max[s], m.b_max[s]), initialize=lambda m, n, s: m.b_max[s] / len(m.N))
    m.p = pyo.Var(m.N, bounds=lambda m, n: (eps * m.p_max_u[n], m.p_max_u[n]), initialize=lambda m, n: m.p_max_u[n])  # (3e)
    m.P = pyo.Var(m.N, m.M, bounds=lambda m, n, s: (eps * m.p_max_s[s], m.p_max_s[s]), initialize=lambda m, n, s: m.p_max_s[s] / len(m.N))
    m.Fu = pyo.Var(m.N, bounds=lambda m, n: (eps * m.F_max_u[n], m.F_max_u[n]), initialize=lambda m, n: m.F_max_u[n])  # (3g)
    m.Fs = pyo.Var(m.N, m.M, bounds=lambda m, n, s: (eps * m.F_max_s[s], m.F_max_s[s]), initialize=lambda m, n, s: m.F_max_s[s] / len(m.N))


def declare_var_delay(m):
    """T ≥ T_total (epigraph of the max in (2)), in units.seconds."""
    m.T = pyo.Var(domain=pyo.NonNegativeReals, initialize=1.0)


# ---------------------------------------------------------------------------------------------
# expressions of MODEL.md §3
# ---------------------------------------------------------------------------------------------


def declare_expr_rates(m):
    """r_up = b log2(1 + g p/(σ² b)), r_dn = b log2(1 + g P/(σ² b)), in hz bit/s (MODEL.md §3.1)."""
    m.rate_up = pyo.Expression(m.N, m.M, rule=lambda m, n, s: physics.rate(m.b[n, s], m.gamma[n, s], m.p[n]))
    m.rate_dn = pyo.Expression(m.N, m.M, rule=lambda m, n, s: physics.rate(m.b[n, s], m.gamma[n, s], m.P[n, s]))


def declare_expr_delays(m):
    """T1_n, T2_nm, T3_nm, T4_nm in seconds (MODEL.md §3.2)."""
    m.T1 = pyo.Expression(m.N, rule=lambda m, n: physics.compute_delay(m.phi[n], m.work_u[n], m.Fu[n]))
    m.T2 = pyo.Expression(m.N, m.M, rule=lambda m, n, s: physics.link_delay(m.phi[n], m.bits[n], m.rate_up[n, s]))
    m.T3 = pyo.Expression(m.N, m.M, rule=lambda m, n, s: physics.compute_delay(1 - m.phi[n], m.work_s[n, s], m.Fs[n, s]))
    m.T4 = pyo.Expression(m.N, m.M, rule=lambda m, n, s: physics.link_delay(1 - m.phi[n], m.bits[n], m.rate_dn[n, s]))


def declare_expr_energies(m):
    """E1_n (once per user [decision]), E2_nm, E3_nm, E4_nm in J (MODEL.md §3.3)."""
    m.E1 = pyo.Expression(m.N, rule=lambda m, n: physics.compute_energy(m.phi[n], m.work_u[n], m.kappa_u[n], m.Fu[n]))
    m.E2 = pyo.Expression(m.N, m.M, rule=lambda m, n, s: physics.link_energy(m.p[n], m.T2[n, s]))
    m.E3 = pyo.Expression(m.N, m.M, rule=lambda m, n, s: physics.compute_energy(1 - m.phi[n], m.work_s[n, s], m.kappa_s[s], m.Fs[n, s]))
    m.E4 = pyo.Expression(m.N, m.M, rule=lambda m, n, s: physics.link_energy(m.P[n, s], m.T4[n, s]))


def declare_expr_service(m, sc):
    """Service score (1): v_nm = ϖ1 ln(1 + ϖ2 (P_nm/p_max_m + F_nm/F_max_m + b_nm/b_max_m))."""
    w1, w2 = sc.system.score_scale, sc.system.score_norm
    m.v = pyo.Expression(
        m.N, m.M,
        rule=lambda m, n, s: physics.service_score(w1, w2, m.P[n, s] / m.p_max_s[s], m.Fs[n, s] / m.F_max_s[s], m.b[n, s] / m.b_max[s]),
    )
    m.service = pyo.Expression(expr=sum(m.x[n, s] * m.v[n, s] for n in m.N for s in m.M))


def declare_expr_cost(m, sc, u: Units):
    """E_total (MODEL.md §3.3) and the cost ω_t T + ω_e E_total of (2), with T the epigraph variable (in units.seconds)."""
    m.energy = pyo.Expression(
        expr=sum(m.E1[n] for n in m.N) + sum(m.x[n, s] * (m.E2[n, s] + m.E3[n, s] + m.E4[n, s]) for n in m.N for s in m.M)
    )
    m.cost = pyo.Expression(expr=physics.cost(u.seconds * m.T, m.energy, sc.system.weight_time, sc.system.weight_energy))


# ---------------------------------------------------------------------------------------------
# constraints
# ---------------------------------------------------------------------------------------------


def declare_eq_one_server(m):
    """(3b) Σ_m x_nm = 1."""
    m.one_server = pyo.Constraint(m.N, rule=lambda m, n: sum(m.x[n, s] for s in m.M) == 1)


def declare_ineq_budgets(m):
    """(3d) Σ_n x_nm b_nm ≤ b_max_m, (3f) Σ_n x_nm P_nm ≤ p_max_m, (3h) Σ_n x_nm F_nm ≤ F_max_m."""
    m.bandwidth_budget = pyo.Constraint(m.M, rule=lambda m, s: sum(m.x[n, s] * m.b[n, s] for n in m.N) <= m.b_max[s])
    m.power_budget = pyo.Constraint(m.M, rule=lambda m, s: sum(m.x[n, s] * m.P[n, s] for n in m.N) <= m.p_max_s[s])
    m.compute_budget = pyo.Constraint(m.M, rule=lambda m, s: sum(m.x[n, s] * m.Fs[n, s] for n in m.N) <= m.F_max_s[s])


def declare_ineq_delay(m, u: Units):
    """(3j) T1_n + x_nm (T2_nm + T3_nm + T4_nm) ≤ T, scaled by 1/units.seconds."""
    m.delay = pyo.Constraint(
        m.N, m.M,
        rule=lambda m, n, s: (m.T1[n] + m.x[n, s] * (m.T2[n, s] + m.T3[n, s] + m.T4[n, s])) / u.seconds <= m.T,
    )


def declare_objective(m, form):
    if form == "dinkelbach":
        # (3): max Σ x v − y ω_e E − y ω_t T, in units.objective
        m.obj = pyo.Objective(expr=(m.service - m.y * m.cost) / m.units.objective, sense=pyo.maximize)
    else:
        # (2): max SCR = Σ x v / (ω_t T + ω_e E)
        m.obj = pyo.Objective(expr=m.service / m.cost, sense=pyo.maximize)


# ---------------------------------------------------------------------------------------------
# the builder
# ---------------------------------------------------------------------------------------------


def build_model(scenario, form: str = "dinkelbach", y: float | None = None, *, units: Units | None = None,
                relax_association: bool = False) -> pyo.ConcreteModel:
    """Problem (3) as a Pyomo ConcreteModel (see the module docstring).

    ``y`` is the Dinkelbach parameter (a mutable Param ``model.y``); by default
    the SCR of Algorithm 1's initial point (its line 2).  ``form="ratio"`` gives
    the SCR (2) as the objective instead.  The model is not solved here.
    """
    if form not in ("dinkelbach", "ratio"):
        raise ValueError(f"form must be 'dinkelbach' or 'ratio', not {form!r}")
    sc = scenario
    start = evaluate(sc, initial_point(sc), attach=False)
    u = units or units_for(sc, start)
    m = pyo.ConcreteModel(name=f"MINLP3_{sc.name}")
    m.units = u
    m.scenario = sc
    declare_sets(m, sc)
    declare_data(m, sc, u)
    m.y = pyo.Param(mutable=True, initialize=float(start.scr if y is None else y), doc="Dinkelbach parameter y")
    declare_var_association(m, relax=relax_association)
    declare_var_offloading(m)
    declare_var_resources(m, positive_floor(sc))
    declare_var_delay(m)
    declare_expr_rates(m)
    declare_expr_delays(m)
    declare_expr_energies(m)
    declare_expr_service(m, sc)
    declare_expr_cost(m, sc, u)
    declare_eq_one_server(m)
    declare_ineq_budgets(m)
    declare_ineq_delay(m, u)
    declare_objective(m, form)
    return m


def load_solution(model, solution: Solution, scenario=None) -> None:
    """Put a Solution into the model's variables (T = the actual maximum delay).

    Pairs that are not assigned take their variables' lower bounds (they carry
    no delay, energy or score).  Values below a variable's positive floor (e.g.
    p_n = 0 for a user with φ_n = 0, where p_n has no effect) are raised to it.
    """
    sc = scenario or model.scenario
    u = model.units
    ev = solution.evaluation or evaluate(sc, solution, attach=False)
    U, S = sc.user_ids, sc.server_ids

    def put(var, value):
        lo = var.lb
        if lo is not None:
            value = max(value, lo)
        var.set_value(value, skip_validation=True)

    for n in U:
        for s in S:
            model.x[n, s].set_value(0)
            put(model.b[n, s], 0.0)
            put(model.P[n, s], 0.0)
            put(model.Fs[n, s], 0.0)
    for i, n in enumerate(U):
        s = S[int(solution.assignment[i])]
        model.x[n, s].set_value(1)
        model.phi[n].set_value(float(solution.phi[i]), skip_validation=True)
        put(model.p[n], float(solution.p[i]))
        put(model.Fu[n], float(solution.f_user[i]) / u.flops)
        put(model.b[n, s], float(solution.b[i]) / u.hz)
        put(model.P[n, s], float(solution.p_server[i]))
        put(model.Fs[n, s], float(solution.f_server[i]) / u.flops)
    model.T.set_value(ev.delay / u.seconds, skip_validation=True)


def extract_solution(model, scenario=None, **kw) -> Solution:
    """Read a Solution (SI units) back from the model's variable values; x is rounded."""
    sc = scenario or model.scenario
    u = model.units
    U, S = sc.user_ids, sc.server_ids
    xv = np.array([[pyo.value(model.x[n, s]) for s in S] for n in U], dtype=float)
    a = np.argmax(xv, axis=1)
    get = lambda var: float(pyo.value(var))  # noqa: E731
    return Solution.from_arrays(
        sc,
        a,
        phi=np.clip([get(model.phi[n]) for n in U], 0.0, 1.0),
        p=np.array([get(model.p[n]) for n in U]),
        f_user=np.array([get(model.Fu[n]) for n in U]) * u.flops,
        b=np.array([get(model.b[n, S[a[i]]]) for i, n in enumerate(U)]) * u.hz,
        p_server=np.array([get(model.P[n, S[a[i]]]) for i, n in enumerate(U)]),
        f_server=np.array([get(model.Fs[n, S[a[i]]]) for i, n in enumerate(U)]) * u.flops,
        **kw,
    )


def constraint_violations(model, rel: bool = True) -> dict:
    """Largest violation of every active constraint family and of the variable bounds.

    With ``rel`` a violation is divided by max(1, |bound|).  Used by the tests
    to show that feasible solutions satisfy every constraint of the model.
    """
    out = {}
    for con in model.component_objects(pyo.Constraint, active=True):
        worst = 0.0
        for c in con.values():
            body = pyo.value(c.body)
            for bound, sign in ((c.lower, -1.0), (c.upper, 1.0)):
                if bound is None:
                    continue
                bv = pyo.value(bound)
                v = sign * (body - bv)
                if rel:
                    v /= max(1.0, abs(bv))
                worst = max(worst, v)
        out[con.name] = worst
    worst = 0.0
    for var in model.component_data_objects(pyo.Var):
        val = var.value
        if val is None:
            continue
        for bound, sign in ((var.lb, -1.0), (var.ub, 1.0)):
            if bound is not None:
                v = sign * (val - bound) / (max(1.0, abs(bound)) if rel else 1.0)
                worst = max(worst, v)
    out["variable bounds"] = worst
    return out

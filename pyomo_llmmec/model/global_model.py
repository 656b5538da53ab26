"""A reformulation of (3) for a fixed association, for Gurobi's global MINLP.

For one association (the user → server map ``a``) the Dinkelbach objective
of (3) at a given y is written with the nonlinearities split into pieces that
Gurobi's spatial branch-and-bound relaxes well (MODEL.md §4; issue 4):

* times ``t[n,1..4]`` and energies ``e[n,1..4]`` are variables, linked to the
  resources by bilinear constraints  t1·F_n ≥ φ W,  t2·r_up ≥ φ D,
  t3·F_nm ≥ (1−φ) W_s,  t4·r_dn ≥ (1−φ) D,  e2 ≥ p·t2,  e4 ≥ P·t4;
* the rates are hypographs of the concave perspective  r ≤ b log2(1 + γ p / b);
* local computing uses the exact convex perspective  e1 ≥ κ W³ φ³ / t1²
  (two rotated second-order cones; F_n = φ W / t1 is recovered afterwards);
* the bandwidth budget is an equality (more bandwidth never hurts: it raises
  rates and the service score and lowers every delay and energy);
* spectrum-time products  s2 = b·t2,  s4 = b·t4  (bilinear equalities) carry
  the link energies' convex lower bounds  e2 ≥ h(φ, s2),  e4 ≥ h(1−φ, s4),
  h(x, s) = (s/γ)(2^{xD/s} − 1)  (E2 = p·t2 with p ≥ (b/γ)(2^{r/b} − 1) and
  r ≥ φD/t2; h falls in s, so a user with less than the whole band pays for it
  in the bound, which the former cuts at b = b_max did not see);
* valid cuts: the low-SNR floors  e2 ≥ φ D ln2 / γ,  e4 ≥ (1−φ) D ln2 / γ and
  r ≤ γ p / ln2 (from log(1+s) ≤ s); lower bounds on each time from the
  largest speeds and rates; tangent planes of e1 ≥ κW³φ³/t1²,
  e3 ≥ κW_s³(1−φ)³/t3², e2 ≥ h(φ, s2), e4 ≥ h(1−φ, s4) and of the concave rates
  r ≤ b log2(1 + γp/b).  Each of these functions is positively homogeneous of
  degree 1, so its tangent planes pass through the origin and form a
  one-parameter family (speed ratio φ/t, spectral efficiency ζ): ``n_cuts``
  planes per family give Gurobi nearly the exact convex hull of each piece
  (measured: a 3-user server problem of (4,2) seed 0 whose bound stalled at a
  gap of 1.8e-3 after 40 s closes to 1e-5 in 4 s);  tangent planes of the
  concave service score (1);
* the delay epigraph T and every time are bounded by ``T_max``, the largest
  delay a point with SCR ≥ y can have; energies by ``E_max`` likewise.

Units: bandwidth in ``units.hz`` Hz, compute in ``units.flops`` FLOP/s, power
in W, times in s, energies in J, the objective divided by ``units.objective``.
``build_association_model`` serves both the whole association (T free) and one
server's users at a fixed delay level T (the per-server subproblems of the
delay decomposition in :mod:`pyomo_llmmec.methods.global_`).
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from .. import physics
from ..physics import LN2
from ..solution import Solution
from ..units import Units

EPS = 1e-6  # positive floors (fraction of each bound)


def _data(sc, a, u: Units):
    idx = np.arange(sc.n_users)
    return dict(
        gam=u.snr_per_watt(sc)[idx, a], D=u.bits(sc), W=u.user_work(sc), Ws=u.server_work(sc)[idx, a],
        ku=u.kappa_user(sc), ks=u.kappa_server(sc)[a], bmax=sc.bandwidth_hz / u.hz, pmaxs=sc.server_p_max_w,
        fmaxs=sc.server_f_max_flops / u.flops, pmaxu=sc.user_p_max_w, fmaxu=sc.user_f_max_flops / u.flops,
    )


def min_delays(sc, a, u: Units) -> np.ndarray:
    """Per user, a lower bound on its delay: the faster of the two paths with every resource at its maximum."""
    d = _data(sc, a, u)
    s = a
    ru = physics.rate(d["bmax"][s], d["gam"], d["pmaxu"])
    rd = physics.rate(d["bmax"][s], d["gam"], d["pmaxs"][s])
    local = physics.compute_delay(1.0, d["W"], d["fmaxu"]) + physics.link_delay(1.0, d["D"], ru)
    server = physics.compute_delay(1.0, d["Ws"], d["fmaxs"][s]) + physics.link_delay(1.0, d["D"], rd)
    return np.minimum(local, server)


def _floor_rates(d, s):
    """Uplink and downlink rates with the bandwidth at its floor and the power at its maximum (the slowest links of
    the most energy per bit: r(b, p) rises with b, and p/r(b, p) rises with p)."""
    ru = physics.rate(EPS * d["bmax"][s], d["gam"], d["pmaxu"])
    rd = physics.rate(EPS * d["bmax"][s], d["gam"], d["pmaxs"][s])
    return ru, rd


def max_delays(sc, a, u: Units) -> np.ndarray:
    """Per user, an upper bound on its delay in the model (s): the slower of the two paths with every resource at its
    floor (``EPS`` of its bound) — the cap on T where a zero ω_t gives none (:func:`pyomo_llmmec.methods.global_._caps`)."""
    d = _data(sc, a, u)
    s = a
    ru = physics.rate(EPS * d["bmax"][s], d["gam"], EPS * d["pmaxu"])
    rd = physics.rate(EPS * d["bmax"][s], d["gam"], EPS * d["pmaxs"][s])
    local = physics.compute_delay(1.0, d["W"], EPS * d["fmaxu"]) + physics.link_delay(1.0, d["D"], ru)
    server = physics.compute_delay(1.0, d["Ws"], EPS * d["fmaxs"][s]) + physics.link_delay(1.0, d["D"], rd)
    return np.maximum(local, server)


def max_energy_term(sc, a, u: Units) -> float:
    """An upper bound (J) on every energy term e_{n,k} of the model: computing at full speed, sending at full power
    over the slowest link (bandwidth at its floor) — the cap on the energies where a zero ω_e gives none."""
    d = _data(sc, a, u)
    s = a
    ru, rd = _floor_rates(d, s)
    terms = (physics.compute_energy(1.0, d["W"], d["ku"], d["fmaxu"]),
             physics.link_energy(d["pmaxu"], physics.link_delay(1.0, d["D"], ru)),
             physics.compute_energy(1.0, d["Ws"], d["ks"], d["fmaxs"][s]),
             physics.link_energy(d["pmaxs"][s], physics.link_delay(1.0, d["D"], rd)))
    return float(max(np.max(t) for t in terms))


def min_energy(sc, a) -> float:
    """A lower bound on E_total (J): the link energy is at least D ln2 σ²/g per user (log(1+s) ≤ s)."""
    idx = np.arange(sc.n_users)
    return float(np.sum(sc.adapter_bits * LN2 * sc.sigma2 / sc.gain[idx, a]))


def max_service(sc) -> float:
    """An upper bound on the total service: every share at 1 in (1)."""
    return sc.n_users * float(physics.service_score(sc.system.score_scale, sc.system.score_norm, 1.0, 1.0, 1.0))


def build_association_model(sc, a, u: Units, y: float, T_max: float, E_max: float, *, fixed_T: float | None = None,
                            T_range: tuple[float, float] | None = None, T_price: float = 0.0,
                            n_cuts: int = 48, max_cuts: int = 1200) -> pyo.ConcreteModel:
    """The reformulated Dinkelbach problem of (3) for association ``a`` (server positions per user).

    With ``fixed_T`` the delay level is fixed and the objective is
    Σ_n (v_n − y ω_e E_n) (the per-server subproblem); with ``T_range=(T_a, T_b)``
    the delay level is a variable in [T_a, T_b] priced at ``T_price`` (objective
    units per second): Σ_n (v_n − y ω_e E_n)/units.objective − T_price·T (the
    per-server subproblem of a delay interval with a split price); otherwise it
    is the full Dinkelbach objective Σ v − y (ω_t T + ω_e E).
    The tangent-plane cuts (6 families of n_cuts planes per user) are
    thinned to at most ``max_cuts`` in all (the rows stay below ~1500 for up to ~9 users).  The
    size-limited Gurobi licence takes these nonlinear models up to 200 *variables*: ~8 users
    (21 variables and 3 nonlinear rows per user); larger ones go to SCIP
    (:func:`pyomo_llmmec.methods.global_.gurobi_fits`).
    """
    a = np.asarray(a)
    n_cuts = max(2, min(n_cuts, max_cuts // (6 * max(1, sc.n_users))))  # 6 families of n_cuts planes per user
    d = _data(sc, a, u)
    N, s = sc.n_users, a
    gam, D, W, Ws = d["gam"], d["D"], d["W"], d["Ws"]
    bmax, pmaxs, fmaxs, pmaxu, fmaxu = d["bmax"], d["pmaxs"], d["fmaxs"], d["pmaxu"], d["fmaxu"]
    Tcap = fixed_T if fixed_T is not None else (T_range[1] if T_range is not None else T_max)
    m = pyo.ConcreteModel(name="global_association")
    m.N = pyo.RangeSet(0, N - 1)
    m.S = pyo.Set(initialize=sorted(set(int(j) for j in s)))
    B = lambda lo, hi: (lambda m, n: (float(lo[n]), float(hi[n])))  # noqa: E731

    m.phi = pyo.Var(m.N, bounds=(0.0, 1.0), initialize=0.5)
    m.p = pyo.Var(m.N, bounds=B(EPS * pmaxu, pmaxu))
    m.b = pyo.Var(m.N, bounds=B(EPS * bmax[s], bmax[s]))
    m.P = pyo.Var(m.N, bounds=B(EPS * pmaxs[s], pmaxs[s]))
    m.Fs = pyo.Var(m.N, bounds=B(EPS * fmaxs[s], fmaxs[s]))
    ru_max = physics.rate(bmax[s], gam, pmaxu)  # every resource at its maximum
    rd_max = physics.rate(bmax[s], gam, pmaxs[s])
    m.ru = pyo.Var(m.N, bounds=B(np.zeros(N), ru_max))
    m.rd = pyo.Var(m.N, bounds=B(np.zeros(N), rd_max))
    m.T = pyo.Var(bounds=(0.0 if T_range is None else T_range[0], Tcap))
    if fixed_T is not None:
        m.T.fix(fixed_T)
    m.t = pyo.Var(m.N, [1, 2, 3, 4], bounds=(0.0, Tcap))
    m.e = pyo.Var(m.N, [1, 2, 3, 4], bounds=(0.0, E_max))

    # rates: hypographs of the concave perspective, and r <= γ p / ln2
    m.rate_up = pyo.Constraint(m.N, rule=lambda m, n: m.ru[n] <= physics.rate(m.b[n], float(gam[n]), m.p[n]))
    m.rate_dn = pyo.Constraint(m.N, rule=lambda m, n: m.rd[n] <= physics.rate(m.b[n], float(gam[n]), m.P[n]))
    m.rate_up_lin = pyo.Constraint(m.N, rule=lambda m, n: m.ru[n] * LN2 <= gam[n] * m.p[n])
    m.rate_dn_lin = pyo.Constraint(m.N, rule=lambda m, n: m.rd[n] * LN2 <= gam[n] * m.P[n])
    # local computing: e1 >= κ W^3 φ^3 / t1^2 as φ² <= w t1, w² <= z φ, e1 = κ W^3 z ; F_n <= F_max: φ W <= F_max t1
    m.w1 = pyo.Var(m.N, bounds=(0.0, None))
    m.z1 = pyo.Var(m.N, bounds=(0.0, None))
    m.cone1 = pyo.Constraint(m.N, rule=lambda m, n: m.phi[n] ** 2 <= m.w1[n] * m.t[n, 1])
    m.cone2 = pyo.Constraint(m.N, rule=lambda m, n: m.w1[n] ** 2 <= m.z1[n] * m.phi[n])
    m.e1_def = pyo.Constraint(m.N, rule=lambda m, n: m.e[n, 1] >= d["ku"][n] * W[n] ** 3 * m.z1[n])
    m.f_user_max = pyo.Constraint(m.N, rule=lambda m, n: m.phi[n] * W[n] <= fmaxu[n] * m.t[n, 1])
    # the other three phases (MODEL.md §3)
    m.uplink = pyo.Constraint(m.N, rule=lambda m, n: m.t[n, 2] * m.ru[n] >= m.phi[n] * D[n])
    m.server_compute = pyo.Constraint(m.N, rule=lambda m, n: m.t[n, 3] * m.Fs[n] >= (1 - m.phi[n]) * Ws[n])
    m.downlink = pyo.Constraint(m.N, rule=lambda m, n: m.t[n, 4] * m.rd[n] >= (1 - m.phi[n]) * D[n])
    m.e2_def = pyo.Constraint(m.N, rule=lambda m, n: m.e[n, 2] >= m.p[n] * m.t[n, 2])
    m.e3_def = pyo.Constraint(m.N, rule=lambda m, n: m.e[n, 3] >= d["ks"][n] * Ws[n] * (1 - m.phi[n]) * m.Fs[n] ** 2)
    m.e4_def = pyo.Constraint(m.N, rule=lambda m, n: m.e[n, 4] >= m.P[n] * m.t[n, 4])
    m.delay = pyo.Constraint(m.N, rule=lambda m, n: sum(m.t[n, k] for k in (1, 2, 3, 4)) <= m.T)  # (3j)
    # budgets (3d) as equality, (3f), (3h)
    m.bandwidth_budget = pyo.Constraint(m.S, rule=lambda m, j: sum(m.b[n] for n in m.N if s[n] == j) == bmax[j])
    m.power_budget = pyo.Constraint(m.S, rule=lambda m, j: sum(m.P[n] for n in m.N if s[n] == j) <= pmaxs[j])
    m.compute_budget = pyo.Constraint(m.S, rule=lambda m, j: sum(m.Fs[n] for n in m.N if s[n] == j) <= fmaxs[j])

    # spectrum-time products s = b·t of the two links: with them the link energies have convex lower bounds
    # e2 ≥ h(φ, s2), e4 ≥ h(1−φ, s4), h(x, s) = (s/γ)(2^{xD/s} − 1) (E2 = p·t2 with p ≥ (b/γ)(2^{r/b} − 1), r ≥ φD/t2)
    m.s2 = pyo.Var(m.N, bounds=B(np.zeros(N), bmax[s] * Tcap))
    m.s4 = pyo.Var(m.N, bounds=B(np.zeros(N), bmax[s] * Tcap))
    m.spectrum_time_up = pyo.Constraint(m.N, rule=lambda m, n: m.s2[n] == m.b[n] * m.t[n, 2])
    m.spectrum_time_dn = pyo.Constraint(m.N, rule=lambda m, n: m.s4[n] == m.b[n] * m.t[n, 4])

    # valid cuts.  Every function below is convex (concave for the rates) and positively homogeneous of degree 1,
    # so its tangent planes pass through the origin and depend on one ratio only: one family of n_cuts planes each.
    m.cuts = pyo.ConstraintList()
    for n in range(N):
        m.cuts.add(m.e[n, 2] >= m.phi[n] * D[n] * LN2 / gam[n])
        m.cuts.add(m.e[n, 4] >= (1 - m.phi[n]) * D[n] * LN2 / gam[n])
        m.cuts.add(m.t[n, 2] >= m.phi[n] * D[n] / ru_max[n])
        m.cuts.add(m.t[n, 3] >= (1 - m.phi[n]) * Ws[n] / fmaxs[s[n]])
        m.cuts.add(m.t[n, 4] >= (1 - m.phi[n]) * D[n] / rd_max[n])
        # e ≥ c x³/t² (local and server computing), tangent at speed ratio ρ = x/t ≤ F_max/W: e ≥ 3cρ²x − 2cρ³t
        for k, w, tk, xf, fcap in ((d["ku"][n], W[n], 1, lambda n=n: m.phi[n], fmaxu[n]),
                                   (d["ks"][n], Ws[n], 3, lambda n=n: 1 - m.phi[n], fmaxs[s[n]])):
            c = k * w**3
            if c <= 0:
                continue
            for rho in np.geomspace(1e-3, 1.0, n_cuts) * fcap / w:
                m.cuts.add(m.e[n, tk] >= 3 * c * rho**2 * xf() - 2 * c * rho**3 * m.t[n, tk])
        # spectral efficiencies ζ (bit/s/Hz) from low SNR to the largest a link can reach with 1 % of the band
        g = gam[n]
        zeta_hi = [float(physics.rate(0.01 * bmax[s[n]], g, pmax)) / (0.01 * bmax[s[n]]) for pmax in (pmaxu[n], pmaxs[s[n]])]
        for (tk, xf, sv, r, pw), zh in zip(((2, lambda n=n: m.phi[n], m.s2, m.ru, m.p), (4, lambda n=n: 1 - m.phi[n], m.s4, m.rd, m.P)),
                                           zeta_hi):
            for z in np.geomspace(1e-3, max(zh, 2e-3), n_cuts):
                # e ≥ h(x, s): ∂h/∂x = (D/γ) 2^ζ ln2, ∂h/∂s = (2^ζ − 1 − ζ ln2 2^ζ)/γ
                m.cuts.add(m.e[n, tk] >= D[n] * 2**z * LN2 / g * xf() + (2**z - 1 - z * LN2 * 2**z) / g * sv[n])
                # rate r ≤ b log2(1 + γp/b) at SNR q = 2^ζ − 1: r ≤ b (ζ − q/((1+q) ln2)) + p γ/((1+q) ln2)
                q = 2**z - 1
                m.cuts.add(r[n] <= m.b[n] * (z - q / ((1 + q) * LN2)) + pw[n] * g / ((1 + q) * LN2))

    # service score (1) with tangent planes
    w1, w2 = sc.system.score_scale, sc.system.score_norm
    m.v = pyo.Var(m.N, bounds=(0.0, float(physics.service_score(w1, w2, 1.0, 1.0, 1.0))))
    share = lambda m, n: m.P[n] / pmaxs[s[n]] + m.Fs[n] / fmaxs[s[n]] + m.b[n] / bmax[s[n]]  # noqa: E731
    m.score = pyo.Constraint(m.N, rule=lambda m, n: m.v[n] <= physics.service_score(
        w1, w2, m.P[n] / pmaxs[s[n]], m.Fs[n] / fmaxs[s[n]], m.b[n] / bmax[s[n]]))
    pts = np.linspace(0.0, 3.0, 13)
    v_at = [float(physics.service_score(w1, w2, float(x), 0.0, 0.0)) for x in pts]  # (1) at total share x
    m.score_tangents = pyo.Constraint(
        m.N, range(len(pts)),
        rule=lambda m, n, k: m.v[n] <= v_at[k] + w1 * w2 * (share(m, n) - pts[k]) / (1 + w2 * pts[k]),
    )
    ot, ow = sc.system.weight_time, sc.system.weight_energy
    energy = sum(m.e[n, k] for n in m.N for k in (1, 2, 3, 4))
    if T_range is not None:
        m.obj = pyo.Objective(expr=(sum(m.v[n] for n in m.N) - y * ow * energy) / u.objective - T_price * m.T, sense=pyo.maximize)
    elif fixed_T is None:
        m.obj = pyo.Objective(expr=(sum(m.v[n] for n in m.N) - y * (ot * m.T + ow * energy)) / u.objective, sense=pyo.maximize)
    else:
        m.obj = pyo.Objective(expr=(sum(m.v[n] for n in m.N) - y * ow * energy) / u.objective, sense=pyo.maximize)
    m.units, m.assignment = u, a
    return m


def point_from_model(sc, m) -> Solution:
    """A Solution (SI) from the model's values; F_n = φ W / t1 (the slowest speed meeting t1)."""
    u = m.units
    val = lambda c: np.array([pyo.value(c[n]) for n in m.N], dtype=float)  # noqa: E731
    phi = np.clip(val(m.phi), 0.0, 1.0)
    W = u.user_work(sc)
    fmaxu = sc.user_f_max_flops / u.flops
    t1 = np.array([pyo.value(m.t[n, 1]) for n in m.N])
    with np.errstate(divide="ignore", invalid="ignore"):
        fu = np.where((phi > 0) & (t1 > 0), np.minimum(fmaxu, phi * W / t1), fmaxu)
    fu = np.maximum(fu, EPS * fmaxu)
    return Solution.from_arrays(sc, m.assignment, phi, val(m.p), fu * u.flops, val(m.b) * u.hz, val(m.P), val(m.Fs) * u.flops)

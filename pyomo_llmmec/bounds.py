"""A proven upper bound on the SCR of (3) at any size: Lagrangian relaxation + Dinkelbach (docs/DESIGN.md, "Bounds at every size").

Why it is valid.  For y > 0 let V(y) = max over the feasible set of (3) of
Σ x v − y ω_t T − y ω_e E (the Dinkelbach objective, MODEL.md §4).  Every
feasible point has a positive cost ω_t T + ω_e E, so V(y) ≤ 0 implies
SCR ≤ y for every feasible point.  V(y) is bounded above, for any

* prices λ_b, λ_P, λ_F ≥ 0 on the three budgets (3d), (3f), (3h) of each server,
* weights π_n ≥ 0 with Σ π_n = 1 on the delay rows (3j)
  (y ω_t T ≥ y ω_t Σ_n π_n D_n for every point, D_n the user's own delay),
* tangent slopes σ of the concave service score (1)
  (v(s) ≤ t0(σ) + σ s on the share range s ∈ [0, 3], t0 the concave conjugate),

by the Lagrangian function

    L(y) = Σ_m (λ_b b_max + λ_P p_max + λ_F F_max)_m + Σ_n max_m h_nm,

where h_nm is an upper bound on user n's best value on server m with every
coupling priced: it splits into closed-form or one-dimensional pieces
(:func:`_device_cost`, :func:`_server_compute`, :func:`_link`).  For fixed
resources the pair's value is linear in φ_n, so its maximum over φ ∈ [0, 1]
is at φ = 0 or φ = 1 (two branches).  The link piece — max over bandwidth and
power of a_b b + a_q q − (c q + μ) D / r(b, q) — is bounded by a
one-dimensional branch-and-bound over the SNR u = γ q / b with interval
bounds that hold on each whole interval (monotone parts taken at the interval's
worse end), so no grid point is trusted.

L(y) is non-increasing in y for fixed prices; its root y* (L(y*) ≤ 0) is a bound:
SCR* ≤ y*.  The prices start at the uniform level (a multiple of ϖ1ϖ2 / budget, one of
1/8 … 4) with the lowest L at the hint.  At the current y, L is a convex, nonsmooth function of all the
multipliers (λ, π, σ) together; a proximal bundle method (:func:`_proximal_bundle`, its QPs solved by
Clarabel) lowers it, with the envelope-theorem subgradients (the link pieces return the partial derivatives
of the very bound they evaluate), then the slopes σ get one bisection per pair and branch (σ enters only its
own term, whose derivative in σ is a difference of two monotone functions: :meth:`LagrangianBound.sigma_opt`),
and y is moved to the new root.  Every y recorded was certified by an evaluation of L ≤ 0, so a stop at the
time limit still returns a valid (looser) bound.

What it relaxes (so where it is loose): users share budgets through prices only
(integrality of the association, as in any Lagrangian bound), one weighted
delay per user instead of the maximum, φ at an end.  The measured tightness is in
docs/DESIGN.md and benchmarks/results/bound_tightness.md.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from .errors import SolveFailed
from .physics import LN2, score_of_share, spectral_efficiency

#: the SNR grid of the link bound: geometric, 10^-10 … 10^10, plus the two tails
_U_GRID = np.concatenate([[0.0], np.logspace(-10.0, 10.0, 81), [np.inf]])
_SPLIT = 8  # sub-intervals per refinement of the link bound's best interval
_SAFETY = 1e-9  # the bound is reported ×(1 + 1e-9): floating-point rounding of the closed forms
#: the least delay weight, in units of the uniform one 1/N (a user whose delay weight is 0 would take no resource in the
#: relaxation, and its delay's slope in the weight is then unbounded)
_W_MIN = 1e-9


@dataclass
class BoundResult:
    """A proven upper bound on the SCR of (3) (``bound``) with how it was reached."""

    bound: float
    seconds: float
    evaluations: int
    status: str  # "ok" or "time_limit" (a valid but possibly looser bound)
    trace: list = field(default_factory=list)  # (seconds, bound) after each improvement
    #: the budget prices λ (3, M) that certified the bound: rows bandwidth (per Hz), power (per W), compute (per FLOP/s),
    #: in units of the Dinkelbach objective at y = bound (a server whose price is 0 has budget to spare in the relaxation)
    prices: np.ndarray | None = None
    delay_weights: np.ndarray | None = None  #: the weights π (N,) of the users' delays (Σ π = 1)
    slopes: np.ndarray | None = None  #: the tangent slopes σ (2, N, M) of the score that certified the bound
    #: the branch over associations, where it ran (:func:`association_branch_bound`): its counts and time
    branch: dict | None = None

    def gap(self, scr: float) -> float:
        """(bound − scr) / scr: how far ``scr`` can be from the optimum at most."""
        return (self.bound - scr) / scr if scr > 0 else math.inf


# ------------------------------------------------------------------------------------------
# the per-pair pieces (all arrays broadcast; every piece returns an upper bound and a point)
# ------------------------------------------------------------------------------------------


def _device_cost(alpha, beta, f_max):
    """min over F ∈ (0, F_max] of α F² + β / F (local compute energy + priced delay), exact.

    Returns (value, F*)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(alpha > 0, np.cbrt(beta / (2.0 * np.where(alpha > 0, alpha, 1.0))), f_max)
    f = np.minimum(np.where(beta > 0, f, np.where(alpha > 0, 0.0, f_max)), f_max)
    with np.errstate(divide="ignore", invalid="ignore"):
        val = alpha * f * f + np.where(beta > 0, beta / np.where(f > 0, f, 1.0), 0.0)
    return val, f


def _server_compute(a, alpha, beta, f_max, iters: int = 80):
    """max over F ∈ (0, F_max] of a F − α F² − β / F (priced server compute), an upper bound.

    The function is concave; its derivative a − 2αF + β/F² decreases.  Bisection
    (in log F) brackets the maximiser in [lo, hi]; the tangent at lo lies above the
    function, so f(lo) + f'(lo)·(hi − lo) bounds the maximum.  Returns (bound, F)."""
    def val(F):
        return a * F - alpha * F * F - beta / F

    def der(F):
        return a - 2.0 * alpha * F + beta / (F * F)

    hi = np.asarray(f_max, dtype=float) * np.ones_like(a)
    at_top = der(hi) >= 0
    lo = hi * 1e-30
    for _ in range(iters):
        mid = np.sqrt(lo * hi)
        up = der(mid) >= 0
        lo = np.where(up, mid, lo)
        hi = np.where(up, hi, mid)
    # β = 0 and a ≤ 0: the supremum is 0 at F → 0 (no work priced, no value)
    # tangent at lo: f(x) ≤ f(lo) + f'(lo)(x − lo) for every x; the maximiser is in [lo, hi] (or in (0, lo] when
    # f'(lo) < 0 already at the start of the bracket)
    dl = der(lo)
    ub = np.where(at_top, val(np.asarray(f_max) * np.ones_like(a)),
                  val(lo) + np.maximum(dl, 0.0) * (hi - lo) + np.maximum(-dl, 0.0) * lo)
    point = np.where(at_top, f_max, lo)
    sup0 = np.where((beta <= 0) & (a <= 0), 0.0, -np.inf)
    return np.maximum(ub, sup0), np.where(sup0 > ub, 0.0, point)


def _f_snr(u):
    """u / ln(1 + u), with its limit 1 at u = 0 (increasing in u)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(u > 1e-12, u / spectral_efficiency(u), 1.0 + u / 2.0)


def _interval_value(ul, uh, a_b, a_q, c, mu, bits, gam, qmax, bmax):
    """Upper bound of the link piece for SNR u ∈ [ul, uh]; also the bandwidth that attains the bound's inner max."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        u_for_k1 = np.where(a_q >= 0, uh, ul)
        k1 = a_b + np.where(a_q != 0, a_q * u_for_k1 / gam, 0.0)
        k2 = np.where(np.isinf(uh), 0.0, mu * bits * LN2 / spectral_efficiency(uh))
        k0 = c * bits * LN2 / gam * _f_snr(ul)
        bcap = np.minimum(bmax, np.where(ul > 0, gam * qmax / ul, np.inf))
        b_star = np.sqrt(np.where(k1 < 0, k2 / -np.where(k1 < 0, k1, -1.0), np.inf))
        b = np.minimum(b_star, bcap)
        inner = np.where(k2 > 0, k1 * b - k2 / b, np.maximum(k1 * bcap, 0.0))
        # the tail [ul, ∞) with a priced power worth having: q ≤ q_max caps the value of q
        tail = np.isinf(uh) & (a_q > 0)
        inner = np.where(tail, np.maximum(a_b, 0.0) * bcap + a_q * qmax, inner)
        b = np.where(k2 > 0, b, np.where(k1 > 0, bcap, 0.0))
    return inner - k0, b


def _link(a_b, a_q, c, mu, bits, gam, qmax, bmax, rounds: int = 12):
    """Upper bound on max over b ∈ (0, b_max], q ∈ (0, q_max] of a_b b + a_q q − (c q + μ)·bits / r(b, q).

    r = b log2(1 + γ q / b).  With u = γ q / b the objective is
    b (a_b + a_q u / γ) − c·bits·ln2/γ · u/ln(1+u) − μ·bits·ln2 / (b ln(1+u)),
    closed-form in b for each u, monotone pieces in u: on an interval [ul, uh] each
    piece is bounded at its worse end (:func:`_interval_value`).  Branch and bound:
    the best interval of each row is split in 8, ``rounds`` times.  Returns
    (bound, b, q, delay): the bound and its partial derivatives in a_b, a_q and −μ
    (the best interval's b, power and delay as its bound counts them; for the dual's subgradient)."""
    shape = np.broadcast(a_b, a_q, c, mu, bits, gam, qmax, bmax).shape
    args = [np.broadcast_to(np.asarray(x, dtype=float), shape).reshape(-1, 1) for x in (a_b, a_q, c, mu, bits, gam, qmax, bmax)]
    ul = np.broadcast_to(_U_GRID[:-1], (args[0].shape[0], len(_U_GRID) - 1)).copy()
    uh = np.broadcast_to(_U_GRID[1:], ul.shape).copy()
    val, _ = _interval_value(ul, uh, *args)
    rows = np.arange(ul.shape[0])
    for _ in range(rounds):
        j = np.argmax(val, axis=1)
        lo, hi = ul[rows, j], uh[rows, j]
        finite = np.isfinite(hi) & (lo > 0)
        # split: geometric where both ends are positive and finite, else push the open end out/in by 10^3
        hi_eff = np.where(np.isfinite(hi), hi, lo * 1e3)
        lo_eff = np.where(lo > 0, lo, hi_eff * 1e-3)
        edges = lo_eff[:, None] * (hi_eff / lo_eff)[:, None] ** (np.arange(_SPLIT + 1) / _SPLIT)[None, :]
        edges[:, 0] = lo
        edges[:, -1] = np.where(finite, hi, np.where(np.isfinite(hi), hi, lo * 1e3))
        new_l, new_h = edges[:, :-1], edges[:, 1:]
        if not np.all(np.isfinite(hi)):  # keep the unbounded remainder of a tail as its own interval
            tail_rows = ~np.isfinite(hi)
            new_l = np.concatenate([new_l, np.where(tail_rows, edges[:, -1], 0.0)[:, None]], axis=1)
            new_h = np.concatenate([new_h, np.where(tail_rows, np.inf, 0.0)[:, None]], axis=1)
        sub = [a.reshape(-1, 1) for a in args]
        nv, _ = _interval_value(new_l, new_h, *sub)
        if new_l.shape[1] > _SPLIT:  # dummy [0, 0] intervals of rows without a tail never win
            nv[:, _SPLIT] = np.where(~np.isfinite(hi), nv[:, _SPLIT], -np.inf)
        ul[rows, j], uh[rows, j], val[rows, j] = new_l[:, 0], new_h[:, 0], nv[:, 0]
        ul, uh, val = (np.concatenate([ul, new_l[:, 1:]], axis=1), np.concatenate([uh, new_h[:, 1:]], axis=1),
                       np.concatenate([val, nv[:, 1:]], axis=1))
    j = np.argmax(val, axis=1)
    best = val[rows, j]
    lo, hi = ul[rows, j], uh[rows, j]
    _, b = _interval_value(lo[:, None], hi[:, None], *[a.reshape(-1, 1) for a in args])
    b = b[:, 0]
    # the best interval's value is a_b b + a_q q − μ D − (a term free of the multipliers) with the b of its inner max
    # and q, D below (envelope theorem): these are its partial derivatives, so the subgradients of the dual are
    # those of the function the bound evaluates
    a_q_, bits_, gam_, qmax_ = args[1][:, 0], args[4][:, 0], args[5][:, 0], args[6][:, 0]
    tail = np.isinf(hi) & (a_q_ > 0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        u_k1 = np.where(a_q_ >= 0, hi, lo)
        q = np.where(tail, qmax_, np.where(a_q_ != 0, u_k1 * b / gam_, 0.0))
        delay = np.where(np.isinf(hi), 0.0, bits_ * LN2 / (spectral_efficiency(hi) * b))
    return best.reshape(shape), b.reshape(shape), q.reshape(shape), delay.reshape(shape)


# ------------------------------------------------------------------------------------------
# the relaxation
# ------------------------------------------------------------------------------------------


class LagrangianBound:
    """The Lagrangian relaxation of (3) for one scenario (see the module docstring)."""

    def __init__(self, scenario, link_rounds: int = 12, assignment=None):
        sc = scenario
        self.sc = sc
        #: (N, M) the servers each user may take: all, or only its own one when the association is fixed (``assignment``)
        self.allowed = None if assignment is None else np.arange(sc.n_servers)[None, :] == np.asarray(assignment)[:, None]
        s = sc.system
        self.w1, self.w2 = s.score_scale, s.score_norm
        self.wt, self.we = s.weight_time, s.weight_energy
        self.work_u = sc.user_work_flops[:, None]  # (N, 1)
        self.work_s = sc.server_work_flops  # (N, M)
        self.bits = sc.adapter_bits[:, None]
        self.gam = sc.gain / sc.sigma2
        self.pn = sc.user_p_max_w[:, None]
        self.fn = sc.user_f_max_flops[:, None]
        self.kn = sc.user_kappa[:, None]
        self.bm, self.pm, self.fm = sc.bandwidth_hz, sc.server_p_max_w, sc.server_f_max_flops
        self.km = sc.server_kappa
        self.link_rounds = link_rounds
        # scale of the prices: the score's largest slope per unit of each budget
        self.price_unit = self.w1 * self.w2 * np.stack([1.0 / self.bm, 1.0 / self.pm, 1.0 / self.fm])  # (3, M)
        self.evaluations = 0

    def _t0(self, sigma):
        """max over s ∈ [0, 3] of ϖ1 ln(1 + ϖ2 s) − σ s (the concave conjugate; v(s) ≤ t0 + σ s on [0, 3])."""
        s = np.clip((self.w1 * self.w2 / sigma - 1.0) / self.w2, 0.0, 3.0)
        return score_of_share(self.w1, self.w2, s) - sigma * s

    def pair_terms(self, y, lam, sigma, mu):
        """Each pair's priced value per branch at delay prices ``mu`` (K, N, 1) or (K, N, M): arrays (K, N, M).

        Keys: h1, h0 (the branch values φ = 1 / φ = 0, every coupling priced), D1, D0 (the delay of each branch's
        point), b1, b0, P1, P0, F1, F0 (its resources)."""
        self.evaluations += 1
        lb, lp, lf = lam
        c = y * self.we
        # branch φ = 1: train on the device, send the trained adapter up
        s1 = sigma[0]
        aP, aF, ab = s1 / self.pm - lp, s1 / self.fm - lf, s1 / self.bm - lb
        loc, f_loc = _device_cost(c * self.kn * self.work_u, mu * self.work_u, self.fn)
        s0 = sigma[1]
        aP0, aF0, ab0 = s0 / self.pm - lp, s0 / self.fm - lf, s0 / self.bm - lb
        # both links in one branch and bound (axis 0: uplink of φ = 1, downlink of φ = 0)
        NM = np.broadcast_shapes(ab.shape, ab0.shape, self.gam.shape)
        links = _link(np.stack([np.broadcast_to(ab, NM), np.broadcast_to(ab0, NM)])[:, None],
                      np.stack([np.zeros(NM), np.broadcast_to(aP0, NM)])[:, None], c, mu, self.bits, self.gam,
                      np.stack([np.broadcast_to(self.pn, NM), np.broadcast_to(self.pm, NM)])[:, None], self.bm,
                      self.link_rounds)
        (up, dn), (b1, b0), (_, P0), (d_up, d_dn) = links
        P1 = np.where(aP > 0, self.pm, 0.0)
        F1 = np.where(aF > 0, self.fm, 0.0)
        h1 = self._t0(s1) + np.maximum(aP, 0) * self.pm + np.maximum(aF, 0) * self.fm - loc + up
        with np.errstate(divide="ignore", invalid="ignore"):
            dev_delay = np.where(f_loc > 0, self.work_u / np.where(f_loc > 0, f_loc, 1.0), np.inf)
        # branch φ = 0: train on the server, send the result down
        srv, F0 = _server_compute(aF0 * np.ones_like(self.work_s), c * self.km * self.work_s, mu * self.work_s, self.fm)
        h0 = self._t0(s0) + srv + dn
        with np.errstate(divide="ignore", invalid="ignore"):
            D0 = np.where(F0 > 0, self.work_s / np.where(F0 > 0, F0, 1.0), np.inf) + d_dn
        full = np.broadcast_shapes(h1.shape, h0.shape)
        return {k: np.broadcast_to(v, full) for k, v in dict(h1=h1, h0=h0, D1=dev_delay + d_up, D0=D0, b1=b1, b0=b0,
                                                             P1=P1, P0=P0, F1=F1, F0=F0).items()}

    def value(self, y, lam, pi, sigma):
        """L(y) at prices ``lam`` (3, M), delay weights ``pi`` (N,), slopes ``sigma`` (2, N, M).

        Returns (L, parts) with the relaxation's chosen point in ``parts`` (for subgradients and the σ update)."""
        mu = (y * self.wt * pi)[None, :, None]  # (1, N, 1)
        t = {k: v[0] for k, v in self.pair_terms(y, lam, sigma, mu).items()}
        h1, h0 = t["h1"], t["h0"]
        take1 = h1 >= h0
        h = np.where(take1, h1, h0)
        if self.allowed is not None:
            h = np.where(self.allowed, h, -np.inf)
        m = np.argmax(h, axis=1)
        n = np.arange(h.shape[0])
        L = self.budget_term(lam) + float(h[n, m].sum())
        pick = {k: np.where(take1, t[k + "1"], t[k + "0"])[n, m] for k in ("b", "P", "F", "D")}
        out = dict(h=h, h1=h1, h0=h0, m=m, take1=take1[n, m], **pick,
                   share1=t["b1"] / self.bm + t["P1"] / self.pm + t["F1"] / self.fm,
                   share0=t["b0"] / self.bm + t["P0"] / self.pm + t["F0"] / self.fm)
        return L, out

    def budget_term(self, lam) -> float:
        """Σ_m λ·budget_m: the part of L that does not depend on the association."""
        return float(np.sum(lam * np.stack([self.bm, self.pm, self.fm])))

    def subgradient(self, y, lam, pi, parts):
        """∂L/∂λ (3, M) and ∂L/∂π (N,) at the relaxation's chosen point (envelope theorem)."""
        M = len(self.bm)
        used = np.zeros((3, M))
        for k, key in enumerate(("b", "P", "F")):
            np.add.at(used[k], parts["m"], parts[key])
        g_lam = np.stack([self.bm, self.pm, self.fm]) - used
        D = np.where(np.isfinite(parts["D"]), parts["D"], 1e300)
        g_pi = -y * self.wt * D
        return g_lam, g_pi

    def slope_subgradient(self, sigma, parts):
        """∂L/∂σ (2, N, M) at the relaxation's chosen point: σ enters only the chosen branch of each user's chosen
        pair, as t0(σ) + σ s (s that branch's resource share); t0'(σ) = −s̃(σ), the tangent point of v."""
        N = len(parts["m"])
        n = np.arange(N)
        k = np.where(parts["take1"], 0, 1)
        m = parts["m"]
        share = np.where(parts["take1"], parts["share1"][n, m], parts["share0"][n, m])
        s = sigma[k, n, m]
        tangent = np.clip((self.w1 * self.w2 / s - 1.0) / self.w2, 0.0, 3.0)
        g = np.zeros(np.shape(sigma))
        g[k, n, m] = share - tangent
        return g

    def sigma_opt(self, y, lam, pi, iters: int = 30, deadline: float = math.inf):
        """The slopes σ that minimise L at fixed prices, one 1-D problem per (branch, user, server).

        σ enters only its own pair-branch term t0(σ) + G(σ) (G the priced maximum, convex in σ),
        and d/dσ = s*(σ) − s̃(σ): the relaxation's share (non-decreasing in σ) minus the
        tangent point of v (decreasing).  Bisection on the sign in log σ over
        [v'(3), v'(0)]; the evaluated σ with the smallest term is kept per entry (any σ is valid, so a stop
        at ``deadline`` returns the best so far)."""
        shape = (2, len(pi), len(self.bm))
        lo = np.full(shape, self.w1 * self.w2 / (1.0 + 3.0 * self.w2))
        hi = np.full(shape, self.w1 * self.w2)
        best_s, best_h = hi.copy(), np.full(shape, np.inf)
        for _ in range(iters):
            if time.perf_counter() > deadline:
                break
            mid = np.sqrt(lo * hi)
            _, parts = self.value(y, lam, pi, mid)
            hk = np.stack([parts["h1"], parts["h0"]])
            better = hk < best_h
            best_s, best_h = np.where(better, mid, best_s), np.where(better, hk, best_h)
            share = np.stack([parts["share1"], parts["share0"]])
            tangent = np.clip((self.w1 * self.w2 / mid - 1.0) / self.w2, 0.0, 3.0)
            up = share > tangent  # d/dσ > 0 at mid: the minimiser is below it
            hi, lo = np.where(up, mid, hi), np.where(up, lo, mid)
        return best_s


def _proximal_bundle(fg, x0, lower, upper, simplex, *, max_evals: int, deadline: float, tol: float = 1e-6):
    """Minimise a convex, nonsmooth f over {lower ≤ x ≤ upper, Σ x[simplex] = len(simplex)}: a proximal bundle method.

    ``fg`` (x) -> (f, g), g a subgradient.  Each step minimises the cutting-plane model max_i f_i + g_i·(x − x_i)
    plus (u/2)‖x − c‖² around the centre c (a convex QP, solved by Clarabel's interior point method); the step is
    serious (c moves) when f falls by at least a tenth of the model's predicted decrease, else a null step (its cut
    enriches the model).  With f in units of ‖g(x0)‖, u starts at 1 (a first step of length ~1 in x's units) and
    halves after a step that gained at least half the prediction.  Stops after ``max_evals`` evaluations of f, when
    the predicted decrease is below ``tol``·max(1, |f(c)|), when the QP is not solved, or at ``deadline``.  Returns
    (the best x evaluated, whether the predicted decrease fell below the tolerance).  (The caller's bound is valid at
    any multipliers; this only finds better ones.)"""
    import clarabel
    from scipy import sparse

    n = len(x0)
    x0 = np.clip(np.asarray(x0, dtype=float), lower, upper)
    if len(simplex):
        x0[simplex] *= len(simplex) / x0[simplex].sum()
    f0, g0 = fg(x0)
    # f and g in units of ‖g(x0)‖: the QP's coefficients near 1
    unit = max(float(np.linalg.norm(g0)), 1e-300)
    cuts = [(x0, f0 / unit, g0 / unit)]
    centre, fc = x0, f0 / unit
    best_x, best_f = centre, fc
    u = 1.0
    evals = 1
    converged = False
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    # constant rows: x ≥ lower (−x + s = −lower, s ≥ 0), x ≤ upper where finite, and the weights' sum (a zero cone,
    # first)
    capped = np.flatnonzero(np.isfinite(upper))
    fixed_A = [sparse.hstack([-sparse.identity(n), sparse.csc_matrix((n, 1))]),
               sparse.csc_matrix((np.ones(len(capped)), (np.arange(len(capped)), capped)), shape=(len(capped), n + 1))]
    fixed_b = [-lower, upper[capped]]
    cones_tail = [clarabel.NonnegativeConeT(n + len(capped))]
    head_A, head_b, head_cones = [], [], []
    if len(simplex):
        row = np.zeros((1, n + 1))
        row[0, simplex] = 1.0
        head_A, head_b, head_cones = [sparse.csc_matrix(row)], [np.array([float(len(simplex))])], [clarabel.ZeroConeT(1)]
    while evals < max_evals:
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        settings.time_limit = left
        G = np.array([c[2] for c in cuts])
        rhs = np.array([c[1] - c[2] @ c[0] for c in cuts])
        # cut i: r − g_i·x ≥ rhs_i  ⇔  g_i·x − r + s = −rhs_i, s ≥ 0
        A = sparse.vstack([*head_A, sparse.csc_matrix(np.hstack([G, -np.ones((len(cuts), 1))])), *fixed_A], format="csc")
        bvec = np.concatenate([*head_b, -rhs, *fixed_b])
        P = sparse.diags(np.append(np.full(n, u), 0.0), format="csc")
        q = np.append(-u * centre, 1.0)
        cones = [*head_cones, clarabel.NonnegativeConeT(len(cuts)), *cones_tail]
        sol = clarabel.DefaultSolver(P, q, A, bvec, cones, settings).solve()
        if str(sol.status) not in ("Solved", "AlmostSolved"):
            break
        x = np.clip(np.asarray(sol.x[:n]), lower, upper)
        predicted = fc - float(np.max(rhs + G @ x))  # the model's decrease at x
        if predicted <= tol * max(1.0, abs(fc)):
            converged = True
            break
        f, g = fg(x)
        f, g = f / unit, g / unit
        evals += 1
        cuts.append((x, f, g))
        if f < best_f:
            best_x, best_f = x, f
        if fc - f >= 0.1 * predicted:  # serious step
            if fc - f >= 0.5 * predicted:
                u /= 2.0
            centre, fc = x, f
        # a null step keeps u: its cut alone shortens the next step (doubling u there stalled the search at (50,5),
        # where the bound's branch and bound makes f convex only to ~1e-4: 2.95 x the best point in 30 s, 2.59 so)
        if len(cuts) > 2 * n + 20:  # keep the newest cuts and the centre's
            cuts = [c for c in cuts[:-(n + 10)] if c[0] is centre] + cuts[-(n + 10):]
    return best_x, converged


class _Deadline(Exception):
    """The bound's time limit passed (every y recorded so far stays certified)."""


class _Overflow(Exception):
    """A price step's objective or gradient is not a finite float (every y recorded so far stays certified)."""


def scr_upper_bound(scenario, scr_hint: float | None = None, *, time_limit: float = 30.0, max_rounds: int = 12,
                    tol: float = 1e-4, assignment=None, stop_below: float = 0.0, start: BoundResult | None = None,
                    round_evaluations: int = 120, starts: int = 2) -> BoundResult:
    """A proven upper bound on the SCR (2) of every feasible point of (3).

    ``scr_hint`` (the SCR of a known point) is where the search for y starts; the
    bound does not depend on it for validity.  ``time_limit`` (s) stops the price
    improvement early (the bound returned is then valid but looser; status
    ``time_limit``).  With ``assignment`` (N,) the association is fixed: the bound
    holds for the points of that association only (each user on its own server in
    the relaxation), with multipliers fitted to it.  ``stop_below``: stop as soon as the
    bound is at most this value (what a caller that only needs "SCR ≤ y" asks for).  ``start``: a bound of the
    same network (e.g. the whole network's, when ``assignment`` restricts it) whose multipliers are the first start of
    the price search, before the uniform ones: valid for any association, so the result is at most what they
    certify.  ``round_evaluations``: evaluations of L per round of the price search (its proximal bundle);
    ``starts``: 1 = only the uniform price level with the lowest L at the hint, 2 = also the level 1/2 (the smaller
    bound is kept)."""
    t0 = time.perf_counter()
    deadline = t0 + time_limit
    lb = LagrangianBound(scenario, assignment=assignment)
    N, M = scenario.n_users, scenario.n_servers
    w12 = lb.w1 * lb.w2
    sigma0 = np.full((2, N, M), w12 / (1.0 + lb.w2 * 3.0 / max(1.0, N / M)))
    w_ones = np.ones(N)  # π = w / Σw, w ≥ W_MIN: the weights in units of the uniform one (Σ w = N)
    trace = []

    def unpack(z):
        lam = np.maximum(z[: 3 * M].reshape(3, M), 0.0) * lb.price_unit
        w = np.maximum(z[3 * M:], _W_MIN)
        return lam, w / w.sum()

    def pack(lam, pi):  # the inverse of unpack
        return np.concatenate([(lam / lb.price_unit).ravel(), np.maximum(np.asarray(pi) * N, _W_MIN)])

    def L_at(y, z, sig):
        lam, pi = unpack(z)
        L, parts = lb.value(y, lam, pi, sig)
        if math.isnan(L):
            raise SolveFailed(f"SCR bound: the relaxation evaluated to NaN at y = {y:.6g} (data out of the range it handles)",
                              status="numerics")
        return L, parts

    def root(z, sig, y_hi):
        """The smallest y (to 1e-10 relative) with L(y) ≤ 0 at fixed prices, found inside (0, y_hi]; L(y_hi) ≤ 0."""
        def f(yy):
            if time.perf_counter() > deadline:
                raise _Deadline
            return L_at(yy, z, sig)[0]

        lo = y_hi * 1e-12
        if f(lo) <= 0:  # certified already far below y_hi (L(0) > 0 always: every service is worth something)
            return lo
        yr = optimize.brentq(f, lo, y_hi, xtol=1e-12 * y_hi, rtol=1e-10, maxiter=200)
        yr_up = yr * (1 + 1e-10)
        for _ in range(60):  # brentq's root may sit a hair on the positive side
            if f(yr_up) <= 0:
                return yr_up
            yr_up = yr_up * (1 + 1e-8) * 2 ** (_ // 10) + 1e-300
        return y_hi  # certified by the caller

    y = max(scr_hint or 1.0, 1e-12)
    # the price level to start from: the lowest L at the hint among a few uniform levels (L is convex in λ)
    levels = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0)
    by_L = min(levels, key=lambda lv: L_at(y, np.concatenate([np.full(3 * M, lv), w_ones]), sigma0)[0])
    n_z = 3 * M + N
    # the bundle's variables: z (prices in units of price_unit, weights w), then σ / ϖ1ϖ2 within [v'(3), v'(0)] / ϖ1ϖ2
    x_lower = np.concatenate([np.zeros(3 * M), np.full(N, _W_MIN), np.full(2 * N * M, 1.0 / (1.0 + 3.0 * lb.w2))])
    x_upper = np.concatenate([np.full(n_z, np.inf), np.ones(2 * N * M)])
    simplex = np.arange(3 * M, n_z)

    def note(b):  # the trace: the best bound so far over time (both starts)
        trace.append((time.perf_counter() - t0, min([b, *(v for _, v in trace)])))

    def descend(level, y, at=None):
        """Rounds of price, weight and slope improvement from uniform prices at ``level`` (or from the multipliers
        ``at`` = (z, σ)).

        Returns (certified y, status, the multipliers (z, σ) that certified it)."""
        z, sigma = at if at is not None else (np.concatenate([np.full(3 * M, level), w_ones]), sigma0)
        while L_at(y, z, sigma)[0] > 0:  # an initial y with L(y) ≤ 0: grow from the hint
            y *= 4.0
            if not math.isfinite(y) or y > 1e300:
                raise SolveFailed("SCR bound: the relaxation certified no finite y (data out of the range it handles)",
                                  status="numerics")
        try:
            y = root(z, sigma, y)
        except _Deadline:  # y (certified by the loop above) stands
            return y, "time_limit", (z, sigma)
        best, at = y, (z, sigma)
        note(best)
        for _ in range(max_rounds):
            if best * (1 + _SAFETY) <= stop_below:
                break
            if time.perf_counter() > deadline:
                return best, "time_limit", at
            def fg(xx):  # x = (z, σ / ϖ1ϖ2): L and a subgradient in all multipliers (L is jointly convex in them)
                if time.perf_counter() > deadline:
                    raise _Deadline
                zz, sig = xx[:n_z], xx[n_z:].reshape(sigma.shape) * w12
                L, parts = L_at(y, zz, sig)
                lam, pi = unpack(zz)
                with np.errstate(over="ignore", invalid="ignore"):
                    g_lam, g_pi = lb.subgradient(y, lam, pi, parts)
                    g_sig = lb.slope_subgradient(sig, parts) * w12
                    g = np.concatenate([(g_lam * lb.price_unit).ravel(), g_pi / N, g_sig.ravel()])  # π = w / N on Σ w = N
                if not (math.isfinite(L) and np.all(np.isfinite(g)) and np.max(np.abs(g)) < 1e200):
                    # data at the edge of the supported range (e.g. ω_t = 1e9: a delay weight's slope of ~1e300 per
                    # unit): this round's step cannot be taken in floating point; the certified y stands
                    raise _Overflow
                return L, g

            # the price search stops early enough for the root at its multipliers (~60 evaluations of L at most):
            # a round's progress counts only once y is moved
            per_eval = (time.perf_counter() - t0) / max(lb.evaluations, 1)
            soft = deadline - 60 * per_eval
            try:
                x_new, converged = _proximal_bundle(fg, np.concatenate([z, sigma.ravel() / w12]), x_lower, x_upper,
                                                    simplex, max_evals=round_evaluations, deadline=soft)
            except _Deadline:  # the best y so far stays certified
                return best, "time_limit", at
            except _Overflow:
                break
            z_new, sigma = x_new[:n_z], x_new[n_z:].reshape(sigma.shape) * w12
            L_new, parts = L_at(y, z_new, sigma)
            if time.perf_counter() < soft:
                sig_new = lb.sigma_opt(y, *unpack(z_new), deadline=soft)
                L_sig, _ = L_at(y, z_new, sig_new)
                if L_sig < L_new:
                    sigma, L_new = sig_new, L_sig
            if L_new > 0:  # no progress at this y (the prices did not improve): keep the certified best
                break
            z = z_new
            try:
                y_new = root(z, sigma, y)
            except _Deadline:
                return best, "time_limit", at
            if time.perf_counter() > soft:
                best, at = min(best, y_new), (z, sigma)
                note(best)
                return best, "time_limit", at
            improved = y_new < best * (1 - tol)
            best, at = y_new, (z, sigma)  # root searches (0, best]: never above it
            y = best
            note(best)
            if not improved and converged:  # the prices are (near) optimal at this y and y moved no further
                break
        return best, "ok", at

    # several starts (the price search is local on a nonsmooth function): the multipliers of ``start`` where given, the
    # level with the lowest L at the hint, then the middle level 1/2; each result is a proven bound, the smallest is kept
    best, status, at = math.inf, "ok", None
    if start is not None and start.prices is not None and start.delay_weights is not None and start.slopes is not None:
        best, status, at = descend(None, y, (pack(start.prices, start.delay_weights), start.slopes))
    if status == "ok" and best * (1 + _SAFETY) > stop_below:
        other, status, at_other = descend(by_L, y)
        if other < best:
            best, at = other, at_other
    if starts > 1 and by_L != 0.5 and status == "ok" and best * (1 + _SAFETY) > stop_below:
        other, status, at_other = descend(0.5, y)
        if other < best:
            best, at = other, at_other
    lam, pi = unpack(at[0])
    return BoundResult(bound=best * (1 + _SAFETY), seconds=time.perf_counter() - t0, evaluations=lb.evaluations,
                       status=status, trace=trace, prices=lam, delay_weights=pi, slopes=at[1])


def association_bounds(scenario, assignments, result: BoundResult, y_floor: float, *, grid: int = 64) -> np.ndarray:
    """A proven upper bound on the SCR of every feasible point of each association in ``assignments`` (A, N).

    With the association fixed to a, the relaxation of :func:`scr_upper_bound` keeps user n on server
    a_n instead of its best server: L_a(y) = Σ_m λ·budget_m + Σ_n h_{n,a_n}(y) ≥ V_a(y), the
    Dinkelbach objective of (3) restricted to a.  Any multipliers are valid for every association;
    the ones that certified ``result`` are used, and at ``y_floor`` also the slopes σ optimised
    there.  L_a(y) ≤ 0 proves that no point of a has SCR above y.  One evaluation of the pair values
    h at a given y serves all associations (a sum of N gathered entries each), so the bounds are
    found on a geometric grid of ``grid`` values of y from ``result.bound`` down to ``y_floor``
    (typically the target of a global search): each association's bound is the smallest value that
    certifies it (× (1 + 1e-9), as the whole bound; ``y_floor`` itself is tested at
    ``y_floor`` / (1 + 1e-9)), ``result.bound`` where none below does.  An association whose bound is
    ``y_floor`` has no point better than it.  Used by method ``global`` to settle
    associations without a MINLP solve (docs/DESIGN.md, "Bounds at every size")."""
    a = np.asarray(assignments, dtype=int)
    if result.prices is None or result.delay_weights is None or result.slopes is None:
        raise ValueError("association_bounds needs the multipliers of a bound (a BoundResult from scr_upper_bound)")
    lb = LagrangianBound(scenario)
    lam, pi = result.prices, result.delay_weights
    const = lb.budget_term(lam)
    users = np.arange(a.shape[1])[None, :]
    top = result.bound / (1 + _SAFETY)  # the certified y itself
    floor = min(max(float(y_floor), top * 1e-12), top)
    out = np.full(len(a), float(result.bound))

    def certified(y, sigma):  # which associations L_a(y) ≤ 0 certifies
        _, parts = lb.value(float(y), lam, pi, sigma)
        return const + parts["h"][users, a].sum(axis=1) <= 0

    for y in np.geomspace(top, floor, grid):  # downwards: L_a is non-increasing in y at fixed multipliers
        ok = certified(y, result.slopes)
        out = np.where(ok, np.minimum(out, y * (1 + _SAFETY)), out)
        if not ok.any():
            break
    # the floor itself, with slopes fitted to it (the screen tests at floor / (1 + 1e-9), so the bound reported is the floor)
    ok = AssociationScreen(scenario, result, floor).settled(a, floor)
    return np.where(ok, np.minimum(out, floor), out)


#: the branch over associations (:func:`association_branch_bound`) runs up to this many associations M^N
BRANCH_MAX_ASSOCIATIONS = 4096
#: the most time (s) one search of one association's own multipliers gets in the branch (it may be searched again)
BRANCH_PER_ASSOCIATION = 3.0


def association_branch_bound(scenario, result: BoundResult, y_floor: float, *, time_limit: float,
                             per_association: float = BRANCH_PER_ASSOCIATION) -> BoundResult:
    """The SCR bound as the maximum over all associations of each association's own bound (a branch over (3b)).

    The whole network's relaxation lets every user take its best server at the shared prices; the association's
    own relaxation (``scr_upper_bound(assignment=a)``) keeps each user on its server and fits the multipliers to
    it, so max over a of U_a is a bound too, and a tighter one (docs/DESIGN.md, "Bounds at every size").  Every
    association first gets the bound the shared multipliers of ``result`` give it (:func:`association_bounds`,
    down to ``y_floor`` — typically the SCR of a known point: an association certified there is done).  Then,
    best first, the association with the largest bound gets its own price search, started from the shared
    multipliers and stopped as soon as it is below the next largest bound (nothing below that changes the
    maximum), at most ``per_association`` s at a time; an association stopped that way that comes back to the top is
    searched again from its own multipliers.  The run ends when the top association's bound is final (its search
    converged or made no progress, or it is certified at ``y_floor``) — status ``ok``: the bound is the branch's
    maximum — or at
    ``time_limit`` (status ``time_limit``; every association's current bound is valid, so the maximum is).

    Returns a BoundResult whose ``bound`` is the maximum (never above ``result.bound``) and whose multipliers are
    ``result``'s; ``branch`` holds the counts (``associations``; ``settled_shared``: certified at ``y_floor`` by the
    shared multipliers; ``searches``: own price searches run; ``open``: associations whose bound is not final, all
    below the maximum unless the time ran out), its ``seconds`` and ``whole_bound`` (``result.bound``)."""
    t0 = time.perf_counter()
    deadline = t0 + time_limit
    N, M = scenario.n_users, scenario.n_servers
    assocs = np.array(list(itertools.product(range(M), repeat=N)), dtype=int)
    floor = float(y_floor)
    b = association_bounds(scenario, assocs, result, floor)
    settled0 = int(np.sum(b <= floor))
    final = b <= floor  # certified at the floor: nothing to search
    own: dict[int, BoundResult] = {}
    searches = 0
    evaluations = result.evaluations
    status = "ok"
    while True:
        k = int(np.argmax(b))
        if final[k]:
            break
        left = deadline - time.perf_counter()
        if left <= 0:
            status = "time_limit"
            break
        others = np.delete(b, k)
        second = max(floor, float(others.max()) if len(others) else floor)
        start = own.get(k, result)
        try:
            r = scr_upper_bound(scenario, floor, time_limit=min(per_association, left), assignment=assocs[k],
                                stop_below=second, start=start, starts=1)
        except SolveFailed:  # numerics on this association alone: it keeps the bound the shared multipliers gave it
            final[k] = True
            continue
        searches += 1
        evaluations += r.evaluations
        own[k] = r
        progress = r.bound < b[k]
        b[k] = min(b[k], r.bound)
        if r.status == "time_limit" and left <= per_association:  # the branch's own time ran out in this search
            status = "time_limit"
            break
        # final: certified at the floor, converged above the next association, or no progress; an association stopped
        # below the next one, or by its time with progress, may be searched again (from its own multipliers)
        final[k] = b[k] <= floor or not progress or (r.status == "ok" and r.bound > second)
    bound = min(float(b.max()), result.bound)
    return BoundResult(bound=bound, seconds=result.seconds + time.perf_counter() - t0, evaluations=evaluations,
                       status=status, trace=list(result.trace),
                       prices=result.prices, delay_weights=result.delay_weights, slopes=result.slopes,
                       branch={"associations": len(assocs), "settled_shared": settled0, "searches": searches,
                               "open": int(np.sum(~final)), "seconds": time.perf_counter() - t0,
                               "whole_bound": result.bound})


class AssociationScreen:
    """"Can association a beat SCR y at all?" answered in microseconds, for a search that proposes many associations.

    Holds the multipliers of a whole-network bound (:func:`scr_upper_bound`) and the pair values h at one
    reference level y_ref (slopes σ fitted there).  :meth:`settled` (a, y) is True when
    L_a(y_ref) = Σ_m λ·budget_m + Σ_n h_{n,a_n}(y_ref) ≤ 0 and y_ref ≤ y: then no point of association a has
    SCR above y_ref·(1 + 1e-9) ≤ y (L_a is non-increasing in y; the same argument as :func:`association_bounds`).
    :meth:`refresh` moves y_ref up to a better incumbent."""

    def __init__(self, scenario, result: BoundResult, y_ref: float):
        if result.prices is None or result.delay_weights is None:
            raise ValueError("AssociationScreen needs the multipliers of a bound (a BoundResult from scr_upper_bound)")
        self.lb = LagrangianBound(scenario)
        self.result = result
        self.const = self.lb.budget_term(result.prices)
        self.y_ref = -math.inf
        self.h = None
        self.refresh(y_ref)

    def refresh(self, y: float) -> None:
        """The pair values at level y / (1 + 1e-9) (a no-op unless y is above the current level)."""
        y_eval = float(y) / (1 + _SAFETY)
        if not y_eval > self.y_ref:
            return
        lam, pi = self.result.prices, self.result.delay_weights
        _, parts = self.lb.value(y_eval, lam, pi, self.lb.sigma_opt(y_eval, lam, pi))
        self.h, self.y_ref = parts["h"], y_eval

    def settled(self, assignments, y: float):
        """For one association (N,) a bool, for several (A, N) a bool array: True where no point of the association
        has SCR above ``y`` (proven); False means "not known"."""
        a = np.asarray(assignments, dtype=int)
        if self.y_ref * (1 + _SAFETY) > y:
            return False if a.ndim == 1 else np.zeros(len(a), dtype=bool)
        ok = self.const + self.h[np.arange(a.shape[-1]), a].sum(axis=-1) <= 0
        return bool(ok) if a.ndim == 1 else ok


__all__ = ["AssociationScreen", "BoundResult", "LagrangianBound", "association_bounds", "association_branch_bound",
           "scr_upper_bound"]

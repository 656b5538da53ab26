"""The SDR's linear part: the LP relaxation of P1 (6) that ``assoc="lp"`` solves in place of the SDP.

Variables, in this order: x (N·M, pairs in order (n, m)), φ (N), w (N·M, w_nm standing for
S[x_nm, φ_n] = x_nm φ_n) and T.  The constraints are those of the SDR (``model/sdr.py``, with its
cuts) without its 3×3 cones:

* (3b): Σ_m x_nm = 1;  (3c): 0 ≤ φ_n ≤ 1;  0 ≤ x_nm ≤ 1, and x_nm ≤ 0 on the pairs P1 leaves out;
* (3d), (3f), (3h): Σ_n share_nm x_nm ≤ 1 for every server;
* (3j) per pair, as the paper and the SDR write it: c1_n φ_n + c34_nm x_nm + (c2 − c34)_nm w_nm ≤ T;
* the RLT (McCormick) inequalities of w = x φ on [0, 1]²: w ≤ x, w ≤ φ, w ≥ φ + x − 1, w ≥ 0;
* T ≤ T̄ = the largest delay of any usable pair at φ ∈ {0, 1} (P1's optimum has T = the largest delay; a
  finite bound on every column makes the dual bound below finite).

Objective (6): cT T + Σ A φ + Σ B x + Σ G w.  A sparse LP of 2NM + N + 1 columns and 4NM + N + 3M
rows, solved by HiGHS's interior-point method without crossover: its point lies inside the optimal
face, as the SDR's interior-point solution does, so the users tied between servers keep the
fractional weights the rounding needs.  Measured (docs/DESIGN.md, "Scale"): the SDR's cones did not
bind on any instance tried (the same optimal value), and DASHF with this LP follows the SDR's path
(the same SCR to 1e-9 at (50,5) s0, s1 and (200,10) s1).  The optimum is a lower bound on P1's
minimum; the bound reported is the Lagrangian dual function at HiGHS's dual point
(:func:`dual_bound`), valid for any duals, so a point at the interior-point tolerance still gives a
rigorous bound.

Later LPs of a DASHF run are solved by pricing (:meth:`LPRelaxation._priced`, ``pairs=``): on a
subset of the pairs, adding the left-out pairs whose Lagrangian term at the simplex duals is negative,
until none is — the same optimum at a fraction of the time where few pairs carry weight.

Tried and not kept: the tighter form (3j) summed over the servers and Σ_m w_nm = φ_n (the MILP's
rows; half the rows).  Its optimal face differs from the SDR's, and so does the rounding: DASHF at
(1000,20) s0 ended at SCR 13.29 with it, against 86.94 with this form and 81.91 with the SDR.
"""

from __future__ import annotations

import time

import numpy as np

from .association import P1Data
from .sdr import SDRResult

SEED_PAIRS = 3  # each user's lowest-delay pairs added to a priced LP's first round (docs/DESIGN.md, 'Scale')
MAX_PRICING_ROUNDS = 30


def signed_duals(y, row_lo, row_hi):
    """Row duals ``y`` clipped to the sign each row allows in min cᵀx: ≥ 0 where row_hi is infinite (a ≥ row),
    ≤ 0 where row_lo is (a ≤ row)."""
    y = np.asarray(y, dtype=float)
    return np.where(np.isinf(row_hi), np.maximum(y, 0.0), np.where(np.isinf(row_lo), np.minimum(y, 0.0), y))


def _new_highs(solver: str, time_limit: float | None = None, **options):
    """A silent HiGHS instance with ``solver`` and ``options`` (and ``time_limit`` in s, if given)."""
    from ..solvers import new_highs

    h = new_highs(solver=solver, **options)
    if time_limit is not None:
        h.setOptionValue("time_limit", time_limit)
    return h


def smallest_per_row(values: np.ndarray, k: int) -> np.ndarray:
    """Bool mask of the ``k`` smallest entries of each row of ``values`` (all of them if a row is shorter)."""
    k = min(k, values.shape[1])
    mask = np.zeros(values.shape, dtype=bool)
    np.put_along_axis(mask, np.argpartition(values, k - 1, axis=1)[:, :k], True, axis=1)
    return mask


def lowest_delay_pairs(data: P1Data, k: int) -> np.ndarray:
    """(N, M) bool: each user's ``k`` usable pairs of least delay (at φ = 0 or at φ = 1), the pairs that can lower T."""
    delay = np.where(data.usable, np.minimum(data.c34, data.c1[:, None] + data.c2), np.inf)
    return smallest_per_row(delay, k) & data.usable


def dual_bound(c, A, row_lo, row_hi, col_lo, col_hi, y) -> float:
    """The Lagrangian lower bound of min cᵀx s.t. row_lo ≤ Ax ≤ row_hi, col_lo ≤ x ≤ col_hi at row duals y.

    L(y) = Σ_i y_i·(row_lo_i if y_i > 0 else row_hi_i) + Σ_j min_{x_j ∈ [lo_j, hi_j]} (c − Aᵀy)_j x_j, valid for
    every y once y_i is clipped to the sign its row allows (≥ 0 where row_hi is infinite, ≤ 0 where row_lo is);
    the column bounds must be finite."""
    y = signed_duals(y, row_lo, row_hi)
    rhs = np.where(y > 0, row_lo, np.where(y < 0, row_hi, 0.0))
    d = c - A.T @ y
    return float(np.sum(y * np.where(y != 0, rhs, 0.0)) + np.sum(np.where(d > 0, d * col_lo, d * col_hi)))


class LPRelaxation:
    """The LP relaxation of P1 for fixed sizes; ``solve(data)`` fills in the coefficients and solves."""

    def __init__(self, n_users: int, n_servers: int):
        N, M = n_users, n_servers
        self.N, self.M = N, M
        K = N * M
        pair = np.arange(K)
        user = np.repeat(np.arange(N), M)  # the user of each pair
        server = np.tile(np.arange(M), N)  # the server of each pair
        ix, iphi, iw, iT = 0, K, K + N, 2 * K + N  # column offsets
        self.n_cols = 2 * K + N + 1
        self._cols = (ix, iphi, iw, iT)
        self._user = user
        # rows: (3b) [0, N); budgets [N, N + 3M); (3j) per pair [N + 3M, N + 3M + K); McCormick, 3K rows
        r_budget, r_delay, r_mc = N, N + 3 * M, N + 3 * M + K
        self.n_rows = r_mc + 3 * K
        one = np.ones(K)
        # fixed entries: (3b); w − x ≤ 0; w − φ ≤ 0; φ + x − w ≤ 1; −T in every (3j) row
        self._fixed = (
            np.concatenate([user, r_mc + pair, r_mc + pair, r_mc + K + pair, r_mc + K + pair,
                            r_mc + 2 * K + pair, r_mc + 2 * K + pair, r_mc + 2 * K + pair, r_delay + pair]),
            np.concatenate([ix + pair, iw + pair, ix + pair, iw + pair, iphi + user, iphi + user, ix + pair, iw + pair,
                            np.full(K, iT)]),
            np.concatenate([one, one, -one, one, -one, one, one, -one, -one]),
        )
        # entries set per solve: the budgets' shares (3K), and (3j)'s c1 (on φ), c34 (on x), c2 − c34 (on w)
        self._var_rows = np.concatenate([r_budget + s * M + server for s in range(3)] + [r_delay + pair] * 3)
        self._var_cols = np.concatenate([ix + pair] * 3 + [iphi + user, ix + pair, iw + pair])
        self.row_lo = np.concatenate([np.ones(N), np.full(3 * M + 4 * K, -np.inf)])
        self.row_hi = np.concatenate([np.ones(N), np.ones(3 * M), np.zeros(3 * K), np.ones(K)])
        self._basis = None

    def matrix(self, data: P1Data):
        """The constraint matrix (CSC) for P1's coefficients ``data``."""
        from scipy.sparse import coo_array

        shares = np.concatenate([data.masked(n).ravel() for n in ("share_b", "share_p", "share_f")])
        delay = np.concatenate([data.c1[self._user], data.masked("c34").ravel(), data.masked("c2m34").ravel()])
        rows = np.concatenate([self._fixed[0], self._var_rows])
        cols = np.concatenate([self._fixed[1], self._var_cols])
        vals = np.concatenate([self._fixed[2], shares, delay])
        A = coo_array((vals, (rows, cols)), shape=(self.n_rows, self.n_cols)).tocsc()
        A.sum_duplicates()
        A.sort_indices()
        return A

    def bounds(self, data: P1Data):
        """Column bounds (lo, hi): x ≤ usable, φ, w ∈ [0, 1], T ∈ [0, T̄]."""
        N, K = self.N, self.N * self.M
        use = data.usable
        slope = data.c1[:, None] + data.c2 - data.c34  # delay per unit φ; the delay is c34 at φ = 0
        t_max = float(np.max(np.where(use, np.maximum(data.c34, data.c34 + slope), 0.0)))
        hi = np.concatenate([use.astype(float).ravel(), np.ones(N), np.ones(K), [max(t_max, 0.0)]])
        return np.zeros(self.n_cols), hi

    def cost(self, data: P1Data):
        return np.concatenate([data.masked("B").ravel(), data.A, data.masked("G").ravel(), [data.cT]])

    def _highs_lp(self, A, c, col_lo, col_hi):
        import highspy

        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = self.n_cols, self.n_rows
        lp.col_cost_, lp.col_lower_, lp.col_upper_ = c, col_lo, col_hi
        inf = highspy.kHighsInf
        lp.row_lower_ = np.where(np.isinf(self.row_lo), -inf, self.row_lo)
        lp.row_upper_ = np.where(np.isinf(self.row_hi), inf, self.row_hi)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = A.indptr, A.indices, A.data
        return lp

    def solve(self, data: P1Data, time_limit: float | None = None, tol: float = 1e-6, pairs=None) -> SDRResult:
        """Solve the relaxation with P1's coefficients ``data``; the result in the SDR's form (x̃, φ̃, bound).

        HiGHS's interior-point method without crossover, stopped at the optimality tolerance
        ``tol`` (``ipm_optimality_tolerance``; its point is only rounded, and the bound is the
        dual function's, rigorous at any tolerance); if it stops short of optimal, the crossover,
        then the dual simplex, finish the solve.  At the time limit the point reached so far is
        returned (status ``time limit ...``, no bound) when HiGHS has one; else the status says failed.

        ``pairs`` ((N, M) bool, optional): solve by pricing (:meth:`_priced`) from these pairs instead
        of the whole LP at once — the same optimal value; the full LP is solved if pricing fails."""
        import highspy

        N, M, K = self.N, self.M, self.N * self.M
        ix, iphi, _iw, _iT = self._cols
        A = self.matrix(data)
        c = self.cost(data)
        col_lo, col_hi = self.bounds(data)
        t0 = time.perf_counter()
        statuses = []
        note = ""
        if pairs is not None:
            res, note = self._priced(data, A, c, col_lo, col_hi, pairs, time_limit, tol)
            if res is not None:
                return res
            if note:
                statuses.append(note)
        lp = self._highs_lp(A, c, col_lo, col_hi)
        for solver, crossover in (("ipm", "off"), ("ipm", "on"), ("simplex", "off")):
            left = None if time_limit is None else max(float(time_limit) - (time.perf_counter() - t0), 1e-3)
            h = _new_highs(solver, left, run_crossover=crossover, ipm_optimality_tolerance=float(tol))
            h.passModel(lp)
            h.run()
            status = h.getModelStatus()
            info = h.getInfo()
            iters = int(info.ipm_iteration_count + info.simplex_iteration_count)
            name = "HiGHS " + solver + (" + crossover" if crossover == "on" else "")
            statuses.append(f"{name}: {h.modelStatusToString(status)}")
            if status == highspy.HighsModelStatus.kOptimal:
                sol = h.getSolution()
                x = np.asarray(sol.col_value)
                bound = dual_bound(c, A, self.row_lo, self.row_hi, col_lo, col_hi, np.asarray(sol.row_dual))
                return SDRResult("optimal", name + (f" (after {note})" if note else ""), bound, x[ix:ix + K].reshape(N, M),
                                 x[iphi:iphi + N], time.perf_counter() - t0, iters)
            if status == highspy.HighsModelStatus.kTimeLimit:
                sol = h.getSolution()
                if sol.value_valid:  # the point so far: rounded like an optimum, its value not used as a bound
                    x = np.asarray(sol.col_value)
                    return SDRResult(f"time limit ({name}; objective {info.objective_function_value:.6g})", name, float("nan"),
                                     x[ix:ix + K].reshape(N, M), x[iphi:iphi + N], time.perf_counter() - t0, iters)
                break
        return SDRResult("failed: " + "; ".join(statuses), "", float("nan"), np.full((N, M), np.nan), np.full(N, np.nan),
                         time.perf_counter() - t0, None)

    def _priced(self, data: P1Data, A, c, col_lo, col_hi, pairs, time_limit, tol):
        """The LP by pricing: (SDRResult or None, why not).

        A pair left out of the LP is the full LP with x_nm = w_nm = 0 (its rows then say c1_n φ_n ≤ T,
        which every kept pair's delay row implies), so the LP on the kept pairs — their columns and
        rows only — is a restriction.  Start from ``pairs`` ∪ each user's :data:`SEED_PAIRS`
        lowest-delay usable pairs (the pairs that can lower T); solve by the dual simplex; price every
        left-out usable pair at the simplex duals of the coupling rows — (3b) and the budgets — with its
        own rows' multipliers at 0: its Lagrangian term is min(0, d, d + G_nm) over 0 ≤ w ≤ x ≤ 1, with
        d = B_nm − y_n − Σ share·β_m; add the pairs whose term is below −1e-9·max(1, |objective|) and
        re-solve from the last basis (the new columns at 0, the new rows basic); stop when none is.  The
        restricted LP's optimum is then the full LP's.  Its interior point (for the rounding, as in
        :meth:`solve`) comes from one interior-point solve of the last restricted LP, and the bound is
        the full LP's dual function at that solve's duals (the left-out pairs' w ≤ x multipliers set to
        make their terms min(0, d, d + G)), valid for any duals.  None (and a note) if a round is not
        optimal or :data:`MAX_PRICING_ROUNDS` rounds do not settle it; pricing gets half of
        ``time_limit``, so that the full LP can still be solved in the rest."""
        import highspy

        N, M, K = self.N, self.M, self.N * self.M
        ix, iphi, iw, iT = self._cols
        r_delay = N + 3 * M
        r_mc = r_delay + K
        t0 = time.perf_counter()
        budget = None if time_limit is None else 0.5 * float(time_limit)  # the rest is the full LP's, if pricing fails

        def left():
            return None if budget is None else max(budget - (time.perf_counter() - t0), 1e-3)

        def restricted(keep):
            """Column and row indices (into the full LP) of the LP on the pairs ``keep``, and that LP."""
            P = np.flatnonzero(keep.ravel())
            cols = np.concatenate([ix + P, iphi + np.arange(N), iw + P, [iT]])
            rows = np.concatenate([np.arange(r_delay), r_delay + P, r_mc + P, r_mc + K + P, r_mc + 2 * K + P])
            sub = A_rows[rows][:, cols].tocsc()
            sub.sort_indices()
            lp = highspy.HighsLp()
            lp.num_col_, lp.num_row_ = len(cols), len(rows)
            lp.col_cost_, lp.col_lower_, lp.col_upper_ = c[cols], col_lo[cols], col_hi[cols]
            lp.row_lower_ = np.where(np.isinf(self.row_lo[rows]), -highspy.kHighsInf, self.row_lo[rows])
            lp.row_upper_ = np.where(np.isinf(self.row_hi[rows]), highspy.kHighsInf, self.row_hi[rows])
            lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
            lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = sub.indptr, sub.indices, sub.data
            return cols, rows, lp

        A_rows = A.tocsr()
        usable = data.usable
        keep = (np.asarray(pairs, dtype=bool) | lowest_delay_pairs(data, SEED_PAIRS)) & usable
        if keep.sum() == usable.sum():
            return None, ""  # every usable pair is kept: the full LP as it is
        G = data.masked("G")
        status = highspy.HighsBasisStatus
        col_status = np.full(self.n_cols, int(status.kLower))  # the full LP's basis statuses, carried between rounds
        row_status = np.full(self.n_rows, int(status.kBasic))
        iters, basis = 0, None

        def run(lp, solver, what, start=None, **options):
            """HiGHS ``solver`` on ``lp`` (from the basis ``start``): (the solver, None or why it is not optimal)."""
            nonlocal iters
            h = _new_highs(solver, left(), **options)
            h.passModel(lp)
            if start is not None:
                h.setBasis(start)
            h.run()
            info = h.getInfo()
            iters += int(info.simplex_iteration_count + info.ipm_iteration_count)
            ok = h.getModelStatus() == highspy.HighsModelStatus.kOptimal
            return h, None if ok else f"{what} {h.modelStatusToString(h.getModelStatus())}"

        for rnd in range(MAX_PRICING_ROUNDS):
            cols, rows, lp = restricted(keep)
            start = None
            if basis is not None:
                start = highspy.HighsBasis()
                start.col_status = [status(int(v)) for v in col_status[cols]]
                start.row_status = [status(int(v)) for v in row_status[rows]]
                start.valid = True
            h, failed = run(lp, "simplex", f"pricing round {rnd}: HiGHS simplex", start)
            if failed:
                return None, failed
            basis = h.getBasis()
            col_status[cols] = [int(v) for v in basis.col_status]
            row_status[rows] = [int(v) for v in basis.row_status]
            simplex_duals = np.asarray(h.getSolution().row_dual)
            y = np.zeros(self.n_rows)
            y[:r_delay] = simplex_duals[:r_delay]
            d = self._prices(c, A, y, G)
            new = ~keep & usable & (d < -1e-9 * max(1.0, abs(h.getInfo().objective_function_value)))
            if not new.any():
                break
            keep |= new
        else:
            return None, f"pricing: {MAX_PRICING_ROUNDS} rounds without settling"
        h, failed = run(lp, "ipm", "pricing: HiGHS ipm on the last restricted LP", run_crossover="off",
                        ipm_optimality_tolerance=float(tol))
        if failed:
            return None, failed
        sol = h.getSolution()
        x = np.zeros(self.n_cols)
        x[cols] = sol.col_value
        out = np.flatnonzero(~keep.ravel())

        def bound_at(sub_duals):
            """The full LP's dual function at the restricted LP's row duals, the left-out pairs' w − x ≤ 0 rows (the
            first McCormick block) given the multiplier min(0, reduced cost of w) that makes their terms exact."""
            y = np.zeros(self.n_rows)
            y[rows] = sub_duals
            y = signed_duals(y, self.row_lo, self.row_hi)
            y[r_mc + out] += np.minimum((c - A.T @ y)[iw + out], 0.0)
            return dual_bound(c, A, self.row_lo, self.row_hi, col_lo, col_hi, y)

        # both are valid; the simplex's duals are the ones pricing certified, the IPM's the ones of its point
        bound = max(bound_at(np.asarray(sol.row_dual)), bound_at(simplex_duals))
        return SDRResult("optimal", "HiGHS simplex pricing + ipm", bound, x[ix:ix + K].reshape(N, M), x[iphi:iphi + N],
                         time.perf_counter() - t0, iters, pairs=int(keep.sum())), ""

    def _prices(self, c, A, y, G):
        """Each pair's Lagrangian term min(0, d, d + G) at the coupling rows' duals ``y`` (others 0), (N, M)."""
        N, M, K = self.N, self.M, self.N * self.M
        y = signed_duals(y, self.row_lo, self.row_hi)
        d = (c - A.T @ y)[self._cols[0]:self._cols[0] + K].reshape(N, M)
        return np.minimum(0.0, np.minimum(d, d + G))

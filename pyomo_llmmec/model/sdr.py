"""The semidefinite relaxation of P1 (the paper's P2 (7) → P3 (8)), in cvxpy.

Stack q = [φ; vec(x)] (length K = N + NM) and lift S = [q; 1][q; 1]ᵀ ⪰ 0 with
S[K, K] = 1.  Every constraint and the objective of P1 become linear in S:

* binary x (5a)/(7a): S[x, x] = S[x, K];  (3b): Σ_m S[x_nm, K] = 1;
* (3c): 0 ≤ S[φ_n, K] ≤ 1;  budgets (3d), (3f), (3h): Σ_n share_nm S[x_nm, K] ≤ 1;
* products x_nm φ_n read S[x_nm, φ_n]: in the objective (6) and in (3j)
  c1 S[φ_n, K] + c34 S[x_nm, K] + (c2 − c34) S[x_nm, φ_n] ≤ T;
* rank(S) = 1 is dropped; S ⪰ 0 (8h).

With ``cuts=True`` (default) the relaxation also carries the valid RLT
inequalities of x, φ ∈ [0, 1] (S[φ,φ] ≤ S[φ,K]; 0 ≤ S[x,φ] ≤ min(S[x,K], S[φ,K]);
S[x,φ] ≥ S[φ,K] + S[x,K] − 1), which every rank-one S satisfies, so it is at
least as tight as the LP relaxation of the linearised P1.  ``cuts=False`` is
the paper's relaxation as printed.

The problem is built once with cvxpy Parameters (DPP), so repeated solves
reuse the compilation.  Its optimal value is a lower bound on P1's minimum.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .association import P1Data


@dataclass
class SDRResult:
    status: str
    solver: str
    lower_bound: float  # SDP optimum (a lower bound on P1's minimum), model units
    x_frac: np.ndarray  # (N, M) S[x, K]
    phi_frac: np.ndarray  # (N,) S[φ, K]
    seconds: float


class SDRProblem:
    """The lifted SDP for fixed sizes; ``solve(data)`` updates the Parameters and solves."""

    def __init__(self, n_users: int, n_servers: int, cuts: bool = True):
        import cvxpy as cp

        self.cp = cp
        N, M = n_users, n_servers
        K = N + N * M
        self.N, self.M, self.K = N, M, K
        self.size = K + 1
        phi_idx = np.arange(N)
        x_idx = N + np.arange(N * M).reshape(N, M)  # x_nm at N + n*M + m
        xi = x_idx.ravel()
        pi = np.repeat(phi_idx, M)  # φ_n for each (n, m)
        last = K

        S = cp.Variable((K + 1, K + 1), symmetric=True)
        T = cp.Variable(nonneg=True)
        self.S, self.T = S, T
        self.pA = cp.Parameter(N)
        self.pB = cp.Parameter(N * M)
        self.pG = cp.Parameter(N * M)
        self.pcT = cp.Parameter(nonneg=True)
        self.pc1 = cp.Parameter(N, nonneg=True)
        self.pc34 = cp.Parameter(N * M, nonneg=True)
        self.pc2m34 = cp.Parameter(N * M)
        self.pshare = [cp.Parameter((N, M), nonneg=True) for _ in range(3)]

        phi_v = S[phi_idx, last]
        x_v = S[xi, last]  # length NM, order (n, m)
        xphi_v = S[xi, pi]
        x_mat = cp.reshape(x_v, (N, M), order="C")

        cons = [S >> 0, S[last, last] == 1]
        cons += [S[xi, xi] == x_v]  # (7a) binary
        cons += [cp.sum(x_mat, axis=1) == 1]  # (3b)
        cons += [phi_v >= 0, phi_v <= 1]  # (3c)
        for share in self.pshare:  # (3d), (3f), (3h)
            cons += [cp.sum(cp.multiply(share, x_mat), axis=0) <= 1]
        # (3j) for every pair (n, m)
        cons += [cp.multiply(self.pc1[pi], S[pi, last]) + cp.multiply(self.pc34, x_v) + cp.multiply(self.pc2m34, xphi_v) <= T]
        if cuts:
            cons += [S[phi_idx, phi_idx] <= phi_v]
            cons += [xphi_v >= 0, xphi_v <= x_v, xphi_v <= S[pi, last], xphi_v >= S[pi, last] + x_v - 1]
        obj = self.pcT * T + self.pA @ phi_v + self.pB @ x_v + self.pG @ xphi_v
        self.problem = cp.Problem(cp.Minimize(obj), cons)
        self._x_idx, self._phi_idx, self._last = x_idx, phi_idx, last

    def solve(self, data: P1Data, solvers=("CLARABEL", "SCS")) -> SDRResult:
        cp = self.cp
        N, M = self.N, self.M
        self.pA.value = data.A
        self.pB.value = data.B.ravel()
        self.pG.value = data.G.ravel()
        self.pcT.value = float(data.cT)
        self.pc1.value = data.c1
        self.pc34.value = data.c34.ravel()
        self.pc2m34.value = (data.c2 - data.c34).ravel()
        for p, arr in zip(self.pshare, (data.share_b, data.share_p, data.share_f)):
            p.value = arr
        t0 = time.perf_counter()
        errors = []
        for name in solvers:
            if name not in cp.installed_solvers():
                errors.append(f"{name}: not installed")
                continue
            try:
                self.problem.solve(solver=name)
            except cp.error.SolverError as exc:
                errors.append(f"{name}: {exc}")
                continue
            if self.problem.status in ("optimal", "optimal_inaccurate") and self.S.value is not None:
                S = self.S.value
                return SDRResult(
                    status=self.problem.status,
                    solver=name,
                    lower_bound=float(self.problem.value),
                    x_frac=S[self._x_idx.ravel(), self._last].reshape(N, M),
                    phi_frac=S[self._phi_idx, self._last],
                    seconds=time.perf_counter() - t0,
                )
            errors.append(f"{name}: status {self.problem.status}")
        return SDRResult("failed: " + "; ".join(errors), "", float("nan"), np.full((N, M), np.nan), np.full(N, np.nan), time.perf_counter() - t0)

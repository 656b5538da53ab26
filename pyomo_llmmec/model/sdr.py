"""The semidefinite relaxation of P1 (the paper's P2 (7) → P3 (8)), in cvxpy.

Stack q = [φ; vec(x)] (length K = N + NM) and lift S = [q; 1][q; 1]ᵀ ⪰ 0 with
S[K, K] = 1.  Every constraint and the objective of P1 become linear in S:

* binary x (5a)/(7a): S[x, x] = S[x, K];  (3b): Σ_m S[x_nm, K] = 1;
* (3c): 0 ≤ S[φ_n, K] ≤ 1;  budgets (3d), (3f), (3h): Σ_n share_nm S[x_nm, K] ≤ 1;
* products x_nm φ_n read S[x_nm, φ_n]: in the objective (6) and in (3j)
  c1 S[φ_n, K] + c34 S[x_nm, K] + (c2 − c34) S[x_nm, φ_n] ≤ T;
* rank(S) = 1 is dropped; S ⪰ 0 (8h);
* the pairs P1 leaves out (``P1Data.usable``, see :func:`~pyomo_llmmec.model.association.usable_pairs`):
  S[x_nm, K] ≤ 0, with their coefficients set to 0 (S ⪰ 0 then makes the whole row of
  x_nm zero, so S[x_nm, φ_n] = 0 too).

With ``cuts=True`` (default) the relaxation also carries the valid RLT
inequalities of x, φ ∈ [0, 1] (S[φ,φ] ≤ S[φ,K]; 0 ≤ S[x,φ] ≤ min(S[x,K], S[φ,K]);
S[x,φ] ≥ S[φ,K] + S[x,K] − 1), which every rank-one S satisfies, so it is at
least as tight as the LP relaxation of the linearised P1.  ``cuts=False`` is
the paper's relaxation as printed.

**Chordal form (default).**  The objective and constraints touch only the
diagonal, the last row and the entries S[x_nm, φ_n].  That sparsity pattern is
chordal — its maximal cliques are the triangles {K, φ_n, x_nm} — so by the
theorem of Grone, Johnson, Sá and Wolkowicz (1984) the pattern entries admit a
PSD completion exactly when every clique block

    [[1, x_nm, φ_n], [x_nm, x_nm, w_nm], [φ_n, w_nm, Φ_n]] ⪰ 0

does.  ``chordal=True`` therefore solves the *same* relaxation (same optimal
value and feasible pattern entries) with NM 3×3 cones instead of one
(K+1)×(K+1) cone: seconds instead of minutes at 20 users × 3 servers.
``chordal=False`` builds the dense matrix as the paper writes it (tests check
that the two agree).

The problem is built once with cvxpy Parameters (DPP), so repeated solves
reuse the compilation.  Its optimal value is a lower bound on P1's minimum.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from .association import P1Data


@dataclass
class SDRResult:
    """One SDR solve: cvxpy's status (``optimal``, ``optimal_inaccurate``, or ``failed: ...``) and what it found."""

    status: str
    solver: str
    lower_bound: float  # SDP optimum (a lower bound on P1's minimum), model units
    x_frac: np.ndarray  # (N, M) S[x, K]
    phi_frac: np.ndarray  # (N,) S[φ, K]
    seconds: float
    iterations: int | None = None
    pairs: int | None = None  # LP route, priced: the pairs in the last restricted LP (None: all pairs)


class SDRProblem:
    """The SDR of P1 for fixed sizes; ``solve(data)`` updates the Parameters and solves."""

    def __init__(self, n_users: int, n_servers: int, cuts: bool = True, chordal: bool = True):
        import cvxpy as cp

        self.cp = cp
        N, M = n_users, n_servers
        self.N, self.M = N, M
        self.chordal = chordal
        self.size = N * (M + 1) + 1  # rows of the paper's lifted matrix
        pi = np.repeat(np.arange(N), M)  # φ_n for each pair (n, m), pairs in order (n, m)

        # parameters (P1 coefficients, model units)
        self.pA = cp.Parameter(N)
        self.pB = cp.Parameter(N * M)
        self.pG = cp.Parameter(N * M)
        self.pcT = cp.Parameter(nonneg=True)
        self.pc1 = cp.Parameter(N, nonneg=True)
        self.pc34 = cp.Parameter(N * M, nonneg=True)
        self.pc2m34 = cp.Parameter(N * M)
        self.pshare = [cp.Parameter((N, M), nonneg=True) for _ in range(3)]
        self.pallow = cp.Parameter(N * M, nonneg=True)  # 1: pair usable, 0: left out of P1
        T = cp.Variable(nonneg=True)

        if chordal:
            x_v = cp.Variable(N * M)  # S[x_nm, K] (= S[x_nm, x_nm])
            phi_v = cp.Variable(N)  # S[φ_n, K]
            xphi_v = cp.Variable(N * M)  # S[x_nm, φ_n]
            Phi = cp.Variable(N)  # S[φ_n, φ_n]
            # one 3×3 clique block per pair (8h), as a single batched PSD constraint of shape (NM, 3, 3):
            # compiling NM separate `bmat >> 0` constraints took ~10 s at 200×10, the batch 0.3 s
            phi_p, Phi_p = phi_v[pi], Phi[pi]
            rows = [np.ones(N * M), x_v, phi_p, x_v, x_v, xphi_v, phi_p, xphi_v, Phi_p]  # row-major entries of each block
            blocks = cp.reshape(cp.vstack(rows).T, (N * M, 3, 3), order="C")
            cons = [blocks >> 0]
            self._read = lambda: (x_v.value, phi_v.value)
        else:
            K = N + N * M
            S = cp.Variable((K + 1, K + 1), symmetric=True)
            xi = N + np.arange(N * M)
            x_v, phi_v, xphi_v, Phi = S[xi, K], S[np.arange(N), K], S[xi, pi], cp.diag(S)[:N]
            cons = [S >> 0, S[K, K] == 1, cp.diag(S)[xi] == x_v]  # (8h), (7a)
            self._read = lambda: (S.value[xi, K], S.value[np.arange(N), K])

        x_mat = cp.reshape(x_v, (N, M), order="C")
        cons += [cp.sum(x_mat, axis=1) == 1]  # (3b)
        cons += [x_v <= self.pallow]  # unusable pairs left out (x ≤ 1 holds anyway)
        cons += [phi_v >= 0, phi_v <= 1]  # (3c)
        for share in self.pshare:  # (3d), (3f), (3h)
            cons += [cp.sum(cp.multiply(share, x_mat), axis=0) <= 1]
        # (3j) for every pair (n, m)
        cons += [cp.multiply(self.pc1[pi], phi_v[pi]) + cp.multiply(self.pc34, x_v) + cp.multiply(self.pc2m34, xphi_v) <= T]
        if cuts:
            cons += [Phi <= phi_v]
            cons += [xphi_v >= 0, xphi_v <= x_v, xphi_v <= phi_v[pi], xphi_v >= phi_v[pi] + x_v - 1]
        obj = self.pcT * T + self.pA @ phi_v + self.pB @ x_v + self.pG @ xphi_v
        self.problem = cp.Problem(cp.Minimize(obj), cons)

    def solve(self, data: P1Data, solvers=("CLARABEL", "SCS")) -> SDRResult:
        cp = self.cp
        N, M = self.N, self.M
        self.pA.value = data.A
        self.pB.value = data.masked("B").ravel()
        self.pG.value = data.masked("G").ravel()
        self.pcT.value = float(data.cT)
        self.pc1.value = data.c1
        self.pc34.value = data.masked("c34").ravel()
        self.pc2m34.value = data.masked("c2m34").ravel()
        for p, name in zip(self.pshare, ("share_b", "share_p", "share_f")):
            p.value = data.masked(name)
        self.pallow.value = data.usable.astype(float).ravel()
        t0 = time.perf_counter()
        errors = []
        for name in solvers:
            if name not in cp.installed_solvers():
                errors.append(f"{name}: not installed")
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # 'inaccurate' is reported through the status instead
                    self.problem.solve(solver=name)
            except cp.error.SolverError as exc:
                errors.append(f"{name}: {exc}")
                continue
            except ValueError as exc:
                # SCS reports data it cannot factorise ("ScsWork allocation error!") as a ValueError out of
                # its C extension, not as a cvxpy SolverError: a failed solve too; from any other solver, a bug
                if name != "SCS":
                    raise
                errors.append(f"{name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
                continue
            if self.problem.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):  # the caller takes only OPTIMAL's value as a bound
                x, phi = self._read()
                if x is not None:
                    iters = getattr(self.problem.solver_stats, "num_iters", None)
                    return SDRResult(self.problem.status, name, float(self.problem.value), np.asarray(x).reshape(N, M),
                                     np.asarray(phi), time.perf_counter() - t0, iters)
            errors.append(f"{name}: status {self.problem.status}")
        return SDRResult("failed: " + "; ".join(errors), "", float("nan"), np.full((N, M), np.nan), np.full(N, np.nan),
                         time.perf_counter() - t0)

"""Starting points (Algorithm 1, line 1) and equal-split resources (MODEL.md §5, §6)."""

from __future__ import annotations

import numpy as np

from .solution import Solution
from .status import Status


def round_robin(n_users: int, n_servers: int) -> np.ndarray:
    """User i goes to server i mod M: the paper's ``x(0) = (e_1, ..., e_M)ᵀ`` pattern
    repeated down the users (identical to GUCAA's greedy rule with ties to the lowest index)."""
    return np.arange(n_users) % n_servers


def initial_point(scenario, assignment=None) -> Solution:
    """Algorithm 1, line 1: b = b_max/N, p = p_max_n, P = p_max_m/N, F_n = F_max_n,
    F_nm = F_max_m/N, φ = 0.5, round-robin association (unless one is given).

    Feasible for any association: a server's N·(budget/N) never exceeds its budget.
    """
    n = scenario.n_users
    a = round_robin(n, scenario.n_servers) if assignment is None else np.asarray(assignment, dtype=int)
    return Solution.from_arrays(
        scenario,
        a,
        phi=np.full(n, 0.5),
        p=scenario.user_p_max_w.copy(),
        f_user=scenario.user_f_max_flops.copy(),
        b=scenario.bandwidth_hz[a] / n,
        p_server=scenario.server_p_max_w[a] / n,
        f_server=scenario.server_f_max_flops[a] / n,
        method="initial",
        status=Status.EVALUATED,
    )


def equal_split(scenario, assignment, phi=None) -> Solution:
    """MODEL.md §6 'equal split': server m's k_m users get b_max_m/k_m, p_max_m/k_m, F_max_m/k_m;
    users at p_max_n and F_max_n; φ = 0.5 unless given."""
    a = np.asarray(assignment, dtype=int)
    n = scenario.n_users
    k = np.bincount(a, minlength=scenario.n_servers)[a].astype(float)
    return Solution.from_arrays(
        scenario,
        a,
        phi=np.full(n, 0.5) if phi is None else np.asarray(phi, dtype=float),
        p=scenario.user_p_max_w.copy(),
        f_user=scenario.user_f_max_flops.copy(),
        b=scenario.bandwidth_hz[a] / k,
        p_server=scenario.server_p_max_w[a] / k,
        f_server=scenario.server_f_max_flops[a] / k,
        status=Status.EVALUATED,
    )

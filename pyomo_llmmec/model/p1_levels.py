"""P1 (6) at a fixed delay level: per-pair costs, the data of a generalized assignment problem (issue 16).

With the delay level T fixed, P1 separates over users once the association is
chosen (T couples the users only through (3j), and the budgets hold no φ):
:func:`level_costs` gives every pair its cost with its best φ, and what is left
is to assign each user (3b) within the three budgets (3d), (3f), (3h) — a
generalized assignment problem (``methods/blocks.py``: ``GAPAssociation``).
"""

from __future__ import annotations

import numpy as np

from .association import P1Data


def level_costs(data: P1Data, T: float) -> np.ndarray:
    """P1 (6) at a fixed delay level T: the cost of each pair with its best φ, (N, M); inf where not allowed.

    Pair (n, m) costs  B_nm + min_φ (A_n + G_nm) φ  over the φ ∈ [0, 1] that meet
    (3j) on that pair,  c34_nm + (c1_n + c2_nm − c34_nm) φ ≤ T.  The feasible φ
    form an interval (the delay is linear in φ) and the minimum of the linear cost
    is at one of its ends.  A pair with no feasible φ, or one P1 leaves out
    (``data.usable``), costs inf.  (6)'s term cT·T is the same for every pair and
    is not included.

    Parameters
    ----------
    data : P1Data
        P1's coefficients (model units).
    T : float
        The delay level, in P1's time unit.

    Returns
    -------
    numpy.ndarray
        (N, M) costs in P1's objective unit.
    """
    slope = data.c1[:, None] + data.c2 - data.c34  # delay per unit φ
    base = data.c34  # delay at φ = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.where(slope != 0, (T - base) / slope, np.nan)  # the φ at which the pair's delay is T
    lo = np.where(slope < 0, np.clip(root, 0.0, 1.0), 0.0)
    hi = np.where(slope > 0, np.clip(root, 0.0, 1.0), 1.0)
    feasible = np.where(slope > 0, base <= T, np.where(slope < 0, base + slope <= T, base <= T))
    k = data.A[:, None] + data.G
    phi = np.where(k > 0, lo, hi)
    cost = data.B + k * phi
    return np.where(feasible & data.usable & np.isfinite(cost), cost, np.inf)

"""Fig. 2's curves read from a DASHF history (``Solution.history``).

DASHF's history (see :mod:`pyomo_llmmec.methods.ao`) has one row per recorded
step.  Its ``scr`` column is the incumbent's SCR (it never decreases);
``candidate_scr`` is the SCR of the point a step produced.  When AO part 1
proposes a new association it is *tried* (rows with ``branch == 'trial'``):
resources for it, φ, then a few part-2 iterations, and it replaces the
incumbent only if the SCR is then not lower.  Otherwise the rows of the
``'same association'`` branch follow.  The branch that was kept in an outer
iteration is the one the curves follow:

``part1``
    iteration 0 is the initial point of Algorithm 1; iteration *i* is the SCR
    of the point AO part 1 of outer iteration *i* hands to part 2 (for an
    accepted trial: the trial point after part 1, which may be lower than the
    previous incumbent; for the kept association: the incumbent after the φ step).
``part2``
    for each outer iteration ``outer``, inner iteration 0 is the point after
    part 1 and inner iteration *k* the SCR after the *k*-th part-2
    (quadratic-transform + Ipopt) iteration of the kept branch.  Fig. 2(b)
    plots ``outer == 1``.
``dashf``
    iteration 0 is the initial point; iteration *i* the incumbent's SCR at the
    end of outer iteration *i* (Algorithm 1, line 7).
"""

from __future__ import annotations

import math

import pandas as pd

CURVES = ("part1", "part2", "dashf")
CURVE_LABELS = {
    "part1": "(a) AO part 1: SCR after part 1, per outer iteration",
    "part2": "(b) AO part 2: SCR per inner iteration (first outer iteration)",
    "dashf": "(c) DASHF: SCR per outer iteration",
}


def _flag(v) -> bool:
    return bool(v) if v is not None and not (isinstance(v, float) and math.isnan(v)) else False


def convergence_curves(history: pd.DataFrame) -> pd.DataFrame:
    """The three curves of Fig. 2 from one DASHF history: columns ``curve, outer, iteration, scr``."""
    h = history
    if h is None or not len(h) or "step" not in h:
        raise ValueError("the solution has no history (run DASHF to get one)")
    init = h[h["step"] == "init"]
    if not len(init):
        raise ValueError("the history has no 'init' row")
    y0 = float(init["scr"].iloc[0])
    rows = [("part1", 0, 0, y0), ("dashf", 0, 0, y0)]
    incumbent = y0
    outers = sorted(int(i) for i in h.loc[h["step"] == "outer", "iteration"].unique())
    for it in outers:
        hi = h[h["iteration"] == it]
        trial_ok = any(_flag(a) for a in hi.loc[hi["step"] == "trial", "accepted"])
        kept = "trial" if trial_ok else "same association"
        p1 = hi[(hi["step"] == "part1") & (hi["branch"] == kept)]
        if not len(p1):
            after1 = incumbent  # no part-1 step on the kept branch: part 2 starts from the incumbent
        elif kept == "trial":
            after1 = float(p1["candidate_scr"].iloc[-1])
        else:
            after1 = float(p1["scr"].iloc[-1])
        rows.append(("part1", it, it, after1))
        v = after1
        rows.append(("part2", it, 0, v))
        p2 = hi[(hi["step"] == "part2") & (hi["branch"] == kept)]
        for k, (_, r) in enumerate(p2.iterrows(), start=1):
            if _flag(r.get("accepted")) and r.get("candidate_scr") == r.get("candidate_scr"):
                v = float(r["candidate_scr"])
            inner = r.get("inner")
            rows.append(("part2", it, int(inner) if inner == inner and inner is not None else k, v))
        incumbent = float(hi.loc[hi["step"] == "outer", "scr"].iloc[-1])
        rows.append(("dashf", it, it, incumbent))
    return pd.DataFrame(rows, columns=["curve", "outer", "iteration", "scr"])


def padded(curves: pd.DataFrame, by: list[str], curve: str, outer: int | None = None) -> pd.DataFrame:
    """One curve of every run on a common iteration axis (wide: rows = iteration, columns = ``by`` groups × seed).

    Runs that stopped earlier keep their last value (a converged run stays
    where it converged), so means over seeds are taken over every run at every
    iteration.  ``outer`` selects the part-2 curve of one outer iteration.
    """
    c = curves[curves["curve"] == curve]
    if outer is not None:
        c = c[c["outer"] == outer]
    if not len(c):
        return pd.DataFrame()
    wide = c.pivot_table(index="iteration", columns=by + ["seed"], values="scr", aggfunc="last")
    full = range(int(wide.index.min()), int(wide.index.max()) + 1)
    return wide.reindex(full).ffill()

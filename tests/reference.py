"""The stored reference results: proven optima of (3) from benchmarks/results/global_gap.csv.

Each row is an instance ``generate_scenario(n, m, seed)`` with the best SCR
``global`` found (``best``), its proven upper bound (``bound``) and the gap.
Rows with status ``optimal`` are proven to the stated gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"
CSV = RESULTS / "global_gap.csv"
#: feasible points found by other methods (lns_<n>x<m>_s<seed>.xlsx); one above a "proven" bound refutes that proof
STORED = RESULTS / "lns_solutions"


@dataclass(frozen=True)
class Reference:
    n: int
    m: int
    seed: int
    best: float
    bound: float
    gap: float
    proven: bool
    global_wall_s: float
    refuted: bool = False  # a stored feasible point beats ``bound``: that "proof" is wrong (docs/DESIGN.md)

    @property
    def id(self) -> str:
        return f"{self.n}x{self.m}-s{self.seed}"

    def scenario(self):
        import pyomo_llmmec as lm

        return lm.generate_scenario(self.n, self.m, seed=self.seed)


def stored_point(n, m, seed):
    """(solution, evaluation) of a stored point of instance (n, m, seed), or None."""
    path = STORED / f"lns_{n}x{m}_s{seed}.xlsx"
    if not path.exists():
        return None
    import pyomo_llmmec as lm

    sc = lm.generate_scenario(n, m, seed=seed)
    sol = lm.read_solution(path, sc)
    return sol, lm.evaluate(sc, sol)


def references(proven_only: bool = True) -> list[Reference]:
    """The instances; ``best`` is the best feasible point known (global's or a stored one), and a row whose
    stored point beats its bound is *not* proven (the bound is wrong: see docs/DESIGN.md, "Method lns")."""
    df = pd.read_csv(CSV)
    out = []
    for r in df.itertuples():
        best, proven, refuted = float(r.global_scr), r.status == "optimal", False
        got = stored_point(int(r.n), int(r.m), int(r.seed))
        if got is not None and got[1].feasible:
            best = max(best, got[1].scr)
            refuted = got[1].scr > float(r.bound) * (1 + 1e-6)
            proven = proven and not refuted
        out.append(Reference(int(r.n), int(r.m), int(r.seed), best, float(r.bound), float(r.gap), proven,
                             float(r.global_wall_s), refuted))
    out = [r for r in out if r.proven or not proven_only]
    return sorted(out, key=lambda r: (r.n, r.m, r.seed))


def fastest(k: int) -> list[Reference]:
    """The k proven instances that ``global`` closed fastest."""
    return sorted(references(), key=lambda r: r.global_wall_s)[:k]

"""The stored reference results: proven optima of (3) from benchmarks/results/global_gap.csv.

Each row is an instance ``generate_scenario(n, m, seed)`` with the best SCR
``global`` found (``best``), its proven upper bound (``bound``) and the gap.
Rows with status ``optimal`` are proven to the stated gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

CSV = Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "global_gap.csv"


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

    @property
    def id(self) -> str:
        return f"{self.n}x{self.m}-s{self.seed}"

    def scenario(self):
        import pyomo_llmmec as lm

        return lm.generate_scenario(self.n, self.m, seed=self.seed)


def references(proven_only: bool = True) -> list[Reference]:
    df = pd.read_csv(CSV)
    out = [Reference(int(r.n), int(r.m), int(r.seed), float(r.global_scr), float(r.bound), float(r.gap),
                     r.status == "optimal", float(r.global_wall_s)) for r in df.itertuples()]
    out = [r for r in out if r.proven or not proven_only]
    return sorted(out, key=lambda r: (r.n, r.m, r.seed))


def fastest(k: int) -> list[Reference]:
    """The k proven instances that ``global`` closed fastest."""
    return sorted(references(), key=lambda r: r.global_wall_s)[:k]

"""MindtPy (OA: HiGHS + Ipopt, in a Dinkelbach loop) as a reference point (issue 4).

    python benchmarks/mindtpy_reference.py      # (3,2) seeds 0..9 and the paper default, 120 s each

Writes benchmarks/results/mindtpy.{csv,md}; joins the global results of
benchmarks/results/global_gap.csv where they exist.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main():
    import pyomo_llmmec as lm

    cases = [("paper_default", lambda: lm.read_scenario(ROOT / "data" / "paper_default.xlsx"), None)]
    cases += [(f"3x2_s{s}", (lambda s=s: lm.generate_scenario(3, 2, seed=s)), (3, 2, s)) for s in range(10)]
    gg = pd.read_csv(RESULTS / "global_gap.csv") if (RESULTS / "global_gap.csv").exists() else pd.DataFrame()
    rows = []
    for name, make, key in cases:
        sc = make()
        row = {"instance": name}
        t0 = time.perf_counter()
        try:
            s = lm.solve(sc, method="mindtpy", time_limit=120)
            row.update(mindtpy=s.evaluation.scr, status=s.status, outer=s.info["outer_iterations"],
                       warnings="; ".join(s.info["warnings"]))
        except Exception as exc:  # noqa: BLE001 - a failed run is a row
            row.update(mindtpy=float("nan"), status=f"failed: {str(exc).splitlines()[0]}")
        row["wall_s"] = time.perf_counter() - t0
        row["dashf"] = lm.solve(sc, method="dashf").evaluation.scr
        if key is not None and len(gg):
            g = gg[(gg.n == key[0]) & (gg.m == key[1]) & (gg.seed == key[2])]
            if len(g):
                row["global"], row["bound"] = float(g.global_scr.iloc[0]), float(g.bound.iloc[0])
        rows.append(row)
        print(row, flush=True)
    df = pd.DataFrame(rows)
    df.to_csv(RESULTS / "mindtpy.csv", index=False)
    lines = ["| instance | MindtPy SCR | status | wall (s) | DASHF SCR | global SCR | proven bound |", "|---|---|---|---|---|---|---|"]
    for _, r in df.iterrows():  # (not itertuples: "global" is a Python keyword)
        g, b = r.get("global", float("nan")), r.get("bound", float("nan"))
        lines.append(f"| {r['instance']} | {r['mindtpy']:.5g} | {r['status']} | {r['wall_s']:.1f} | {r['dashf']:.5g} | {g:.5g} | {b:.5g} |")
    (RESULTS / "mindtpy.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Where does DASHF lose against the global optimum?  (issue 4's investigation)

    python benchmarks/dashf_gap_analysis.py        # reads benchmarks/results/global_gap.csv

For each instance of global_gap.csv: run DASHF's own AO blocks (the φ LP and
part 2) with the association *fixed*, for every one of the M^N associations,
from the equal split with φ ∈ {0, ½, 1}.  The best of these ("AO, best
association") separates the two suspects:

* if it reaches the global SCR, DASHF lost in the association step;
* if it stays well below, the AO on (φ, resources) itself stops short: the
  alternation between the φ LP and part 2 is a block-coordinate ascent and
  can stall at a point that is optimal per block but not jointly.

Writes benchmarks/results/dashf_gap_analysis.{csv,md}.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS  # noqa: E402


def best_ao_over_associations(sc):
    from pyomo_llmmec.methods.ao import run_ao
    from pyomo_llmmec.methods.options import SolveOptions
    from pyomo_llmmec.points import equal_split
    from pyomo_llmmec.solution import evaluate

    o = SolveOptions()
    best, best_a, best_phi = -np.inf, None, None
    for a in itertools.product(range(sc.n_servers), repeat=sc.n_users):
        a = np.array(a)
        for phi in (0.0, 0.5, 1.0):
            s = run_ao(sc, equal_split(sc, a, phi=np.full(sc.n_users, phi)), o, method="ao-fixed", assoc=None,
                       resources="fp", optimize_phi=True)
            ev = evaluate(sc, s, attach=False)
            if ev.feasible and ev.scr > best:
                best, best_a, best_phi = ev.scr, a, s.phi
    return best, best_a, best_phi


def main():
    import pyomo_llmmec as lm

    gg = pd.read_csv(RESULTS / "global_gap.csv")
    gg = gg[gg["error"].fillna("") == ""]
    rows = []
    for r in gg.itertuples():
        sc = lm.generate_scenario(int(r.n), int(r.m), seed=int(r.seed))
        ao, a, phi = best_ao_over_associations(sc)
        dashf = max(r.dashf_sdr, r.dashf_milp, r.dashf_gurobi)
        best = max(r.global_scr, dashf, ao)
        rows.append({"n": r.n, "m": r.m, "seed": r.seed, "dashf_best_variant": dashf, "ao_best_association": ao,
                     "global_scr": r.global_scr, "dashf_over_best": dashf / best, "ao_over_best": ao / best,
                     "ao_association": " ".join(map(str, a)), "ao_phi": " ".join(f"{v:.2f}" for v in phi)})
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    df.to_csv(RESULTS / "dashf_gap_analysis.csv", index=False)
    lines = ["| N | M | seed | DASHF (best variant) | AO, best fixed association | global | DASHF/best | AO/best |",
             "|---|---|---|---|---|---|---|---|"]
    for r in df.itertuples():
        lines.append(f"| {r.n} | {r.m} | {r.seed} | {r.dashf_best_variant:.5g} | {r.ao_best_association:.5g} | {r.global_scr:.5g} | "
                     f"{r.dashf_over_best:.3f} | {r.ao_over_best:.3f} |")
    lines.append("")
    lines.append(f"instances: {len(df)}; DASHF within 1 % of the best: {int((df.dashf_over_best >= 0.99).sum())}; "
                 f"AO with the best association within 1 %: {int((df.ao_over_best >= 0.99).sum())}")
    (RESULTS / "dashf_gap_analysis.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

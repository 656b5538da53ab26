"""Evaluator and model-build timings (issue 2).

    python benchmarks/bench_foundation.py       # about 3 minutes on 2 cores

Times ``evaluate`` on a random feasible 1000×20 point (best of 20 runs) and
``build_model`` (the full MINLP (3), Dinkelbach form) for 10×2, 200×10 and
1000×20, each in a fresh process with its peak RSS.  Writes
benchmarks/results/foundation.md.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, in_fresh_process  # noqa: E402


def time_evaluator(n, m):
    import numpy as np

    import pyomo_llmmec as lm

    sc = lm.generate_scenario(n, m, seed=0)
    s = lm.equal_split(sc, np.arange(n) % m)
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        ev = lm.evaluate(sc, s, attach=False)
        times.append(time.perf_counter() - t0)
    assert ev.feasible
    return {"best_s": min(times), "median_s": sorted(times)[10]}


def time_build(n, m):
    import pyomo.environ as pyo

    import pyomo_llmmec as lm
    from pyomo_llmmec.model.full import build_model

    sc = lm.generate_scenario(n, m, seed=0)
    t0 = time.perf_counter()
    mdl = build_model(sc)
    t = time.perf_counter() - t0
    nv = sum(1 for _ in mdl.component_data_objects(pyo.Var))
    nc = sum(1 for _ in mdl.component_data_objects(pyo.Constraint))
    return {"build_s": t, "variables": nv, "constraints": nc}


def main():
    lines = ["| what | size | time (s) | peak RSS (MB) | detail |", "|---|---|---|---|---|"]
    r = in_fresh_process(time_evaluator, 1000, 20)
    lines.append(f"| evaluate | 1000×20 | {r['best_s']:.4f} (median {r['median_s']:.4f}) | {r['peak_rss_mb']:.0f} | best of 20 |")
    print(lines[-1], flush=True)
    for n, m in ((10, 2), (200, 10), (1000, 20)):
        r = in_fresh_process(time_build, n, m, timeout=1800)
        if r.get("error"):
            lines.append(f"| build_model | {n}×{m} | {r['error']} | | |")
        else:
            lines.append(f"| build_model | {n}×{m} | {r['build_s']:.2f} | {r['peak_rss_mb']:.0f} | {r['variables']} variables, {r['constraints']} constraints |")
        print(lines[-1], flush=True)
    (RESULTS / "foundation.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

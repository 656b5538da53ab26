"""DASHF by network size: wall time, peak memory, where the time goes (issue 3).

    python benchmarks/bench_dashf.py                       # the full table (about 25 min on 2 cores)
    python benchmarks/bench_dashf.py --sizes 10x2,20x3     # a subset
    python benchmarks/bench_dashf.py --time-limit 900      # cap per case (the (1000,20) case uses it)

Each case runs in a fresh process (peak RSS is that process's, including the
package import); scenarios are generate_scenario(N, M, seed). Rows are appended
to benchmarks/results/dashf_by_size.csv as they finish (rerunning skips the
cases already there; --fresh starts over) and the table is printed as Markdown.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, append_row, results_file, in_fresh_process, load_rows  # noqa: E402

COLUMNS = ["n", "m", "seed", "assoc", "scr", "initial_scr", "outer", "part1", "part2", "status", "wall_s", "build_s", "sdp_s",
           "milp_s", "miqcp_s", "lp_s", "ipopt_s", "other_s", "peak_rss_mb", "error"]


def case(n, m, seed, assoc, time_limit):
    import pyomo_llmmec as lm

    sc = lm.generate_scenario(n, m, seed=seed)
    t0 = time.perf_counter()
    s = lm.solve(sc, method="dashf", assoc=assoc, seed=seed, time_limit=time_limit)
    wall = time.perf_counter() - t0
    t = s.info.get("times", {})
    build = t.get("model build", 0.0) + t.get("model update", 0.0)
    parts = {"build_s": build, "sdp_s": t.get("SDP (SDR of P1)", 0.0) + t.get("LP (relaxation of P1)", 0.0) + t.get("Hungarian", 0.0), "milp_s": t.get("MILP (P1)", 0.0),
             "miqcp_s": t.get("MIQCP (P1, Gurobi)", 0.0), "lp_s": t.get("LP (phi)", 0.0), "ipopt_s": t.get("Ipopt (part 2)", 0.0)}
    h = s.history
    return {"scr": s.evaluation.scr, "initial_scr": float(h["scr"].iloc[0]), "outer": s.info["outer_iterations"],
            "part1": s.info["part1_steps"], "part2": s.info["part2_steps"], "status": s.status, "wall_s": wall,
            "other_s": wall - sum(parts.values()), **parts}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10x2,20x3,50x5,200x10,1000x20")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=900.0, help="DASHF's own time limit per case (s)")
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("-o", default=str(RESULTS / "dashf_by_size.csv"))
    a = ap.parse_args(argv)
    out = results_file(a.o, a.fresh)
    done = {(r["n"], r["m"], r["assoc"]) for r in load_rows(out)}
    for size in a.sizes.split(","):
        n, m = (int(v) for v in size.lower().split("x"))
        variants = ["milp", "sdr"] + (["gurobi"] if n * m <= 60 else [])  # Gurobi: the pip licence's size limit
        for assoc in variants:
            if (str(n), str(m), assoc) in done:
                continue
            print(f"({n},{m}) assoc={assoc} ...", flush=True)
            row = {"n": n, "m": m, "seed": a.seed, "assoc": assoc}
            row.update(in_fresh_process(case, n, m, a.seed, assoc, a.time_limit, timeout=a.time_limit + 600))
            append_row(out, row, COLUMNS)
            print(json.dumps({k: row.get(k) for k in ("scr", "outer", "wall_s", "peak_rss_mb", "error")}), flush=True)
    rows = load_rows(out)
    print("\n| N | M | assoc | SCR | outer | part 1 | part 2 | status | wall (s) | build | SDP+Hungarian | MILP | MIQCP | LP φ | Ipopt | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    f = lambda v: f"{float(v):.1f}" if v not in ("", None) else ""  # noqa: E731
    for r in rows:
        if r["error"]:
            print(f"| {r['n']} | {r['m']} | {r['assoc']} | {r['error']} |||||||||||||")
            continue
        print(f"| {r['n']} | {r['m']} | {r['assoc']} | {float(r['scr']):.4g} | {r['outer']} | {r['part1']} | {r['part2']} | {r['status']} | "
              f"{f(r['wall_s'])} | {f(r['build_s'])} | {f(r['sdp_s'])} | {f(r['milp_s'])} | {f(r['miqcp_s'])} | {f(r['lp_s'])} | "
              f"{f(r['ipopt_s'])} | {f(r['peak_rss_mb'])} |")


if __name__ == "__main__":
    main()

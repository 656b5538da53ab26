"""lns against DASHF on larger networks, with a time limit of 3x DASHF's own wall time (issue 12).

    python benchmarks/lns_scale.py --sizes 50x5,200x10          # ~5 min
    python benchmarks/lns_scale.py --sizes 1000x20               # ~20 min

Per size (generate_scenario(N, M, seed=0), each run in a fresh process): DASHF with
the default options (its wall time W), then lns with time_limit = 3 W and its default
starts (DASHF included, so its own DASHF run counts against the limit).  Rows go to
results/lns_scale.csv.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, append_row, in_fresh_process, load_rows, results_file  # noqa: E402

COLUMNS = ["n", "m", "seed", "dashf_scr", "dashf_wall_s", "lns_time_limit_s", "lns_scr", "lns_wall_s", "ratio", "lns_status",
           "moves_tried", "accepted", "peak_rss_mb", "error"]


def run(method, n, m, seed, limit):
    import time

    import pyomo_llmmec as lm

    sc = lm.generate_scenario(n, m, seed=seed)
    opts = {} if limit is None else {"time_limit": limit}
    t0 = time.perf_counter()
    s = lm.solve(sc, method, **opts)
    return {"scr": s.evaluation.scr, "wall_s": time.perf_counter() - t0, "status": s.status,
            "moves_tried": s.info.get("moves_tried"), "accepted": s.info.get("accepted")}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="50x5,200x10")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fresh", action="store_true")
    args = ap.parse_args(argv)
    out = results_file(RESULTS / "lns_scale.csv", args.fresh)
    done = {(int(r["n"]), int(r["m"]), int(r["seed"])) for r in load_rows(out)}
    for size in args.sizes.split(","):
        n, m = (int(v) for v in size.split("x"))
        if (n, m, args.seed) in done:
            continue
        d = in_fresh_process(run, "dashf", n, m, args.seed, None)
        row = {"n": n, "m": m, "seed": args.seed, "dashf_scr": d.get("scr"), "dashf_wall_s": d.get("wall_s"), "error": d.get("error", "")}
        if not row["error"]:
            limit = 3 * d["wall_s"]
            r = in_fresh_process(run, "lns", n, m, args.seed, limit)
            row.update(lns_time_limit_s=limit, lns_scr=r.get("scr"), lns_wall_s=r.get("wall_s"), lns_status=r.get("status"),
                       moves_tried=r.get("moves_tried"), accepted=r.get("accepted"), peak_rss_mb=r.get("peak_rss_mb"),
                       error=r.get("error", ""))
            if r.get("scr"):
                row["ratio"] = r["scr"] / d["scr"]
        print(row, flush=True)
        append_row(out, row, COLUMNS)


if __name__ == "__main__":
    main()

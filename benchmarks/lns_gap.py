"""Method ``lns`` against the proven optima of benchmarks/results/global_gap.csv (issue 12).

    python benchmarks/lns_gap.py                      # the 30 instances (3,2), (4,2), (6,2) x 10 seeds
    python benchmarks/lns_gap.py --sizes 3x2 --fresh  # one size, from scratch
    python benchmarks/lns_gap.py --heldout 3x2:100-104,4x2:100-104,5x2:100-102  # new seeds: global run here too

With ``--heldout`` the instances are seeds that no method was developed on: global (600 s, DASHF warm
start) runs first in its own process, then lns; rows go to results/lns_heldout.{csv,md}.

Per instance (generate_scenario(N, M, seed), one fresh process each): lns with the
default options, its SCR against global's best point and proven bound, its wall
time against global's.  Rows go to results/lns_gap.csv as they finish (a rerun
resumes); results/lns_gap.md is the summary.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, append_row, in_fresh_process, load_rows, results_file  # noqa: E402

COLUMNS = ["n", "m", "seed", "best", "bound", "global_status", "global_wall_s", "lns_scr", "ratio_to_best", "lns_wall_s",
           "time_ratio", "moves_tried", "nlp_solves", "status", "peak_rss_mb", "error"]


def run_lns(n, m, seed):
    import time

    import pyomo_llmmec as lm

    sc = lm.generate_scenario(n, m, seed=seed)
    t0 = time.perf_counter()
    s = lm.solve(sc, "lns")
    return {"lns_scr": s.evaluation.scr, "lns_wall_s": time.perf_counter() - t0, "moves_tried": s.info["moves_tried"],
            "nlp_solves": s.info["nlp_solves"], "status": s.status}


def run_global(n, m, seed, time_limit=600.0):
    import time

    import pyomo_llmmec as lm

    sc = lm.generate_scenario(n, m, seed=seed)
    t0 = time.perf_counter()
    g = lm.solve(sc, "global", time_limit=time_limit, warm_start_method="dashf")
    return {"best": g.evaluation.scr, "bound": g.info["bound"], "global_status": g.status,
            "global_wall_s": time.perf_counter() - t0}


def _heldout(spec: str):
    """"3x2:100-104,5x2:7" -> [(3, 2, 100), ..., (5, 2, 7)]."""
    out = []
    for part in spec.split(","):
        size, seeds = part.split(":")
        n, m = (int(v) for v in size.split("x"))
        lo, _, hi = seeds.partition("-")
        out += [(n, m, sd) for sd in range(int(lo), int(hi or lo) + 1)]
    return out


def summary(df: pd.DataFrame) -> str:
    lines = ["| size | instances | lns ≥ 99.9 % of best | min ratio | median ratio | median time ratio lns/global | max time ratio |",
             "|---|---|---|---|---|---|---|"]
    for (n, m), g in df.groupby(["n", "m"]):
        r = g["ratio_to_best"]
        lines.append(f"| ({n},{m}) | {len(g)} | {(r >= 0.999).sum()} | {r.min():.6f} | {r.median():.6f} | "
                     f"{g['time_ratio'].median():.2f} | {g['time_ratio'].max():.2f} |")
    lines += ["", "| instance | best (global) | bound | lns | lns/best | lns s | global s | time ratio |", "|---|---|---|---|---|---|---|---|"]
    for r in df.sort_values(["n", "m", "seed"]).itertuples():
        lines.append(f"| ({r.n},{r.m}) s{r.seed} | {r.best:.6f} | {r.bound:.6f} | {r.lns_scr:.6f} | {r.ratio_to_best:.6f} | "
                     f"{r.lns_wall_s:.1f} | {r.global_wall_s:.1f} | {r.time_ratio:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="3x2,4x2,6x2")
    ap.add_argument("--fresh", action="store_true", help="delete the CSV first")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--heldout", default="", help="N x M:seeds instances not in global_gap.csv, e.g. 3x2:100-104,5x2:7")
    args = ap.parse_args(argv)
    sizes = {tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")}
    name = "lns_heldout" if args.heldout else "lns_gap"
    out = results_file(RESULTS / f"{name}.csv", args.fresh)
    done = {(int(r["n"]), int(r["m"]), int(r["seed"])) for r in load_rows(out)}
    if args.heldout:
        ref = pd.read_csv(RESULTS / "global_gap.csv")
        known = set(zip(ref.n.astype(int), ref.m.astype(int), ref.seed.astype(int)))
        todo = [(key, None) for key in _heldout(args.heldout)]
        used = [k for k, _ in todo if k in known]
        if used:
            ap.error(f"--heldout: {used} are reference instances (benchmarks/results/global_gap.csv), not held out")
    else:
        ref = pd.read_csv(RESULTS / "global_gap.csv").sort_values(["n", "m", "seed"])
        todo = [((int(r.n), int(r.m), int(r.seed)), r) for r in ref.itertuples() if (int(r.n), int(r.m)) in sizes]
    for key, r in todo:
        if key in done:
            continue
        row = {"n": key[0], "m": key[1], "seed": key[2]}
        if r is None:
            row.update(in_fresh_process(run_global, *key, timeout=args.timeout))
        else:
            row.update(best=r.global_scr, bound=r.bound, global_status=r.status, global_wall_s=r.global_wall_s)
        if not row.get("error"):
            row.update(in_fresh_process(run_lns, *key, timeout=args.timeout))
        if not row.get("error"):
            row["ratio_to_best"] = row["lns_scr"] / row["best"]
            row["time_ratio"] = row["lns_wall_s"] / row["global_wall_s"]
        print({k: row.get(k) for k in ("n", "m", "seed", "ratio_to_best", "lns_wall_s", "time_ratio", "error")}, flush=True)
        append_row(out, row, COLUMNS)
    df = pd.DataFrame(load_rows(out))
    if len(df):
        for c in COLUMNS:
            if c not in ("global_status", "status", "error"):
                df[c] = pd.to_numeric(df[c], errors="coerce")
        (RESULTS / f"{name}.md").write_text(summary(df))
        print(summary(df))


if __name__ == "__main__":
    main()

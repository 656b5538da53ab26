"""How tight the Lagrangian SCR bound (pyomo_llmmec.bounds) is, against the best point known (issue 13).

    python benchmarks/bound_tightness.py                   # the references (3,2), (4,2), (6,2) + the scale points
    python benchmarks/bound_tightness.py --sizes 3x2 --fresh

Per instance (generate_scenario(N, M, seed), one fresh process each): the bound
as `llmmec solve` and `compare` compute it (``methods.scr_bound``, time limit
30 s: the whole network's Lagrangian bound, then the branch over associations
in the time left where M^N ≤ 4096) started from the best SCR known, bound /
best, and the whole network's bound alone ("whole").  "Best" is the largest
feasible SCR on record: global's point or lns's (results/global_gap.csv,
results/lns_gap.csv) for the small instances,
lns at its time limit (results/lns_scale.csv) for (50,5) and (200,10), and a
method run here (``FRESH``: lns for 60 s at (10,2), AAUCO at (1000,20)); at the
small instances that are proven optimal, bound / best is the bound's true
looseness.  Rows go to results/bound_tightness.csv as they finish (a rerun
resumes); results/bound_tightness.md is the summary.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, append_row, in_fresh_process, load_rows, results_file  # noqa: E402

COLUMNS = ["n", "m", "seed", "best", "best_source", "proven_optimal", "bound", "ratio", "bound_s", "evaluations", "status",
           "whole_bound", "whole_ratio", "whole_s", "associations", "settled_shared", "searches", "peak_rss_mb", "error"]


#: instances without a stored best point: (size, seeds, the method run here for "best", its time limit)
FRESH = [((10, 2), range(3), "lns", 60.0), ((1000, 20), range(1), "aauco", 600.0)]


def run_bound(n, m, seed, best, time_limit, method=None, method_limit=None):
    import pyomo_llmmec as lm
    from pyomo_llmmec.methods import scr_bound

    sc = lm.generate_scenario(n, m, seed=seed)
    out = {}
    if best is None:  # no stored point: run the method here
        s = lm.solve(sc, method, time_limit=method_limit)
        best = s.evaluation.scr
        out.update(best=best, best_source=f"{method} ({method_limit:.0f} s limit, run here: {s.status}, {s.wall_s:.0f} s)")
    bound, r, warning = scr_bound(sc, best, time_limit)  # what solve/compare report: the whole network's, then the branch
    if bound is None:
        raise RuntimeError(warning)
    out.update(bound=r.bound, bound_s=r.seconds, evaluations=r.evaluations, status=r.status)
    br = r.branch or {}
    out.update(whole_bound=br.get("whole_bound", r.bound), whole_s=r.seconds - br.get("seconds", 0.0),
               associations=br.get("associations"), settled_shared=br.get("settled_shared"), searches=br.get("searches"))
    return out


def cases():
    """(key, best, source, proven) per instance, each instance once: a stored point (global's or lns's) where there is
    one, else the method of ``FRESH`` run here."""
    seen = set()
    for key, best, src, proven in _all_cases():
        if key not in seen:
            seen.add(key)
            yield key, best, src, proven


def _all_cases():
    g = pd.read_csv(RESULTS / "global_gap.csv")
    lns = pd.read_csv(RESULTS / "lns_gap.csv").set_index(["n", "m", "seed"])
    for r in g.sort_values(["n", "m", "seed"]).itertuples():
        key = (int(r.n), int(r.m), int(r.seed))
        best, src = float(r.global_scr), "global"
        if key in lns.index and pd.notna(lns.loc[key, "lns_scr"]) and float(lns.loc[key, "lns_scr"]) > best:
            best, src = float(lns.loc[key, "lns_scr"]), "lns"
        yield key, best, src, r.status == "optimal" and best <= float(r.bound) * (1 + 1e-6)  # lns may beat global's point within its gap
    for r in pd.read_csv(RESULTS / "lns_scale.csv").itertuples():
        yield (int(r.n), int(r.m), int(r.seed)), float(r.lns_scr), f"lns ({r.lns_time_limit_s:.0f} s limit)", False
    for (n, m), seeds, method, limit in FRESH:
        for seed in seeds:
            yield (n, m, seed), None, (method, limit), False


def summary(df: pd.DataFrame) -> str:
    lines = ["| size | instances | median bound/best | max bound/best | within 10 % | median whole/best | median s | max s |",
             "|---|---|---|---|---|---|---|---|"]
    for (n, m), g in df.groupby(["n", "m"]):
        lines.append(f"| ({n},{m}) | {len(g)} | {g['ratio'].median():.3f} | {g['ratio'].max():.3f} | "
                     f"{int((g['ratio'] <= 1.1).sum())} | {g['whole_ratio'].median():.3f} | "
                     f"{g['bound_s'].median():.1f} | {g['bound_s'].max():.1f} |")
    lines += ["", "| instance | best | source | proven optimal | bound | bound/best | whole/best | associations: settled "
              "by the shared multipliers, searched | s | evaluations | status |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in df.sort_values(["n", "m", "seed"]).itertuples():
        branch = f"{r.associations:.0f}: {r.settled_shared:.0f}, {r.searches:.0f}" if pd.notna(r.associations) else "–"
        lines.append(f"| ({r.n},{r.m}) s{r.seed} | {r.best:.6g} | {r.best_source} | {r.proven_optimal} | {r.bound:.6g} | "
                     f"{r.ratio:.3f} | {r.whole_ratio:.3f} | {branch} | {r.bound_s:.1f} | {r.evaluations:.0f} | {r.status} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="3x2,4x2,6x2,10x2,50x5,200x10,1000x20")
    ap.add_argument("--fresh", action="store_true", help="delete the CSV first")
    ap.add_argument("--time-limit", type=float, default=30.0, help="the bound's time limit (s), as in llmmec solve")
    args = ap.parse_args(argv)
    sizes = {tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")}
    out = results_file(RESULTS / "bound_tightness.csv", args.fresh)
    done = {(int(r["n"]), int(r["m"]), int(r["seed"])) for r in load_rows(out)}
    for key, best, src, proven in cases():
        if key[:2] not in sizes or key in done:
            continue
        row = {"n": key[0], "m": key[1], "seed": key[2], "best": best, "best_source": src, "proven_optimal": proven}
        extra = src if best is None else (None, None)
        limit = args.time_limit * 4 + 120 + (extra[1] or 0) * 2
        row.update(in_fresh_process(run_bound, *key, best, args.time_limit, *extra, timeout=limit))
        if not row.get("error"):
            row["ratio"] = row["bound"] / row["best"]
            row["whole_ratio"] = row["whole_bound"] / row["best"]
        print({k: row.get(k) for k in ("n", "m", "seed", "ratio", "bound_s", "status", "error")}, flush=True)
        append_row(out, row, COLUMNS)
    df = pd.DataFrame(load_rows(out))
    if len(df):
        for c in ("n", "m", "seed", "best", "bound", "ratio", "bound_s", "evaluations", "whole_bound", "whole_ratio", "whole_s",
                  "associations", "settled_shared", "searches", "peak_rss_mb"):
            df[c] = pd.to_numeric(df[c], errors="coerce")
        text = summary(df)
        (RESULTS / "bound_tightness.md").write_text(
            "# The Lagrangian SCR bound against the best point known\n\n"
            "Made by `python benchmarks/bound_tightness.py` (see its docstring). \"bound\" is what `llmmec solve` and "
            "`compare` report: the whole network's Lagrangian bound, then (M^N ≤ 4096) the branch over associations in "
            "the time left; \"whole\" is the first alone. bound/best ≥ 1 always "
            "(the bound is valid); at a proven-optimal instance it is the bound's looseness, elsewhere an upper "
            "estimate of it (the best point may be below the optimum).\n\n" + text)
        print(text)


if __name__ == "__main__":
    main()

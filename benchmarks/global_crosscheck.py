"""Cross-check of method 'global': SCIP against Gurobi on the same instances (issue 13).

    python benchmarks/global_crosscheck.py                         # the 20 (3,2) and (4,2) instances of global_gap.csv
    python benchmarks/global_crosscheck.py --sizes 3x2 --seeds 1,3,4 --time-limit 120
    python benchmarks/global_crosscheck.py --redo                  # rerun rows already in the CSV

Per instance (generate_scenario(N, M, seed)): method 'global' once with
``solver="gurobi"`` and once with ``solver="scip"``, each alone (so neither
solver's bound is checked or repaired by the other), same start (DASHF) and
time limit, one solve at a time.  The two agree when each one's best point is
at most the other's bound (relative slack 1e-9): two independent proofs that
do not contradict each other.  A row that disagrees names the solver whose
bound a feasible point beats.  Rows go to benchmarks/results/global_crosscheck.csv
as they finish (a rerun resumes); the summary to global_crosscheck.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, load_rows, replace_row  # noqa: E402

SOLVERS = ("gurobi", "scip")
FIELDS = ("scr", "bound", "gap", "status", "wall_s", "solves", "refuted")
COLUMNS = ["n", "m", "seed", "time_limit"] + [f"{s}_{f}" for s in SOLVERS for f in FIELDS] + ["agree", "refuted_by", "error"]
SLACK = 1e-9  # relative: a point "above" a bound by less than this is rounding


def run_instance(n: int, m: int, seed: int, limit: float) -> dict:
    """Both solvers on one instance; the row of the CSV."""
    import pyomo_llmmec as lm

    sc = lm.generate_scenario(n, m, seed=seed)
    row = {"n": n, "m": m, "seed": seed, "time_limit": limit}
    for solver in SOLVERS:
        t0 = time.perf_counter()
        s = lm.solve(sc, method="global", solver=solver, time_limit=limit)
        info = s.info
        row.update({f"{solver}_scr": s.evaluation.scr, f"{solver}_bound": info["bound"], f"{solver}_gap": info["gap"],
                    f"{solver}_status": s.status, f"{solver}_wall_s": time.perf_counter() - t0,
                    f"{solver}_solves": info[f"{solver}_solves"], f"{solver}_refuted": info.get("refuted", 0)})
    row.update(verdict(row))
    return row


def verdict(row) -> dict:
    """agree: each solver's best point ≤ the other's bound; refuted_by: whose bound a point beats."""
    beaten = [other for solver, other in (("gurobi", "scip"), ("scip", "gurobi"))
              if float(row[f"{solver}_scr"]) > float(row[f"{other}_bound"]) * (1 + SLACK)]
    return {"agree": not beaten, "refuted_by": ",".join(f"{o} bound beaten" for o in beaten)}


def summary(df: pd.DataFrame) -> str:
    lines = ["| size | instances | agree | Gurobi proven ≤ 1e-4 | SCIP proven ≤ 1e-4 | median wall Gurobi (s) | median wall SCIP (s) | "
             "max |SCR_G/SCR_S − 1| |", "|---|---|---|---|---|---|---|---|"]
    for (n, m), g in df.groupby(["n", "m"]):
        lines.append(
            f"| ({n},{m}) | {len(g)} | {int(g['agree'].astype(str).eq('True').sum())} | "
            f"{int((g['gurobi_gap'] <= 1e-4 * (1 + 1e-9)).sum())} | {int((g['scip_gap'] <= 1e-4 * (1 + 1e-9)).sum())} | "
            f"{g['gurobi_wall_s'].median():.0f} | {g['scip_wall_s'].median():.0f} | "
            f"{(g['gurobi_scr'] / g['scip_scr'] - 1).abs().max():.2g} |")
    lines += ["", "| N | M | seed | Gurobi SCR | Gurobi bound | gap | wall (s) | refuted | SCIP SCR | SCIP bound | gap | wall (s) | "
              "refuted | agree |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in df.itertuples():
        lines.append(f"| {r.n} | {r.m} | {r.seed} | {r.gurobi_scr:.7g} | {r.gurobi_bound:.7g} | {r.gurobi_gap:.2g} | "
                     f"{r.gurobi_wall_s:.0f} | {int(r.gurobi_refuted)} | {r.scip_scr:.7g} | {r.scip_bound:.7g} | {r.scip_gap:.2g} | "
                     f"{r.scip_wall_s:.0f} | {int(r.scip_refuted)} | {r.agree}{' (' + r.refuted_by + ')' if isinstance(r.refuted_by, str) and r.refuted_by else ''} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="3x2,4x2")
    ap.add_argument("--seeds", default="0,1,2,3,4,5,6,7,8,9", help="comma-separated seeds")
    ap.add_argument("--time-limit", type=float, default=600.0, help="per solver and instance (s)")
    ap.add_argument("--redo", action="store_true", help="rerun instances that already have a row")
    ap.add_argument("-o", default=str(RESULTS / "global_crosscheck.csv"))
    a = ap.parse_args(argv)
    out = Path(a.o)
    sizes = [tuple(int(v) for v in size.lower().split("x")) for size in a.sizes.split(",")]
    seeds = [int(v) for v in a.seeds.split(",") if v.strip()]
    done = set() if a.redo else {(int(r["n"]), int(r["m"]), int(r["seed"])) for r in load_rows(out) if not r.get("error")}
    for n, m in sizes:
        for seed in seeds:
            if (n, m, seed) in done:
                continue
            try:
                row = run_instance(n, m, seed, a.time_limit)
            except Exception as exc:  # noqa: BLE001 - the row records it; the others still run
                row = {"n": n, "m": m, "seed": seed, "time_limit": a.time_limit, "error": f"{type(exc).__name__}: {exc}"}
            replace_row(out, row, COLUMNS, key=("n", "m", "seed"))
            print(f"({n},{m}) seed {seed}: " + ("; ".join(
                f"{s} {row.get(f'{s}_scr', float('nan')):.7g} ≤ {row.get(f'{s}_bound', float('nan')):.7g} "
                f"in {row.get(f'{s}_wall_s', 0):.0f} s" for s in SOLVERS) + f"; agree {row.get('agree')}"
                if not row.get("error") else row["error"]), flush=True)
    df = pd.read_csv(out, dtype={"error": str, "refuted_by": str}).sort_values(["n", "m", "seed"])
    df = df[df["error"].fillna("") == ""]
    text = summary(df) if len(df) else "no rows"
    print(text)
    md = out.with_suffix(".md")
    tmp = md.with_suffix(".md.tmp")
    tmp.write_text(text + "\n")
    tmp.replace(md)
    return 0 if df["agree"].astype(str).eq("True").all() else 1


if __name__ == "__main__":
    sys.exit(main())

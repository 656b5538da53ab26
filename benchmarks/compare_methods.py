"""DASHF's three association variants and the four baselines on many scenarios (issues 3 and 4).

    python benchmarks/compare_methods.py        # paper default + 20 (10,2) + 5 (20,3): about 15 min on 2 cores (+ lns, mindtpy)
    python benchmarks/compare_methods.py --fresh --runs dashf[sdr],dashf[milp],dashf[gurobi],dashf[sdr,start=equal],rucaa,gucaa,aauco,gucro,lns

Instances: data/paper_default.xlsx, generate_scenario(10, 2, seed) for seeds
0..19 and generate_scenario(20, 3, seed) for seeds 0..4.  Runs: dashf with
assoc = sdr, milp, gurobi, and sdr from the equal-split start (start="equal"); rucaa (seed = the scenario's), gucaa, aauco (sdr),
gucro.  Each row records the evaluator's SCR, wall time, iteration counts,
whether DASHF's SCR trace is non-decreasing and whether it ends at or above its
start.  Output: benchmarks/results/methods.csv (resumable) and a Markdown
summary: per-variant SCR and time, and DASHF's wins/ties/losses against every
baseline (tie: within 1e-4 relative).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, append_row, results_file, load_rows  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ["instance", "n", "m", "run", "method", "assoc", "scr", "initial_scr", "wall_s", "outer", "part1", "part2",
           "monotone", "above_start", "max_drop", "sdr_rounding_gap_max", "status", "error"]
RUNS = [("dashf[sdr]", "dashf", "sdr"), ("dashf[milp]", "dashf", "milp"), ("dashf[gurobi]", "dashf", "gurobi"),
        ("dashf[sdr,start=equal]", "dashf", "sdr"),
        ("rucaa", "rucaa", None), ("gucaa", "gucaa", None), ("aauco", "aauco", "sdr"), ("gucro", "gucro", None),
        ("mindtpy", "mindtpy", None), ("lns", "lns", None)]


def instances():
    import pyomo_llmmec as lm

    yield "paper_default", 0, lambda: lm.read_scenario(ROOT / "data" / "paper_default.xlsx")
    for s in range(20):
        yield f"10x2_s{s}", s, (lambda s=s: lm.generate_scenario(10, 2, seed=s))
    for s in range(5):
        yield f"20x3_s{s}", s, (lambda s=s: lm.generate_scenario(20, 3, seed=s))


LNS_TIME_LIMIT = 60.0  # s per instance (lns is anytime; without a limit it runs to a local optimum of every neighbourhood)


def one(sc, run, method, assoc, seed):
    import pyomo_llmmec as lm

    opts = {"seed": seed}
    if method == "lns":
        opts["time_limit"] = LNS_TIME_LIMIT * (2 if sc.n_users > 10 else 1)
    if "start=equal" in run:
        opts["start"] = "equal"
    if assoc:
        opts["assoc"] = assoc
    s = lm.solve(sc, method=method, **opts)
    row = {"scr": s.evaluation.scr, "wall_s": s.wall_s, "status": s.status, "outer": s.info.get("outer_iterations", ""),
           "part1": s.info.get("part1_steps", ""), "part2": s.info.get("part2_steps", ""),
           "sdr_rounding_gap_max": s.info.get("sdr_rounding_gap_max", "")}
    h = s.history
    if len(h) and "scr" in h:
        tr = h["scr"].dropna().to_numpy(dtype=float)
        row["initial_scr"] = tr[0]
        row["monotone"] = bool(np.all(np.diff(tr) >= -1e-9 * np.abs(tr[:-1])))
        row["above_start"] = bool(s.evaluation.scr >= tr[0] * (1 - 1e-9))
        row["max_drop"] = s.info.get("max_drop", "")
    return row


def summary(rows: pd.DataFrame) -> str:
    out = []
    ok = rows[rows["error"].fillna("") == ""]
    out.append("| run | instances | mean SCR (10,2) | mean SCR (20,3) | SCR paper default | mean wall (s) | monotone | ≥ start |")
    out.append("|---|---|---|---|---|---|---|---|")
    for run, g in ok.groupby("run", sort=False):
        m10 = g[g["n"] == 10]["scr"].mean()
        m20 = g[g["n"] == 20]["scr"].mean()
        pdv = g[g["instance"] == "paper_default"]["scr"]
        mono = g["monotone"].dropna()
        above = g["above_start"].dropna()
        out.append(f"| {run} | {len(g)} | {m10:.4g} | {m20:.4g} | {pdv.iloc[0] if len(pdv) else float('nan'):.4g} | "
                   f"{g['wall_s'].mean():.2f} | {int((mono == True).sum())}/{len(mono)} | {int((above == True).sum())}/{len(above)} |")  # noqa: E712
    piv = ok.pivot_table(index="instance", columns="run", values="scr")
    out.append("")
    out.append("DASHF (default assoc=auto, i.e. sdr at these sizes) against each baseline, paper default + 20 (10,2) (tie: |Δ| ≤ 1e-4 relative):")
    out.append("")
    out.append("| baseline | DASHF wins | ties | losses | mean SCR ratio DASHF/baseline |")
    out.append("|---|---|---|---|---|")
    sel = piv[[i == "paper_default" or i.startswith("10x2") for i in piv.index]]
    for base in ("rucaa", "gucaa", "aauco", "gucro"):
        for variant in ("dashf[sdr]", "dashf[milp]", "dashf[gurobi]", "dashf[sdr,start=equal]"):
            if base not in sel or variant not in sel:
                continue
            d, b = sel[variant], sel[base]
            rel = (d - b) / b.abs()
            w, t, l = int((rel > 1e-4).sum()), int((rel.abs() <= 1e-4).sum()), int((rel < -1e-4).sum())
            out.append(f"| {base} vs {variant} | {w} | {t} | {l} | {np.exp(np.log(d / b).mean()):.3g} |")
    if "lns" in piv:
        out.append("")
        out.append("lns against the best of every other run on the same instance (DASHF's variants, the baselines, MindtPy):")
        out.append("")
        out.append("| instances | lns ≥ best other (−1e-6) | mean ratio lns/best other | min ratio | mean lns wall (s) |")
        out.append("|---|---|---|---|---|")
        for label, sel in (("paper default + (10,2)", [i == "paper_default" or i.startswith("10x2") for i in piv.index]),
                           ("(20,3)", [i.startswith("20x3") for i in piv.index])):
            p = piv[sel]
            others = p.drop(columns=["lns"]).max(axis=1)
            r = (p["lns"] / others).dropna()
            walls = ok[(ok["run"] == "lns") & ok["instance"].isin(p.index)]["wall_s"]
            if len(r):
                out.append(f"| {label}: {len(r)} | {int((r >= 1 - 1e-6).sum())} | {r.mean():.4f} | {r.min():.4f} | {walls.mean():.1f} |")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--runs", help="comma-separated subset of the runs (default all: " + ",".join(r[0] for r in RUNS) + ")")
    ap.add_argument("--lns-time-limit", type=float, default=LNS_TIME_LIMIT,
                    help="lns's time limit per (10,2) instance in s (twice that at (20,3))")
    ap.add_argument("-o", default=str(RESULTS / "methods.csv"))
    a = ap.parse_args(argv)
    globals()["LNS_TIME_LIMIT"] = a.lns_time_limit
    runs = RUNS if not a.runs else [r for r in RUNS if r[0] in re.split(r",(?![^\[]*\])", a.runs)]
    out = results_file(a.o, a.fresh)
    done = {(r["instance"], r["run"]) for r in load_rows(out)}
    for name, seed, make in instances():
        sc = None
        for run, method, assoc in runs:
            if (name, run) in done:
                continue
            sc = sc or make()
            row = {"instance": name, "n": sc.n_users, "m": sc.n_servers, "run": run, "method": method, "assoc": assoc or ""}
            try:
                row.update(one(sc, run, method, assoc, seed))
                row["error"] = ""
            except Exception as exc:  # noqa: BLE001 - a failed run is a row
                row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            append_row(out, row, COLUMNS)
            print(f"{name:14s} {run:14s} SCR {row.get('scr', float('nan')):.6g}  {row.get('wall_s', 0):.2f} s {row['error']}", flush=True)
    rows = pd.read_csv(out)
    text = summary(rows)
    print(text)
    (out.with_suffix(".md")).write_text(text + "\n")


if __name__ == "__main__":
    main()

"""Scale: DASHF (each P1 route where it fits), lns and MindtPy by network size (issue 16).

    python benchmarks/bench_scale.py                          # the full table (hours on 2 cores)
    python benchmarks/bench_scale.py --sizes 10x2,50x5,200x10 # a subset (~15 min)
    make bench-scale                                          # the same as the first line

Each case runs in a fresh process (its peak RSS includes the package import) on
``generate_scenario(N, M, seed)``.  Per size:

* ``data``: generating the scenario, validating it (``check_scenario_arrays``), and writing and
  reading it as a CSV bundle (``.zip``) and, up to 200 000 pairs, as a workbook — issue 16 item 5
  (seconds at 10 000 × 100);
* ``dashf`` with each ``assoc`` route where it fits: ``sdr`` while N·M ≤ the
  option ``sdr_max_pairs`` (its memory), ``lp`` while N·M ≤ ``lp_max_pairs``, ``milp`` while
  N·M ≤ ``--milp-max-pairs`` (its time), ``gap`` always; the default route is marked;
* ``lns`` with a time limit of 3 × the default DASHF's wall time;
* ``mindtpy`` (the full MINLP (3), Pyomo's off-the-shelf decomposition) while
  N·M ≤ ``--mindtpy-max-pairs``.

Columns: SCR, wall, the time per phase (JSON), peak RSS, status.  Rows are
appended to benchmarks/results/bench_scale.csv as they finish (a rerun skips the
cases already there; ``--fresh`` starts over).  At the end the Markdown table is
printed and written to bench_scale.md, with the log–log fit of the default DASHF's
wall time against N·M (slope: 1 = linear in the pairs), and plotted to
bench_scale.png.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, append_row, in_fresh_process, load_rows, results_file  # noqa: E402

COLUMNS = ["n", "m", "pairs", "seed", "method", "assoc", "default", "scr", "wall_s", "time_limit_s", "status", "outer", "part2",
           "ipopt_iterations", "phases", "peak_rss_mb", "load_1min", "error"]
SIZES = "10x2,50x5,200x10,1000x20,3000x50,10000x100"
XLSX_MAX_PAIRS = 200_000


def data_case(n, m, seed):
    """Generate, validate, write and read a scenario (issue 16 item 5)."""
    import tempfile

    import pyomo_llmmec as lm
    from pyomo_llmmec.validation import check_scenario_arrays

    t0 = time.perf_counter()
    sc = lm.generate_scenario(n, m, seed=seed)
    t1 = time.perf_counter()
    check_scenario_arrays(sc)  # generate_scenario checks too: this is the validation's own cost
    t2 = time.perf_counter()
    phases = {"generate": t1 - t0, "validate": t2 - t1}
    # the CSV bundle always; the workbook while openpyxl takes seconds, not minutes (449 s + 324 s at a million rows)
    formats = ("zip", "xlsx") if n * m <= XLSX_MAX_PAIRS else ("zip",)
    with tempfile.TemporaryDirectory() as d:
        for fmt in formats:
            path = Path(d) / f"scenario.{fmt}"
            ta = time.perf_counter()
            lm.write_scenario(sc, path)
            tb = time.perf_counter()
            lm.read_scenario(path)
            tc = time.perf_counter()
            phases[f"write {fmt}"], phases[f"read {fmt} (validated)"] = tb - ta, tc - tb
    return {"wall_s": sum(phases.values()), "status": "ok", "phases": {k: round(v, 3) for k, v in phases.items()}}


def solve_case(n, m, seed, method, assoc, time_limit):
    import pyomo_llmmec as lm

    sc = lm.generate_scenario(n, m, seed=seed)
    opts = {"seed": seed}
    if assoc:
        opts["assoc"] = assoc
    if time_limit:
        opts["time_limit"] = time_limit
    t0 = time.perf_counter()
    s = lm.solve(sc, method, **opts)
    wall = time.perf_counter() - t0
    info = s.info
    return {"scr": s.evaluation.scr, "wall_s": wall, "status": s.status, "outer": info.get("outer_iterations"),
            "part2": info.get("part2_steps"), "ipopt_iterations": info.get("ipopt_iterations"),
            "phases": {k: round(v, 3) for k, v in info.get("times", {}).items()}, "assoc": info.get("assoc", assoc)}


def slope(rows):
    """Least-squares slope of log(wall) against log(N·M) over converged default-DASHF rows."""
    pts = [(math.log(float(r["pairs"])), math.log(float(r["wall_s"]))) for r in rows
           if r["method"] == "dashf" and r["default"] == "True" and not r["error"] and r["status"] == "converged"]
    if len(pts) < 2:
        return math.nan, pts
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx, pts


def report(rows, out_md: Path, out_png: Path):
    lines = ["| N | M | N·M | method | assoc | SCR | wall (s) | status | part-2 solves | Ipopt iters | peak RSS (MB) | load | phases (s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        name = r["method"] + (" (default)" if r["default"] == "True" else "")
        if r["error"]:
            lines.append(f"| {r['n']} | {r['m']} | {r['pairs']} | {name} | {r['assoc']} | — | — | {r['error']} | | | | | |")
            continue
        scr = f"{float(r['scr']):.6g}" if r["scr"] else ""
        ph = ", ".join(f"{k} {v:.1f}" for k, v in json.loads(r["phases"] or "{}").items() if v >= 0.05)
        lines.append(f"| {r['n']} | {r['m']} | {r['pairs']} | {name} | {r['assoc']} | {scr} | {float(r['wall_s']):.1f} | {r['status']} | "
                     f"{r['part2']} | {r['ipopt_iterations']} | {float(r['peak_rss_mb'] or 0):.0f} | {r.get('load_1min') or '?'} | {ph} |")
    k, pts = slope(rows)
    lines.append("")
    lines.append(f"Log–log slope of the default DASHF's wall time against N·M over {len(pts)} converged sizes: "
                 + (f"{k:.2f}" if k == k else "n/a (fewer than two converged sizes)"))
    heavy = [r for r in rows if float(str(r.get("load_1min") or "0").lstrip("~")) > 2]
    if heavy:
        lines.append(f"{len(heavy)} of {len(rows)} rows were measured with a 1-min load above 2 on 2 cores (column load): "
                     "their times are inflated and the slope is not a scaling result; rerun them on a quiet machine.")
    out_md.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot")
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    groups = {}
    for r in rows:
        if r["error"] or r["method"] == "data":
            continue
        groups.setdefault(f"{r['method']} {r['assoc']}".strip(), []).append((float(r["pairs"]), float(r["wall_s"])))
    for label, xy in sorted(groups.items()):
        xy.sort()
        ax.loglog(*zip(*xy), marker="o", label=label)
    ax.set_xlabel("user–server pairs N·M")
    ax.set_ylabel("wall time (s)")
    loads = [float(str(r.get("load_1min") or "nan").lstrip("~")) for r in rows]
    worst = max((v for v in loads if v == v), default=math.nan)
    title = f"wall time by size (default DASHF slope {k:.2f})" if k == k else "wall time by size"
    if worst > 2:  # 2 cores: a load above 2 means the cases shared the CPU
        title += f"\nmeasured at 1-min load up to {worst:g} on 2 cores: times inflated"
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    if groups:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=SIZES)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=1800.0, help="each solve's own time limit (s); lns gets 3 x DASHF's wall")
    ap.add_argument("--milp-max-pairs", type=int, default=2000, help="run assoc=milp only up to this N·M")
    ap.add_argument("--mindtpy-max-pairs", type=int, default=100, help="run MindtPy only up to this N·M")
    ap.add_argument("--methods", default="data,dashf,lns,mindtpy")
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("-o", default=str(RESULTS / "bench_scale.csv"))
    a = ap.parse_args(argv)
    from pyomo_llmmec.methods.blocks import choose_assoc
    from pyomo_llmmec.methods.options import SolveOptions

    out = results_file(a.o, a.fresh)
    done = {(r["n"], r["m"], r["method"], r["assoc"]) for r in load_rows(out)}
    methods = a.methods.split(",")
    o = SolveOptions()
    for size in a.sizes.split(","):
        n, m = (int(v) for v in size.lower().split("x"))
        pairs = n * m

        class _Sz:  # choose_assoc needs only the sizes
            n_users, n_servers = n, m

        default = choose_assoc("auto", _Sz, o)
        cases = [("data", "", False)] if "data" in methods else []
        if "dashf" in methods:
            routes = [r for r in ("sdr", "lp", "milp", "gap") if r == default or (r == "sdr" and pairs <= o.sdr_max_pairs)
                      or (r == "lp" and pairs <= o.lp_max_pairs) or (r == "milp" and pairs <= a.milp_max_pairs) or r == "gap"]
            cases += [("dashf", r, r == default) for r in sorted(routes, key=lambda r: r != default)]
        if "lns" in methods:
            cases.append(("lns", "", False))
        if "mindtpy" in methods and pairs <= a.mindtpy_max_pairs:
            cases.append(("mindtpy", "", False))
        dashf_wall = None
        for method, assoc, is_default in cases:
            key = (str(n), str(m), method, assoc)
            prev = [r for r in load_rows(out) if (r["n"], r["m"], r["method"], r["assoc"]) == key]
            if key in done:
                if method == "dashf" and is_default and prev and not prev[0]["error"]:
                    dashf_wall = float(prev[0]["wall_s"])
                continue
            limit = a.time_limit
            if method == "lns":
                if dashf_wall is None:
                    print(f"({n},{m}) lns skipped: no default DASHF wall time to scale its limit", flush=True)
                    continue
                limit = 3 * dashf_wall
            print(f"({n},{m}) {method} {assoc} ...", flush=True)
            if method == "data":
                res = in_fresh_process(data_case, n, m, a.seed, timeout=3600)
                limit = None
            else:
                res = in_fresh_process(solve_case, n, m, a.seed, method, assoc or None, limit, timeout=limit + 900)
            row = {"n": n, "m": m, "pairs": pairs, "seed": a.seed, "method": method, "assoc": assoc, "default": is_default,
                   "time_limit_s": limit, **res, "load_1min": round(os.getloadavg()[0], 2)}  # > 2 on 2 cores: times inflated
            row["assoc"] = assoc  # the key: the route asked for
            append_row(out, row, COLUMNS)
            if method == "dashf" and is_default and not res.get("error"):
                dashf_wall = res["wall_s"]
            print(json.dumps({k: row.get(k) for k in ("scr", "wall_s", "status", "peak_rss_mb", "error")}), flush=True)
    report(load_rows(out), Path(out).with_suffix(".md"), Path(out).with_suffix(".png"))


if __name__ == "__main__":
    main()

"""Tables of an experiment: the tidy run table, means with 95 % confidence intervals, CSV and Excel.

``results.csv`` (sheet ``results``) — one row per task (a tidy "one observation
per row" table), rows in task order (topology, grid point, method in the
paper's order, seed), the same whatever the number of workers:

    task, experiment, users, servers, seed, method, bandwidth_mhz, weight_time,
    weight_energy, status, scr, service, delay_s, energy_j, outer_iterations,
    part1_steps, part2_steps, loads, error   (+ part2_iterations_first for convergence)

It has no wall-clock column: timings are in ``timings.csv`` (sheet ``timings``).

``summary.csv`` (sheet ``summary``) — one row per (topology, grid point,
method, metric): ``n_runs, n_ok, n, mean, std, ci95_low, ci95_high``.  The
interval is mean ± t(0.975, n−1)·std/√n (Student's t, std with ddof=1); it is
empty when n < 2.  Failed runs (status failed/unavailable/error/missing) are
left out of the statistics and counted in ``n_runs − n_ok``.

Convergence adds ``curves.csv`` (one row per task × curve × iteration:
``task, users, servers, seed, curve, outer, iteration, scr``; see
:mod:`.curves`) and ``curve_summary.csv`` (mean and 95 % interval per
topology, curve and iteration, over seeds, runs that stopped earlier held at
their last value).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..io import atomic_path, write_sheets
from ..scenario import GeneratorSettings, SystemParams
from .curves import padded
from .tasks import METRICS, Task

FAILED_STATUSES = ("failed", "unavailable", "error", "missing")
GROUP_COLUMNS = ["users", "servers", "bandwidth_mhz", "weight_time", "weight_energy", "method"]
INT_COLUMNS = ("outer_iterations", "part1_steps", "part2_steps", "part2_iterations_first")
SUMMARY_METRICS = METRICS + ("part2_iterations_first",)


def _scenario_values(task: Task) -> dict:
    g, s = GeneratorSettings(), SystemParams()
    ov = task.overrides
    return {
        "bandwidth_mhz": float(ov.get("bandwidth_hz", g.bandwidth_hz)) / 1e6,
        "weight_time": float(ov.get("weight_time", s.weight_time)),
        "weight_energy": float(ov.get("weight_energy", s.weight_energy)),
    }


def runs_table(tasks: list[Task], records: dict) -> pd.DataFrame:
    """The tidy table: one row per task of ``tasks`` (in that order); ``records`` maps key -> record."""
    rows = []
    for t in tasks:
        rec = records.get(t.key)
        row = {"task": t.key, "experiment": t.experiment, "users": t.users, "servers": t.servers, "seed": t.seed,
               "method": t.method, **_scenario_values(t)}
        if rec is None:
            row.update({"status": "missing", **{k: None for k in METRICS}, "loads": None, "error": "not run"})
        else:
            row.update({"status": rec["status"], **{k: rec["metrics"].get(k) for k in METRICS},
                        "loads": rec.get("loads"), "error": rec.get("error")})
            if t.record == "convergence":
                curves = rec.get("curves") or []
                first = [r["iteration"] for r in curves if r["curve"] == "part2" and r["outer"] == 1]
                row["part2_iterations_first"] = max(first) if first else None
        rows.append(row)
    df = pd.DataFrame(rows)
    if any(t.record == "convergence" for t in tasks) and "part2_iterations_first" not in df:
        df["part2_iterations_first"] = None
    for c in METRICS + ("part2_iterations_first",):
        if c in df:
            df[c] = pd.to_numeric(df[c], errors="coerce")
            if c in INT_COLUMNS:
                df[c] = df[c].round().astype("Int64")
    cols = list(df.columns)
    for c in ("loads", "error"):  # text columns last
        cols.remove(c)
        cols.append(c)
    return df[cols].reset_index(drop=True)


def curves_table(tasks: list[Task], records: dict) -> pd.DataFrame:
    """Convergence curves of every run: ``task, users, servers, seed, curve, outer, iteration, scr``."""
    rows = []
    for t in tasks:
        rec = records.get(t.key)
        for r in (rec or {}).get("curves") or []:
            rows.append({"task": t.key, "users": t.users, "servers": t.servers, "seed": t.seed, **r})
    cols = ["task", "users", "servers", "seed", "curve", "outer", "iteration", "scr"]
    df = pd.DataFrame(rows, columns=cols)
    for c in ("users", "servers", "seed", "outer", "iteration"):
        df[c] = df[c].astype("int64")
    df["scr"] = df["scr"].astype(float)
    return df


def timings_table(tasks: list[Task], records: dict, computed_keys=()) -> pd.DataFrame:
    """Wall time of each task (kept out of the results table, which must not depend on the run)."""
    computed = set(computed_keys)
    rows = []
    for t in tasks:
        rec = records.get(t.key) or {}
        rows.append({"task": t.key, "method": t.method, "users": t.users, "servers": t.servers, "seed": t.seed,
                     "wall_s": rec.get("wall_s"), "computed_now": t.key in computed,
                     "finished_utc": rec.get("finished_utc"), "where": rec.get("where"),
                     "warnings": " | ".join(rec.get("warnings") or [])})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------
# statistics
# ----------------------------------------------------------------------------------------


def mean_ci(values, level: float = 0.95) -> dict:
    """n, mean, std (ddof=1) and the Student-t confidence interval of the finite ``values``."""
    from scipy import stats

    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    n = len(v)
    if n == 0:
        return {"n": 0, "mean": math.nan, "std": math.nan, "ci95_low": math.nan, "ci95_high": math.nan}
    mean = float(v.mean())
    if n < 2:
        return {"n": 1, "mean": mean, "std": math.nan, "ci95_low": math.nan, "ci95_high": math.nan}
    std = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * std / math.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "ci95_low": mean - half, "ci95_high": mean + half}


def summary_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95 % interval of each metric per (topology, grid point, method), over seeds."""
    rows = []
    ok = ~runs["status"].isin(FAILED_STATUSES)
    for key, g in runs.groupby(GROUP_COLUMNS, sort=False):
        gok = g[ok.loc[g.index]]
        for metric in SUMMARY_METRICS:
            if metric not in g:
                continue
            vals = pd.to_numeric(gok[metric], errors="coerce").astype(float).to_numpy()
            if not np.isfinite(vals).any() and len(gok):
                continue  # the metric does not apply to this method (e.g. iterations of a baseline)
            rows.append({**dict(zip(GROUP_COLUMNS, key)), "metric": metric, "n_runs": len(g), "n_ok": len(gok),
                         **mean_ci(vals)})
    return pd.DataFrame(rows, columns=GROUP_COLUMNS + ["metric", "n_runs", "n_ok", "n", "mean", "std", "ci95_low", "ci95_high"])


def curve_summary_table(curves: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95 % interval per topology, curve (part 2: first outer iteration) and iteration."""
    rows = []
    for curve in ("part1", "part2", "dashf"):
        wide = padded(curves, ["users", "servers"], curve, outer=1 if curve == "part2" else None)
        if wide.empty:
            continue
        for (n, m) in dict.fromkeys((c[0], c[1]) for c in wide.columns):
            sub = wide.loc[:, [c for c in wide.columns if (c[0], c[1]) == (n, m)]]
            for it, vals in sub.iterrows():
                rows.append({"users": n, "servers": m, "curve": curve, "iteration": int(it), **mean_ci(vals.to_numpy())})
    return pd.DataFrame(rows, columns=["users", "servers", "curve", "iteration", "n", "mean", "std", "ci95_low", "ci95_high"])


# ----------------------------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------------------------


def write_csv(df: pd.DataFrame, path) -> None:
    """Write a CSV atomically (full float precision, so equal tables give equal files)."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format=None)


def write_tables(out_dir, name: str, tables: dict, settings: dict) -> dict:
    """Write every table as ``<table>.csv`` and all of them (plus ``settings``) as ``<name>.xlsx``; returns the paths."""
    from pathlib import Path

    out = Path(out_dir)
    paths = {}
    for key, df in tables.items():
        p = out / f"{key}.csv"
        write_csv(df, p)
        paths[key] = p
    sheets = dict(tables)
    sheets["settings"] = pd.DataFrame({"parameter": list(settings), "value": [str(v) for v in settings.values()]})
    paths["workbook"] = write_sheets(out / f"{name}.xlsx", sheets)
    return paths

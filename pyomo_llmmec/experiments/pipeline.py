"""``run_experiment``: tasks → Dask sweep (with resume) → tables → plots, in one call."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import InputError
from ..dask_setup import check_scheduler_address
from .runner import RunStats, load_record, run_tasks, task_path
from .tasks import ExperimentConfig, configure


@dataclass
class ExperimentResult:
    """What :func:`run_experiment` produced: the tables, the files written and the sweep's statistics."""

    config: ExperimentConfig
    out_dir: Path
    results: pd.DataFrame
    summary: pd.DataFrame
    curves: pd.DataFrame | None
    curve_summary: pd.DataFrame | None
    timings: pd.DataFrame
    files: dict = field(default_factory=dict)
    stats: RunStats = field(default_factory=RunStats)

    @property
    def n_failed(self) -> int:
        """Tasks whose solve failed (rows with status failed/unavailable/error)."""
        return int(self.results["status"].isin(("failed", "unavailable", "error")).sum())

    def __repr__(self) -> str:
        s = self.stats
        return (f"ExperimentResult({self.config.name!r}, tasks={s.total}, cached={s.cached}, computed={s.computed}, "
                f"not_run={len(s.not_run)}, failed={self.n_failed}, out_dir='{self.out_dir}')")

    def means(self, metric: str = "scr") -> pd.DataFrame:
        """The summary of one metric: one row per group with n, mean and the 95 % interval."""
        return self.summary[self.summary["metric"] == metric].reset_index(drop=True)


def default_out_dir(name: str) -> Path:
    return Path("results") / name


def run_experiment(name: str, *, seeds: int = 20, out_dir=None, workers: int = 2, scheduler: str | None = None,
                   client=None, users: int | None = None, servers: int | None = None, sizes=None, grid=None,
                   methods=None, options: dict | None = None, progress: bool = True, plots: bool = True) -> ExperimentResult:
    """Run experiment ``name`` (``convergence``, ``baselines``, ``bandwidth``, ``weights``) and write its outputs.

    Scenario seeds are ``0 .. seeds-1`` (RUCAA's association seed = the scenario
    seed).  Tasks run on a new ``LocalCluster(workers)``, on the cluster at
    ``scheduler`` or through ``client``; finished tasks are kept in
    ``out_dir/tasks/`` and not recomputed by a later call.  Writes to
    ``out_dir`` (default ``results/<name>``): ``results.csv``,
    ``summary.csv``, ``timings.csv`` (+ ``curves.csv``, ``curve_summary.csv``
    for convergence), ``<name>.xlsx`` and ``<name>.png``/``.svg``.

    See :func:`.tasks.configure` for ``users``, ``servers``, ``sizes``,
    ``grid``, ``methods`` and ``options``.
    """
    cfg = configure(name, seeds=seeds, users=users, servers=servers, sizes=sizes, grid=grid, methods=methods,
                    options=options)
    if scheduler is not None and client is not None:
        raise InputError("give either scheduler or client, not both")
    if scheduler is not None:
        scheduler = check_scheduler_address(scheduler)
    elif client is None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise InputError(f"workers must be a whole number >= 1, got {workers!r}")
    out = Path(default_out_dir(name) if out_dir is None else out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"output directory {out} is a file")
    out.mkdir(parents=True, exist_ok=True)
    tasks = cfg.tasks()
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    stats = run_tasks(tasks, out, workers=workers, scheduler=scheduler, client=client, progress=progress, desc=name)
    return build_report(cfg, out, stats, plots=plots, started=started)


def build_report(cfg: ExperimentConfig, out: Path, stats: RunStats | None = None, *, plots: bool = True,
                 started: str = "") -> ExperimentResult:
    """Tables, workbook and plots from the task files under ``out`` (missing tasks are rows with status ``missing``)."""
    from .. import __version__
    from . import report

    tasks = cfg.tasks()
    stats = stats or RunStats(total=len(tasks))
    records = {}
    for t in tasks:
        rec = load_record(task_path(out, t.key), t, resume=False)
        if rec is not None:
            records[t.key] = rec
    results = report.runs_table(tasks, records)
    summary = report.summary_table(results)
    timings = report.timings_table(tasks, records, stats.computed_keys)
    tables = {"results": results, "summary": summary}
    curves = curve_summary = None
    if cfg.experiment.record == "convergence":
        curves = report.curves_table(tasks, records)
        curve_summary = report.curve_summary_table(curves)
        tables.update(curves=curves, curve_summary=curve_summary)
    tables["timings"] = timings
    settings = {**cfg.describe(), "package_version": __version__, "started": started,
                "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "where": stats.where, "tasks": stats.total,
                "tasks_cached": stats.cached, "tasks_computed": stats.computed, "tasks_not_run": len(stats.not_run),
                "sweep_wall_s": round(stats.wall_s, 3),
                "statistics": "mean over seeds; 95 % interval mean ± t(0.975, n-1)·s/√n; failed runs left out"}
    files = report.write_tables(out, cfg.name, tables, settings)
    if plots:
        from .plots import PLOTTERS

        data = curve_summary if cfg.experiment.record == "convergence" else summary
        files["plots"] = PLOTTERS[cfg.name](data, out / cfg.name)
    return ExperimentResult(cfg, out, results, summary, curves, curve_summary, timings, files, stats)

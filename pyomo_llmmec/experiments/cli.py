"""``llmmec experiment NAME``: :func:`add_experiment_command` adds it to the parser of :mod:`pyomo_llmmec.cli`.

This module does not import :mod:`pyomo_llmmec.cli` (the exit codes and argument
types both use live in :mod:`pyomo_llmmec.cliargs`), so there is no import cycle.

Exit status: 0 when every task has a result (solve failures included: they are
rows with their status, and a warning says how many), 1 when tasks could not
be run (a worker died, the scheduler went away) or the sweep failed otherwise,
2 for bad input.
"""

from __future__ import annotations

import argparse
import sys

from ..cliargs import EXIT_FAILED, EXIT_OK, positive_int
from .tasks import EXPERIMENTS, PAPER_METHODS, get_experiment, parse_grid

_EPILOG = """\
experiments (paper's Section V):
  convergence  Fig. 2(a)-(c): SCR per iteration of AO part 1, AO part 2, DASHF; (10,2) and (20,3)
  baselines    Fig. 3(a): delay, energy, SCR of RUCAA, GUCAA, AAUCO, GUCRO, DASHF; (10,2)
  bandwidth    Fig. 3(b): SCR of every method vs bandwidth per server 10..100 MHz; (10,2)
  weights      Fig. 3(c): delay, energy, SCR of DASHF under (w_t, w_e) pairs; (10,2)

Outputs in -o DIR (default results/NAME): results.csv (one row per run), summary.csv
(means, 95% t-intervals), timings.csv, NAME.xlsx, NAME.png/.svg, tasks/*.json (one file
per finished run: rerunning the same command resumes and recomputes only what is missing).
See docs/EXPERIMENTS.md."""


def _methods(s):
    names = [m.strip().lower() for m in s.split(",") if m.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give a comma-separated list of methods")
    return tuple(names)


def add_experiment_command(subparsers) -> None:
    """Add the ``experiment`` subcommand to the ``llmmec`` parser."""
    from ..methods.options import ASSOC_CHOICES

    p = subparsers.add_parser(
        "experiment", help="reproduce a figure of the paper (Monte Carlo sweep on Dask, resumable)",
        description="Run one of the paper's experiments over K random scenarios (seeds 0..K-1) on Dask; "
                    "write a tidy CSV, an Excel workbook and PNG/SVG plots with 95% confidence bands.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", choices=list(EXPERIMENTS), metavar="NAME", help=f"one of: {', '.join(EXPERIMENTS)}")
    p.add_argument("--seeds", type=positive_int, default=20, metavar="K", help="random scenarios (seeds 0..K-1), default 20")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive_int, default=None, metavar="W",
                       help="worker processes of the LocalCluster (default 2)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="use an existing Dask cluster, e.g. tcp://host:8786")
    p.add_argument("-o", "--output", metavar="DIR", help="output directory (default results/NAME)")
    p.add_argument("--users", type=positive_int, metavar="N", help="users per scenario (replaces the default topology)")
    p.add_argument("--servers", type=positive_int, metavar="M", help="servers per scenario (replaces the default topology)")
    p.add_argument("--grid", metavar="LIST", help="bandwidth: MHz values, e.g. 10,50,100; weights: pairs, e.g. 0.1:0.009,0.5:0.005")
    p.add_argument("--methods", type=_methods, metavar="LIST",
                   help=f"comma-separated methods (default: the experiment's), from {','.join(PAPER_METHODS)}")
    p.add_argument("--assoc", choices=ASSOC_CHOICES, help="AO part-1 solver of dashf/aauco (default auto)")
    p.add_argument("--no-plots", action="store_true", help="write the tables only")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_experiment)


def cmd_experiment(args) -> int:
    from ..io import check_output_dir, remove_empty_dirs
    from .pipeline import default_out_dir, run_experiment
    from .runner import task_dir

    exp = get_experiment(args.name)
    grid = parse_grid(exp.grid_kind, args.grid) if args.grid is not None else None
    options = {"assoc": args.assoc} if args.assoc else {}
    out = args.output or str(default_out_dir(args.name))
    _, created = check_output_dir(out)  # before any work: exit 2, one line
    tasks = task_dir(out)
    created = ([] if tasks.exists() else [tasks]) + created  # deepest first
    try:
        res = run_experiment(
            args.name, seeds=args.seeds, out_dir=out, workers=args.workers or 2, scheduler=args.scheduler,
            users=args.users, servers=args.servers, grid=grid, methods=args.methods, options=options,
            progress=not args.quiet, plots=not args.no_plots,
        )
    except BaseException:
        remove_empty_dirs(created)  # e.g. an unreachable --scheduler: no empty directory left behind by this run
        raise
    s = res.stats
    print(f"{exp.name} ({exp.figure}): {s.total} tasks: {s.cached} already done, {s.computed} computed now, "
          f"{len(s.not_run)} not run; {s.wall_s:.1f} s; {s.where}")
    _print_means(res)
    files = [res.files[k] for k in res.files if k != "plots"] + list(res.files.get("plots", []))
    print("wrote " + ", ".join(str(f) for f in files))
    if res.n_failed:
        print(f"warning: {res.n_failed} run(s) failed; see the status and error columns of {res.files['results']}",
              file=sys.stderr)
    if s.not_run:
        key, why = s.not_run[0]
        print(f"error: {len(s.not_run)} task(s) could not be run (first: {key}: {why}); rerun the same command "
              "to compute only those", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _print_means(res) -> None:
    """A short table of means (± 95 % half-width) per method and grid point."""
    s = res.summary
    metrics = [m for m in ("scr", "delay_s", "energy_j", "outer_iterations") if m in set(s["metric"])]
    kind = res.config.experiment.grid_kind
    point = {"bandwidth": ["bandwidth_mhz"], "weights": ["weight_time", "weight_energy"]}.get(kind, [])
    if res.config.experiment.record == "convergence":
        point = ["users", "servers"]
        metrics = [m for m in ("scr", "outer_iterations", "part2_iterations_first") if m in set(s["metric"])]
    rows = []
    for key, g in s.groupby(point + ["method"], sort=False):
        key = key if isinstance(key, tuple) else (key,)
        cells = []
        for m in metrics:
            r = g[g["metric"] == m]
            if not len(r):
                cells.append("-")
                continue
            r = r.iloc[0]
            half = (r["ci95_high"] - r["mean"]) if r["ci95_high"] == r["ci95_high"] else None
            cells.append(f"{r['mean']:.4g}" + (f" ± {half:.2g}" if half is not None else "") + f" (n={r['n']})")
        rows.append([*(f"{k:g}" if isinstance(k, float) else str(k) for k in key), *cells])
    head = [*point, "method", *metrics]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    for r in [head, *rows]:
        print("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)))


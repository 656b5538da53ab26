"""The ``llmmec`` command line.

Exit status: 0 success, 1 a solve failed (or a required solver is missing),
2 bad input (the one-line message names the file, sheet, row and column),
130 / 143 interrupted by SIGINT / SIGTERM (one line, no output file; see
:mod:`pyomo_llmmec.interrupts`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import math
import os
import signal
import sys
import time
from pathlib import Path

from . import interrupts
from .cliargs import EXIT_FAILED, EXIT_INPUT, EXIT_OK
from .cliargs import nonneg_int as _nonneg_int
from .cliargs import positive_float as _positive_float
from .cliargs import positive_int as _positive_int
from .errors import InputError, LLMMECError, SolveFailed, SolverUnavailable


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line (no usage block), exit 2 (argparse's own convention)
        if "required: command" in message:  # `llmmec` without a command, or with only options it does not know
            extra = [a for a in getattr(self, "argv", None) or [] if a != "--debug"]
            message = (f"no command given{' (unrecognized: ' + ' '.join(extra) + ')' if extra else ''}; "
                       f"choose one of: {', '.join(self._commands())}")
        print(f"{self.prog}: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(EXIT_INPUT)

    def _commands(self):
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return list(action.choices)
        return []


def _xlsx_out(s):
    if not s.lower().endswith(".xlsx"):
        raise argparse.ArgumentTypeError(f"{s!r}: output must be an .xlsx file")
    return s


def _scenario_out(s):
    if not s.lower().endswith((".xlsx", ".zip")):
        raise argparse.ArgumentTypeError(f"{s!r}: output must be an .xlsx workbook or a .zip CSV bundle")
    return s


# ------------------------------------------------------------------------------------------
# commands
# ------------------------------------------------------------------------------------------


def cmd_doctor(args) -> int:
    from . import solvers

    checks = solvers.all_checks()
    for c in checks:
        print(c.line())
    bad = [c for c in checks if c.required and not c.ok]
    print("all required solvers work" if not bad else f"{len(bad)} required solver(s) not working")
    return EXIT_OK if not bad else EXIT_FAILED


def cmd_generate(args) -> int:
    from .io import SCENARIO_SUFFIXES, check_output_path, write_scenario
    from .scenario import generate_scenario

    out = args.output or f"scenario_{args.users}x{args.servers}_seed{args.seed}.xlsx"
    check_output_path(out, suffixes=SCENARIO_SUFFIXES)  # before any work: exit 2, one line
    overrides = {}
    for kv in args.set or []:
        if "=" not in kv:
            raise InputError(f"--set expects NAME=VALUE, got {kv!r}")
        k, v = kv.split("=", 1)
        try:
            overrides[k.strip()] = float(v)
        except ValueError:
            raise InputError(f"--set {k}: {v!r} is not a number") from None
    sc = generate_scenario(args.users, args.servers, seed=args.seed, **overrides)
    write_scenario(sc, out)
    print(f"wrote {out}: {sc.n_users} users, {sc.n_servers} servers, seed {args.seed}")
    return EXIT_OK


def cmd_validate(args) -> int:
    from .io import read_scenario

    sc = read_scenario(args.file)
    g = sc.gain
    print(f"{args.file}: valid scenario, {sc.n_users} users, {sc.n_servers} servers; "
          f"gains {g.min():.3g}..{g.max():.3g}; noise {sc.system.noise_psd_dbm_per_hz:g} dBm/Hz")
    return EXIT_OK


def _print_summary(sol, file=None):
    file = file or sys.stdout
    ev = sol.evaluation
    rows = [
        ("method", sol.method),
        ("status", sol.status),
        ("SCR", f"{ev.scr:.6g}"),
    ]
    h = sol.history
    if len(h) and "step" in h and h["step"].iloc[0] == "init":
        rows.append(("start SCR", f"{float(h['scr'].iloc[0]):.6g} (Algorithm 1 line 1)" if sol.info.get("start") == "paper" else f"{float(h['scr'].iloc[0]):.6g}"))
    rows += [
        ("service", f"{ev.service:.6g}"),
        ("delay (s)", f"{ev.delay:.6g}"),
        ("energy (J)", f"{ev.energy:.6g}"),
        ("feasible", f"{ev.feasible} (max relative violation {ev.max_violation:.2g})"),
    ]
    info = sol.info
    if "outer_iterations" in info:
        rows.append(("iterations", f"{info['outer_iterations']} outer, {info.get('part1_steps', 0)} part-1, {info.get('part2_steps', 0)} part-2 (inner)"))
    if info.get("assoc"):
        rows.append(("association", info["assoc"]))
    if info.get("part2") == "split":
        rows.append(("part 2", f"split by server ({info['part2_workers']}), {info['part2_levels']} delay levels, "
                               f"{info['part2_server_solves']} server NLP solves"))
    if "moves_tried" in info:
        rows.append(("search", f"{info['moves_tried']} moves tried, {info['accepted']} improvements, {info['nlp_solves']} NLP solves"))
    if info.get("bound") is not None:
        how = info.get("bound_method", "")
        if how == "lagrangian" and "bound_seconds" in info:
            how += f", {info['bound_seconds']:.1f} s" + (", stopped at its time limit" if info.get("bound_status") == "time_limit" else "")
            if info.get("bound_branch"):
                br = info["bound_branch"]
                how += f", branch over {br['associations']} associations ({br['searches']} searched)"
        rows.append(("SCR bound", f"{info['bound']:.6g} (gap {info.get('gap', float('nan')):.3g}; {how})"))
    else:
        failed = any("bound" in w for w in info.get("warnings", []))
        rows.append(("SCR bound", "none (see the warning below)" if failed else "none (not computed: --no-bound)"))
    if info.get("solver_choice"):  # method global: which MINLP solver(s) ran
        ran = [f"{n} ({info.get(f'{n}_solves', 0)} solves, {info.get(f'{n}_seconds', 0.0):.1f} s)" for n in info["solver"].split("+") if n != "none"]
        rows.append(("global solver", f"{' + '.join(ran) or 'none'}; asked: {info['solver_choice']}"
                     + (f"; {info['refuted']} refuted bound(s) re-solved" if info.get("refuted") else "")))
    rows.append(("users per server", " ".join(str(k) for k in sol.loads)))
    rows.append(("wall time (s)", f"{sol.wall_s:.3f}"))
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{w}}  {v}", file=file)
    for msg in info.get("warnings", []):
        print(f"warning: {msg}", file=sys.stderr)


def _silence_stdout() -> None:
    """The reader of stdout went away (``llmmec ... | head``): send the rest to /dev/null."""
    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _print_before_writing(report) -> None:
    """Run ``report`` (prints) and flush, so the results are out before the output file is written;
    a closed pipe on stdout does not stop the write."""
    try:
        report()
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()


def cmd_solve(args) -> int:
    from .io import check_output_path, read_scenario, write_solution
    from .methods import solve

    if args.output:
        check_output_path(args.output, inputs=[args.file])  # before any work: never overwrite the input
    sc = read_scenario(args.file)
    opts = {k: getattr(args, k) for k in ("assoc", "seed", "max_iter", "time_limit", "tol", "start", "solver", "warm_start_method", "bound", "bound_time_limit",
                                          "part2", "workers", "scheduler")
            if getattr(args, k, None) is not None}
    if args.verbose:
        opts["verbose"] = True
    elif sys.stderr.isatty() and not args.quiet:
        opts["progress"] = True  # a live status line on a terminal (every method); silent when piped or with --quiet
    sol = solve(sc, method=args.method, **opts)
    interrupts.finishing()  # the result is complete: a signal from now on does not stop the summary and the write
    def report():
        print(f"{args.file}: {sc.n_users} users, {sc.n_servers} servers")
        _print_summary(sol)

    _print_before_writing(report)  # a late write failure does not lose the results
    if args.output:
        write_solution(sol, args.output, sc)
        print(f"wrote {args.output}")
    return EXIT_OK


SCR_MISMATCH_RTOL = 1e-6  # `llmmec evaluate`: warn when the stored SCR differs from the recomputed one by more


def _stored_number(v):
    """A stored summary value as a float, or None when it is not a number."""
    if isinstance(v, bool):
        return None
    try:
        return float(str(v).strip()) if isinstance(v, str) else float(v)
    except (TypeError, ValueError):
        return None


def cmd_evaluate(args) -> int:
    from .io import read_scenario, read_solution
    from .evaluator import evaluate

    sc = read_scenario(args.scenario)
    sol = read_solution(args.solution, sc)
    ev = evaluate(sc, sol)
    stored = sol.info.get("stored_summary", {})

    def shown(key, fmt=".6g"):
        if key not in stored:
            return "(not in the file)"
        x = _stored_number(stored[key])
        return format(x, fmt) if x is not None and fmt else str(stored[key])

    rows = [
        ("stored method", shown("method", None)),
        ("stored status", shown("status", None)),
        ("stored SCR", shown("scr")),
        ("stored wall time (s)", shown("wall_s", ".3f")),
        ("recomputed SCR", f"{ev.scr:.6g}"),
        ("recomputed service", f"{ev.service:.6g}"),
        ("recomputed delay (s)", f"{ev.delay:.6g}"),
        ("recomputed energy (J)", f"{ev.energy:.6g}"),
        ("feasible", f"{ev.feasible} (recomputed; max relative violation {ev.max_violation:.2g})"),
        ("users per server", " ".join(str(k) for k in sol.loads)),
    ]
    print(f"{args.solution} on {args.scenario}: {sc.n_users} users, {sc.n_servers} servers")
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{w}}  {v}")
    for p in ev.problems:
        print(f"violation: {p}")
    if "scr" in stored:
        x = _stored_number(stored["scr"])
        if x is None or math.isnan(x):
            print(f"warning: the stored SCR {stored['scr']!r} is not a number; the recomputed SCR is {ev.scr:.10g}",
                  file=sys.stderr)
        elif not abs(x - ev.scr) <= SCR_MISMATCH_RTOL * abs(ev.scr):
            print(f"warning: the stored SCR {x:.10g} differs from the recomputed SCR {ev.scr:.10g} "
                  f"(relative difference {abs(x - ev.scr) / abs(ev.scr) if ev.scr else math.inf:.3g} > {SCR_MISMATCH_RTOL:g})",
                  file=sys.stderr)
    return EXIT_OK if ev.feasible else EXIT_FAILED


def cmd_compare(args) -> int:
    from .compare import StatusLine, compare, format_table, parse_methods, report_sheets
    from .io import check_output_path, read_scenario, write_sheets

    methods = parse_methods(args.methods)  # bad names: exit 2 before any solving
    if args.output:
        check_output_path(args.output, inputs=[args.file])  # before any solving: never overwrite the input
    if args.html:
        check_output_path(args.html, inputs=[args.file, args.output], suffixes=(".html", ".htm"))
    sc = read_scenario(args.file)
    opts = {k: getattr(args, k) for k in ("assoc", "seed", "time_limit", "start", "solver", "bound", "bound_time_limit")
            if getattr(args, k, None) is not None}
    if args.verbose:
        say = lambda name: print(f"running {name} ...", file=sys.stderr)  # noqa: E731
    else:  # on a terminal: one status line naming the running method; silent when piped or with --quiet
        say = StatusLine(methods, sys.stderr) if sys.stderr.isatty() and not args.quiet else None
    try:
        df, sols = compare(sc, methods, progress=say, **opts)
    finally:
        if isinstance(say, StatusLine):
            say.close()
    interrupts.finishing()  # the table is complete: a signal from now on does not stop the report and the write
    def report():
        print(f"{args.file}: {sc.n_users} users, {sc.n_servers} servers; time limit {opts['time_limit']:g} s per method")
        print(format_table(df))

    _print_before_writing(report)  # a late write failure does not lose the table
    if args.output:
        write_sheets(args.output, report_sheets(df, sols, sc))
        print(f"wrote {args.output}")
    if args.html:
        from .report_html import write_html_report

        write_html_report(df, sols, sc, args.html, inputs=[args.file], source=args.file)
        print(f"wrote {args.html}")
    return EXIT_OK if sols else EXIT_FAILED


def cmd_plot(args) -> int:
    from .io import check_output_path, read_scenario, read_solution
    from .plot import check_panels, plot_solution, save_figure

    panels = check_panels(args.panel or ("map", "shares", "delays", "trace"))
    out = args.output or str(Path(args.solution).with_suffix(".png"))
    check_output_path(out, inputs=[args.solution, args.scenario], suffixes=(".png", ".svg", ".pdf"))  # before any work
    sc = read_scenario(args.scenario)
    sol = read_solution(args.solution, sc)
    fig = plot_solution(sol, sc, panels)
    save_figure(fig, out)
    print(f"wrote {out}: {', '.join(panels)} of {args.solution} ({sc.n_users} users, {sc.n_servers} servers)")
    return EXIT_OK


def cmd_export(args) -> int:
    from .export import FORMATS, LP_REFUSED, export_model, format_from_path
    from .io import check_output_path, read_scenario

    fmt = args.format or format_from_path(args.output)
    if fmt == "lp":
        raise InputError(LP_REFUSED)
    check_output_path(args.output, inputs=[args.file], suffixes=())  # before any work: never overwrite the input
    check_output_path(args.output, suffixes=(FORMATS[fmt][1],))
    sc = read_scenario(args.file)
    stats = export_model(sc, args.output, fmt, y=args.y, ratio=args.ratio, inputs=[args.file])
    print(stats.line())
    return EXIT_OK


# ------------------------------------------------------------------------------------------


def _option(p, name: str, *, default=None, note: str = "") -> None:
    """``--name`` for the SolveOptions field ``name``: its help, choices and type from the one declaration
    (methods/options.py), and its default (the declared one unless the command sets ``default``)."""
    from .methods import SolveOptions
    from .methods.options import default_text, show_value

    f = next(f for f in dataclasses.fields(SolveOptions) if f.name == name)
    md, kw = f.metadata, {}
    if md["choices"]:
        kw["choices"] = md["choices"]
    elif isinstance(f.default, bool):
        raise TypeError(f"option {name}: a switch needs its own flag wording")  # a bug of the parser, not bad input
    elif isinstance(f.default, (int, float)):
        if md["integer"]:
            kw["type"] = _positive_int if md["positive"] else _nonneg_int
        else:
            kw["type"] = _positive_float if md["positive"] else float
    shown = default_text(f) if default is None else show_value(default)
    p.add_argument(f"--{name.replace('_', '-')}", dest=name, default=default, **kw,
                   help=f"{md['doc']} (default {shown}{note})")


def _bound_arguments(p) -> None:
    p.add_argument("--no-bound", action="store_false", dest="bound",
                   help="skip the proven SCR upper bound (the summary's bound and gap are then empty)")
    _option(p, "bound_time_limit", note="; not counted in the method's wall time")


def build_parser() -> argparse.ArgumentParser:
    from .compare import DEFAULT_METHODS
    from .compare import TIME_LIMIT as COMPARE_TIME_LIMIT
    from .methods import METHOD_NAMES

    p = _Parser(prog="llmmec", description="LLM-based MEC: user association and resource allocation (DASHF) on Pyomo")
    p.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    d = sub.add_parser("doctor", help="check every solver (one line each)")
    d.set_defaults(func=cmd_doctor)

    g = sub.add_parser("generate", help="random scenario of the paper's Section V-A")
    g.add_argument("--users", type=_positive_int, required=True)
    g.add_argument("--servers", type=_positive_int, required=True)
    g.add_argument("--seed", type=_nonneg_int, default=0)
    g.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a generator setting, e.g. bandwidth_hz=20e6 (repeatable)")
    g.add_argument("-o", "--output", type=_scenario_out,
                   help="scenario to write: an .xlsx workbook, or a .zip CSV bundle (one CSV per sheet; "
                        "seconds at a million channel rows)")
    g.set_defaults(func=cmd_generate)

    v = sub.add_parser("validate", help="validate a scenario workbook")
    v.add_argument("file")
    v.set_defaults(func=cmd_validate)

    s = sub.add_parser("solve", help="solve a scenario and write the solution workbook")
    s.add_argument("file")
    s.add_argument("--method", default="dashf", choices=METHOD_NAMES)
    for name in ("assoc", "seed", "max_iter", "time_limit", "tol", "start", "solver", "warm_start_method", "part2", "workers", "scheduler"):
        _option(s, name)
    _bound_arguments(s)
    s.add_argument("-v", "--verbose", action="store_true", help="print progress")
    s.add_argument("-q", "--quiet", action="store_true", help="no live status line on a terminal")
    s.add_argument("-o", "--output", type=_xlsx_out, help="solution workbook to write")
    s.set_defaults(func=cmd_solve)

    e = sub.add_parser("evaluate", help="evaluate a solution workbook against a scenario (exit 1 if infeasible)")
    e.add_argument("scenario")
    e.add_argument("solution")
    e.set_defaults(func=cmd_evaluate)

    c = sub.add_parser("compare", help="solve with several methods and tabulate SCR, service, delay, energy, time and gap")
    c.add_argument("file")
    c.add_argument("--methods", help="comma-separated, from " + ",".join(METHOD_NAMES) + " (default " + ",".join(DEFAULT_METHODS) + ")")
    _option(c, "time_limit", default=COMPARE_TIME_LIMIT, note=", per method")
    for name in ("assoc", "seed", "start", "solver"):
        _option(c, name)
    _bound_arguments(c)
    cv = c.add_mutually_exclusive_group()
    cv.add_argument("-v", "--verbose", action="store_true", help="say which method is running, one line each")
    cv.add_argument("-q", "--quiet", action="store_true", help="no status line on a terminal")
    c.add_argument("-o", "--output", type=_xlsx_out, help="report workbook: sheet 'compare' and every solution's sheets")
    c.add_argument("--html", metavar="REPORT.html", help="also write a self-contained HTML report (table, SCR chart, "
                   "each method's map and trace, scenario, versions)")
    c.set_defaults(func=cmd_compare)

    x = sub.add_parser("export", help="write the MINLP (3) for other solvers: AMPL .nl, GAMS .gms or BARON .bar (Pyomo's writers)")
    x.add_argument("file")
    x.add_argument("--format", choices=("nl", "gms", "bar", "lp"), help="file format (default: from the suffix of -o); "
                   "lp is refused: (3) is nonlinear")
    x.add_argument("-o", "--output", required=True, help="file to write (.nl, .gms or .bar)")
    xy = x.add_mutually_exclusive_group()
    xy.add_argument("--y", type=float, help="Dinkelbach parameter y of (3) (default: the SCR of Algorithm 1's initial point)")
    xy.add_argument("--ratio", action="store_true", help="write the ratio form (2) (objective SCR) instead of the Dinkelbach form (3)")
    x.set_defaults(func=cmd_export)

    pl = sub.add_parser("plot", help="draw a solution workbook: network map, resource shares, delays, SCR trace")
    pl.add_argument("solution", help="solution workbook (llmmec solve -o)")
    pl.add_argument("--scenario", required=True, help="the scenario workbook the solution is for")
    pl.add_argument("--panel", action="append", choices=("map", "shares", "delays", "trace"),
                    help="draw only this panel (repeatable; default: all four)")
    pl.add_argument("-o", "--output", help="figure to write: .png, .svg or .pdf (default: SOLUTION with suffix .png)")
    pl.set_defaults(func=cmd_plot)

    from .experiments.cli import add_experiment_command

    add_experiment_command(sub)  # 'llmmec experiment'
    return p


def _interrupted(exc=None) -> int:
    """One line on stderr; the exit status 128 + the signal (130 SIGINT, 143 SIGTERM)."""
    interrupts.ending()
    signum = getattr(exc, "signum", None) or interrupts.requested() or signal.SIGINT
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    with contextlib.suppress(OSError):
        print(f"interrupted ({name})", file=sys.stderr)
    return 128 + int(signum)


def _run(argv, debug) -> int:
    def stopped_by_interrupt():  # an error that is the echo of an interrupt inside a solver
        return interrupts.requested() is not None

    try:
        parser = build_parser()
        parser.argv = list(argv)  # what this call parses (not sys.argv: main() may be called with its own list)
        args = parser.parse_args(argv)
        t0 = time.perf_counter()
        rc = args.func(args)
        interrupts.check()  # an interrupt swallowed where Python could not raise it (unless the command was finishing)
        interrupts.ending()
        logging.getLogger(__name__).debug("done in %.2f s", time.perf_counter() - t0)
        return rc
    except KeyboardInterrupt as exc:  # SIGINT or SIGTERM (interrupts.Interrupted), or a bare KeyboardInterrupt
        return _interrupted(exc)
    except InputError as exc:
        if stopped_by_interrupt():
            return _interrupted()
        interrupts.ending()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except (SolveFailed, SolverUnavailable) as exc:
        if stopped_by_interrupt():
            return _interrupted()
        interrupts.ending()
        print(f"solve failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except LLMMECError as exc:
        if stopped_by_interrupt():
            return _interrupted()
        interrupts.ending()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # e.g. `llmmec ... | head`: the reader went away; nothing left to say
        interrupts.ending()
        _silence_stdout()
        return EXIT_OK
    except SystemExit as exc:
        interrupts.ending()
        return int(exc.code) if isinstance(exc.code, int) else EXIT_INPUT
    except Exception as exc:  # noqa: BLE001 - a bug: say so in one line, traceback with --debug
        if stopped_by_interrupt():
            return _interrupted()
        interrupts.ending()
        if debug:
            raise
        first = str(exc).splitlines()[0] if str(exc) else ""
        print(f"internal error: {type(exc).__name__}: {first} (rerun with --debug for the traceback; please report it)", file=sys.stderr)
        return EXIT_FAILED


def main(argv=None) -> int:
    """The ``llmmec`` command; returns the exit status.

    SIGINT and SIGTERM stop a run at any point after start-up with one line on
    stderr and exit status 130 / 143, no traceback and no output file
    (:mod:`pyomo_llmmec.interrupts`); a run whose result is complete finishes
    writing it instead.
    """
    exiting = argv is None  # the llmmec process itself (console script, python -m): it exits right after
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    with interrupts.handling(exiting=exiting):
        try:
            logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
            logging.getLogger("pyomo").setLevel(logging.ERROR)
            return _run(argv, debug)
        except KeyboardInterrupt as exc:  # a signal while the outcome of an error was being reported
            return _interrupted(exc)


if __name__ == "__main__":  # `python -m pyomo_llmmec.cli`
    raise SystemExit(main())

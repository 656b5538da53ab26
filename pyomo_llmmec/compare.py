"""Run several methods on one scenario and tabulate them (``llmmec compare``, issue 4).

Every method runs with the same options (time limit, seed, assoc); a method
that fails (solver missing, licence too small, no feasible point, time out
without a point) becomes a row with its status and message, never a crash.
The table's ``gap`` is measured against the best *proven* upper bound on the
SCR: global's own bound (when it ran) or the Lagrangian bound of
:mod:`pyomo_llmmec.bounds`, computed once per scenario (``bound=True``, the
default; at most ``bound_time_limit`` seconds):  gap = (bound − SCR) / SCR.
Without a bound the column is empty (NaN), not guessed.
"""

from __future__ import annotations

import math
import time

import pandas as pd

from .errors import InputError, LLMMECError, SolverUnavailable
from .methods import METHOD_NAMES, scr_bound, solve

DEFAULT_METHODS = ("dashf", "lns", "rucaa", "gucaa", "aauco", "gucro", "global")
COLUMNS = ["method", "status", "scr", "service", "delay_s", "energy_j", "wall_s", "bound", "gap", "vs_best", "message"]


def parse_methods(text: str | None) -> list[str]:
    """``"dashf,global"`` → ``["dashf", "global"]`` (checked, duplicates dropped, order kept)."""
    if text is None:
        return list(DEFAULT_METHODS)
    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    if not names:
        raise InputError("--methods: give at least one method")
    bad = [n for n in names if n not in METHOD_NAMES]
    if bad:
        raise InputError(f"--methods: unknown method(s) {', '.join(bad)}; choose from {', '.join(METHOD_NAMES)}")
    return list(dict.fromkeys(names))


#: compare's time limit per method in seconds (``llmmec compare --time-limit``), unless one is given
TIME_LIMIT = 60.0


def compare(scenario, methods=DEFAULT_METHODS, *, progress=None, bound: bool = True, bound_time_limit: float | None = None,
            time_limit: float = TIME_LIMIT, **options):
    """Solve ``scenario`` with each method; returns ``(table, solutions)``.

    Every method gets ``time_limit`` seconds (default :data:`TIME_LIMIT`) and the other ``options``
    (:class:`~pyomo_llmmec.methods.options.SolveOptions`); the Lagrangian bound at most
    ``bound_time_limit`` seconds (default: SolveOptions' ``bound_time_limit``).
    ``table`` has one row per method (columns :data:`COLUMNS`); ``solutions``
    maps the methods that succeeded to their (evaluated, feasible) solutions.
    """
    if bound_time_limit is None:
        from .methods.options import SolveOptions

        bound_time_limit = SolveOptions.bound_time_limit
    options["time_limit"] = time_limit
    rows, sols = [], {}
    for name in methods:
        if progress:
            progress(name)
        t0 = time.perf_counter()
        try:
            sol = solve(scenario, method=name, **options)
        except InputError:
            raise  # bad options: the caller's mistake, not a method's failure
        except LLMMECError as exc:
            status = "unavailable" if isinstance(exc, SolverUnavailable) else (getattr(exc, "status", None) or "failed")
            rows.append({"method": name, "status": status, "wall_s": time.perf_counter() - t0,
                         "message": str(exc).splitlines()[0]})
            continue
        ev = sol.evaluation
        sols[name] = sol
        own = sol.info.get("bound") if name == "global" else None
        warn = "; ".join(sol.info.get("warnings", []))
        rows.append({"method": name, "status": sol.status, "scr": ev.scr, "service": ev.service, "delay_s": ev.delay,
                     "energy_j": ev.energy, "wall_s": sol.wall_s,
                     "bound": own if own is not None and math.isfinite(own) else math.nan, "message": warn})
    df = pd.DataFrame(rows, columns=COLUMNS)
    best = df["scr"].max() if df["scr"].notna().any() else math.nan
    bounds = df["bound"].dropna()
    best_bound, source = (float(bounds.min()), "global") if len(bounds) else (math.nan, None)
    lag_note = None
    if bound and sols:
        if progress:
            progress("bound")
        lag, res, warning = scr_bound(scenario, float(best), bound_time_limit)
        lag_note = warning or (f"Lagrangian bound {lag:.8g} ({res.status}, {res.seconds:.1f} s"
                               + (f"; branch over {res.branch['associations']} associations, {res.branch['searches']} searched"
                                  if res.branch else "") + ")")
        if lag is not None and not lag >= best_bound:
            best_bound, source = lag, "lagrangian"
    df.attrs.update(bound_method=source, bound_note=lag_note)
    if math.isfinite(best_bound):  # each solution's own summary carries the table's bound
        for sol in sols.values():
            sol.info.update(bound=best_bound, bound_method=source, gap=(best_bound - sol.evaluation.scr) / sol.evaluation.scr)
    df["bound"] = best_bound
    df["gap"] = (best_bound - df["scr"]) / df["scr"]
    df["vs_best"] = df["scr"] / best
    return df, sols


class StatusLine:
    """``llmmec compare`` on a terminal: one line, rewritten in place, naming the method that runs.

    ``status(name)`` is the ``progress`` callback of :func:`compare`; it shows
    ``compare: running lns (2/7), 12 s so far``.  :meth:`close` clears the line.
    """

    def __init__(self, methods, stream):
        self.n, self.i, self.stream, self.t0 = len(methods), 0, stream, time.perf_counter()

    def _write(self, text: str) -> None:
        try:
            self.stream.write("\r\033[K" + text)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: the status is informative only
            pass

    def __call__(self, name: str) -> None:
        if name == "bound":  # compare's last step, after the methods
            self._write(f"compare: computing the SCR bound, {time.perf_counter() - self.t0:.0f} s so far")
            return
        self.i += 1
        self._write(f"compare: running {name} ({self.i}/{self.n}), {time.perf_counter() - self.t0:.0f} s so far")

    def close(self) -> None:
        self._write("")


def format_table(df: pd.DataFrame) -> str:
    """The table as aligned text (what ``llmmec compare`` prints)."""

    def f(v, spec):
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)

    head = ["method", "status", "SCR", "service", "delay (s)", "energy (J)", "wall (s)", "gap to bound", "vs best"]
    body = [[r.method, str(r.status), f(r.scr, ".6g"), f(r.service, ".6g"), f(r.delay_s, ".6g"), f(r.energy_j, ".6g"),
             f(r.wall_s, ".2f"), f(r.gap, ".3g"), f(r.vs_best, ".4f")] for r in df.itertuples()]
    w = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w[i]) for i, h in enumerate(head))]
    lines += ["  ".join(c.ljust(w[i]) for i, c in enumerate(b)) for b in body]
    msgs = [f"  {r.method}: {r.message}" for r in df.itertuples() if isinstance(r.message, str) and r.message]
    if msgs:
        lines += ["notes:", *msgs]
    b = df["bound"].iloc[0] if len(df) else math.nan
    src = df.attrs.get("bound_method")
    note = df.attrs.get("bound_note")
    lines.append(f"best proven SCR bound: {b:.8g} ({src})" if math.isfinite(b) else "best proven SCR bound: none")
    if note:
        lines.append(f"  {note}")
    return "\n".join(lines)


def report_sheets(df: pd.DataFrame, sols: dict, scenario) -> dict[str, pd.DataFrame]:
    """The report workbook: sheet ``compare`` (the table) and each solution's ``users``/``links``/``history`` sheets."""
    from .io import solution_sheets

    sheets = {"compare": df}
    for name, sol in sols.items():
        for sheet, frame in solution_sheets(sol, scenario).items():
            sheets[f"{name}_{sheet}"[:31]] = frame
    return sheets

"""Excel workbooks: scenarios and solutions in the formats of MODEL.md §8.

Writes are atomic: the workbook is written to a temporary file beside the
target and renamed over it, so a failure never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .schema import SOLUTION_LINK_COLUMNS, SOLUTION_USER_COLUMNS
from .solution import Solution
from .validation import (
    REQUIRED_SCENARIO_SHEETS,
    check_columns_present,
    check_not_empty,
    check_sheets_present,
    drop_empty_rows,
    excel_row,
    id_key,
    is_empty,
    parse_table,
)

EXCEL_SUFFIXES = (".xlsx", ".xlsm")


# ----------------------------------------------------------------------------------
# atomic writing
# ----------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_path(path, suffix=None):
    """Yield a temporary path beside ``path``; on success rename it over ``path``."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise InputError(f"directory {parent} does not exist", path=path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_sheets(path, sheets: dict[str, pd.DataFrame]) -> Path:
    """Write DataFrames as sheets of one workbook, atomically."""
    path = Path(path)
    if path.suffix.lower() not in EXCEL_SUFFIXES:
        raise InputError("output must be an .xlsx file", path=path)
    with atomic_path(path) as tmp:
        xw = pd.ExcelWriter(tmp, engine="openpyxl")
        try:
            for name, df in sheets.items():
                df.to_excel(xw, sheet_name=name, index=False)
        except BaseException:
            with contextlib.suppress(Exception):  # release the half-built temporary file; the first error wins
                xw.close()
            raise
        xw.close()
    return path


def read_sheets(path) -> dict[str, pd.DataFrame]:
    """All sheets of a workbook as DataFrames of raw cell values (header on row 1)."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", path=path)
    if path.is_dir():
        raise InputError("is a directory, not an .xlsx file", path=path)
    if path.suffix.lower() not in EXCEL_SUFFIXES:
        raise InputError(f"not an .xlsx workbook (suffix '{path.suffix}')", path=path)
    try:
        sheets = pd.read_excel(path, sheet_name=None, header=0, dtype=object, engine="openpyxl")
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError, IndexError) as exc:
        raise InputError(f"cannot read as an .xlsx workbook ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})", path=path) from None
    except Exception as exc:  # openpyxl raises its own types for corrupt files
        raise InputError(f"cannot read as an .xlsx workbook ({type(exc).__name__})", path=path) from None
    out = {}
    for name, df in sheets.items():
        df.columns = [c if isinstance(c, str) else str(c) for c in df.columns]
        out[str(name)] = df
    return out


# ----------------------------------------------------------------------------------
# scenarios
# ----------------------------------------------------------------------------------


def read_scenario(path):
    """Read and validate a scenario workbook (MODEL.md §8).

    Raises :class:`InputError` with the file, sheet, Excel row and column of the
    first problem found.
    """
    from .scenario import Scenario

    path = Path(path)
    sheets = read_sheets(path)
    check_sheets_present(sheets, REQUIRED_SCENARIO_SHEETS, path)
    return Scenario.from_frames(
        sheets["system"], sheets["users"], sheets["servers"], sheets["channels"], name=path.stem, path=path
    )


def write_scenario(scenario, path) -> Path:
    """Write a scenario workbook (sheets system, users, servers, channels), atomically."""
    return write_sheets(
        path,
        {
            "system": scenario.system_frame(),
            "users": scenario.users_frame(),
            "servers": scenario.servers_frame(),
            "channels": scenario.channels_frame(),
        },
    )


# ----------------------------------------------------------------------------------
# solutions
# ----------------------------------------------------------------------------------


def _cell(v):
    """A summary value as an Excel cell: numbers stay numbers, None is empty, no NaN."""
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return v if math.isfinite(v) else str(v)  # 'inf' is written as text, never a silent NaN
    return str(v)


def solution_sheets(solution: Solution, scenario=None) -> dict[str, pd.DataFrame]:
    """The sheets of the solution workbook as DataFrames."""
    s = solution
    if scenario is not None and s.evaluation is None:
        from .solution import evaluate

        evaluate(scenario, s)
    summary = pd.DataFrame({"metric": list(s.summary().keys()), "value": [_cell(v) for v in s.summary().values()]})
    servers = [s.server_ids[j] for j in s.assignment]
    users = pd.DataFrame({"user": list(s.user_ids), "server": servers, "phi": s.phi, "p_w": s.p, "f_flops": s.f_user})
    links = pd.DataFrame(
        {"user": list(s.user_ids), "server": servers, "bandwidth_hz": s.b, "p_server_w": s.p_server, "f_server_flops": s.f_server}
    )
    if s.evaluation is not None:
        ev = s.evaluation.frame()
        links = pd.concat([links, ev.map(lambda v: v if np.isfinite(v) else "inf")], axis=1)
    sheets = {"summary": summary, "users": users, "links": links}
    if s.history is not None and len(s.history):
        sheets["history"] = s.history
    return sheets


def write_solution(solution: Solution, path, scenario=None) -> Path:
    """Write the solution workbook of MODEL.md §8 (summary, users, links, history), atomically."""
    return write_sheets(path, solution_sheets(solution, scenario))


def read_solution(path, scenario) -> Solution:
    """Read a solution workbook and match it to ``scenario`` (ids matched as in the scenario).

    Checks that every user appears once on ``users`` with a known server and that
    ``links`` has exactly one row per user, for that user's server.
    """
    path = Path(path)
    sheets = read_sheets(path)
    check_sheets_present(sheets, ("users", "links"), path)
    ukey = {id_key(u): i for i, u in enumerate(scenario.user_ids)}
    skey = {id_key(m): j for j, m in enumerate(scenario.server_ids)}
    n = scenario.n_users

    def rows_of(sheet, fields):
        df = drop_empty_rows(sheets[sheet])
        check_columns_present(df, sheet, [f.name for f in fields], path)
        check_not_empty(df, sheet, path)
        tab = parse_table(df, sheet, fields, path)
        return tab, [excel_row(i) for i in df.index]

    def locate(sheet, tab, rows):
        pos = []
        seen = {}
        for u, m, row in zip(tab["user"], tab["server"], rows):
            if id_key(u) not in ukey:
                raise InputError(f"unknown user {u!r}", path=path, sheet=sheet, row=row, column="user")
            if id_key(m) not in skey:
                raise InputError(f"unknown server {m!r}", path=path, sheet=sheet, row=row, column="server")
            i = ukey[id_key(u)]
            if i in seen:
                raise InputError(f"user {u!r} appears twice (first on row {seen[i]})", path=path, sheet=sheet, row=row, column="user")
            seen[i] = row
            pos.append((i, skey[id_key(m)], row))
        if len(seen) != n:
            missing = next(scenario.user_ids[i] for i in range(n) if i not in seen)
            raise InputError(f"no row for user {missing!r} (every user needs exactly one)", path=path, sheet=sheet, column="user")
        return pos

    ut, urows = rows_of("users", SOLUTION_USER_COLUMNS)
    lt, lrows = rows_of("links", SOLUTION_LINK_COLUMNS)
    upos = locate("users", ut, urows)
    lpos = locate("links", lt, lrows)
    assignment = np.zeros(n, dtype=int)
    arr = {k: np.zeros(n) for k in ("phi", "p", "f_user", "b", "p_server", "f_server")}
    for k, (i, j, _row) in enumerate(upos):
        assignment[i] = j
        arr["phi"][i], arr["p"][i], arr["f_user"][i] = ut["phi"][k], ut["p_w"][k], ut["f_flops"][k]
    for k, (i, j, row) in enumerate(lpos):
        if j != assignment[i]:
            raise InputError(
                f"link of user {scenario.user_ids[i]!r} names server {scenario.server_ids[j]!r} but sheet 'users' "
                f"assigns server {scenario.server_ids[assignment[i]]!r}",
                path=path, sheet="links", row=row, column="server",
            )
        arr["b"][i], arr["p_server"][i], arr["f_server"][i] = lt["bandwidth_hz"][k], lt["p_server_w"][k], lt["f_server_flops"][k]
    method, status, wall = "file", "unknown", 0.0
    if "summary" in sheets and {"metric", "value"} <= set(sheets["summary"].columns):
        summ = {str(r["metric"]).strip(): r["value"] for _, r in sheets["summary"].iterrows() if not is_empty(r["metric"])}
        method = str(summ.get("method", method)) if not is_empty(summ.get("method")) else method
        status = str(summ.get("status", status)) if not is_empty(summ.get("status")) else status
        try:
            wall = float(summ.get("wall_s", 0.0))
            wall = wall if math.isfinite(wall) else 0.0
        except (TypeError, ValueError):
            wall = 0.0
    history = sheets.get("history", pd.DataFrame())
    return Solution.from_arrays(scenario, assignment, method=method, status=status, wall_s=wall, history=history, **arr)

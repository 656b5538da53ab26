"""Excel workbooks: scenarios and solutions in the formats of MODEL.md §8.

A scenario can also be a **CSV bundle**: a ``.zip`` file holding one CSV file
per sheet (``system.csv``, ``users.csv``, ``servers.csv``, ``channels.csv``;
UTF-8, comma-separated, header on line 1, the same columns and rules as the
sheets).  At 10 000 users × 100 servers (a million channel rows) it is written
and read in seconds where openpyxl takes minutes (docs/WORKBOOKS.md).

Writes are atomic: the workbook is written to a temporary file beside the
target and renamed over it, so a failure never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import stat
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError, OutputError
from .schema import SOLUTION_LINK_COLUMNS, SOLUTION_USER_COLUMNS
from .solution import Solution
from .status import Status
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
CSV_BUNDLE_SUFFIX = ".zip"
#: what a scenario file may be: an Excel workbook or a CSV bundle
SCENARIO_SUFFIXES = EXCEL_SUFFIXES + (CSV_BUNDLE_SUFFIX,)


# ----------------------------------------------------------------------------------
# atomic writing
# ----------------------------------------------------------------------------------


def _same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` are one file: equal resolved paths, or the same inode (hard/symbolic links)."""
    with contextlib.suppress(OSError, RuntimeError):
        if a.resolve() == b.resolve():
            return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist: not the same file
        return False


def _writable_dir(d: Path, what: Path) -> None:
    """``d`` is an existing directory this process can create files in (else :class:`OutputError` about ``what``)."""
    if not d.exists():
        raise OutputError(f"cannot write: directory {d} does not exist", path=what)
    if not d.is_dir():
        raise OutputError(f"cannot write: {d} is not a directory", path=what)
    try:
        mode = d.stat().st_mode
    except OSError as exc:
        raise OutputError(f"cannot write: directory {d} is not accessible ({exc.strerror})", path=what) from None
    if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(d, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write: directory {d} is read-only", path=what)
    try:  # the ground truth (read-only file systems, ACLs): create and remove a probe file
        fd, probe = tempfile.mkstemp(prefix=".llmmec-probe-", dir=d)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"cannot write: directory {d} is not writable ({exc.strerror})", path=what) from None


def check_output_path(path, inputs=(), *, suffixes=EXCEL_SUFFIXES) -> Path:
    """Check, before any work, that the file ``path`` can be written; returns it as a Path.

    Raises :class:`~pyomo_llmmec.errors.OutputError` (one line naming the path
    and the reason) when the suffix is not one of ``suffixes``, the path is a
    directory, its directory is missing or not writable, it is a read-only
    file, or it is the same file as one of ``inputs`` (same resolved path or
    same inode, so ``./in.xlsx``, a symbolic link and a hard link all count).
    """
    if path is None or not str(path).strip():
        raise OutputError("the output path is empty")
    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        raise OutputError(f"output must be a {' or '.join(suffixes)} file", path=path)
    for inp in inputs:
        if inp is not None and _same_file(path, Path(inp)):
            raise OutputError(f"is the same file as the input {inp}; choose another output file", path=path)
    if path.is_dir():
        raise OutputError("is a directory; give a file name", path=path)
    parent = path.parent if str(path.parent) else Path(".")
    _writable_dir(parent, path)
    if path.exists() or path.is_symlink():
        try:
            mode = path.stat().st_mode
        except OSError:  # a dangling symbolic link: the write replaces the link itself
            return path
        if not stat.S_ISREG(mode):
            raise OutputError("exists and is not a regular file", path=path)
        if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(path, os.W_OK):
            raise OutputError("is a read-only file; it is not overwritten", path=path)
    return path


def check_output_dir(path, inputs=()) -> tuple[Path, list[Path]]:
    """Check, before any work, that directory ``path`` exists and is writable or can be created.

    Returns ``(path, missing)``: ``missing`` lists the directories that do not
    exist yet (deepest first), so a caller that fails before writing anything
    can remove exactly what it created (:func:`remove_empty_dirs`).
    """
    if path is None or not str(path).strip():
        raise OutputError("the output directory is empty")
    path = Path(path)
    for inp in inputs:
        if inp is not None and _same_file(path, Path(inp)):
            raise OutputError(f"is the input {inp}", path=path)
    missing = []
    d = path
    while not d.exists() and not d.is_symlink():
        missing.append(d)
        if d.parent == d:
            break
        d = d.parent
    if d.is_symlink() and not d.exists():
        raise OutputError(f"cannot write: {d} is a dangling symbolic link", path=path)
    if d.exists() and not d.is_dir():
        raise OutputError("is a file, not a directory" if d == path else f"cannot write: {d} is a file, not a directory", path=path)
    _writable_dir(d, path)
    return path, missing


def remove_empty_dirs(dirs) -> None:
    """Remove each of ``dirs`` (deepest first) that exists and is empty; others are left alone."""
    for d in dirs:
        with contextlib.suppress(OSError):
            os.rmdir(d)  # only ever removes an empty directory


def _new_file_mode(path: Path) -> int:
    """The permission bits for ``path``: those of the file it replaces, else 0666 minus the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(path, suffix=None):
    """Yield a temporary path beside ``path``; on success rename it over ``path``.

    An :class:`OSError` while creating or renaming the file becomes a one-line
    :class:`~pyomo_llmmec.errors.OutputError`; the temporary file is removed.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise OutputError(f"cannot write: directory {parent} does not exist", path=path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=parent)
    except OSError as exc:
        raise OutputError(f"cannot write ({exc.strerror or exc})", path=path) from None
    os.close(fd)
    try:
        yield Path(tmp)
        with contextlib.suppress(OSError):  # mkstemp makes 0600: give the file the mode a plain open() would
            os.chmod(tmp, _new_file_mode(path))
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputError(f"cannot write ({exc.strerror or type(exc).__name__})", path=path) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_sheets(path, sheets: dict[str, pd.DataFrame]) -> Path:
    """Write DataFrames as sheets of one workbook, atomically.

    The path is checked first (:func:`check_output_path`), so a directory, a
    read-only file or a missing directory fail before the workbook is built.
    """
    path = check_output_path(path)
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


OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")  # Compound File Binary: encrypted .xlsx, or a legacy .xls


def _check_input_file(path: Path, what: str) -> None:
    """Refuse, in one line, an input path that is missing, a directory, or not a regular file (a FIFO would block the
    read forever, a device gives endless or no bytes)."""
    if not path.exists():
        raise InputError("file not found", path=path)
    if path.is_dir():
        raise InputError(f"is a directory, not {what}", path=path)
    if not path.is_file():
        raise InputError(f"is not a regular file (a pipe, device or socket), not {what}", path=path)


def _sniff_workbook(path: Path) -> None:
    """Reject, with a one-line reason, a file that cannot be an .xlsx workbook (before openpyxl sees it)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror or type(exc).__name__})", path=path) from None
    if not head:
        raise InputError("is empty (0 bytes), not an .xlsx workbook", path=path)
    if head == OLE2_MAGIC:
        raise InputError(
            "is encrypted or password-protected (an OLE2 container, not a plain .xlsx); "
            "open it in Excel and save it without a password (a legacy .xls looks the same: save it as .xlsx)",
            path=path,
        )
    if not head.startswith(b"PK"):
        raise InputError("cannot read as an .xlsx workbook: not a ZIP archive (an .xlsx file is a ZIP of XML parts)", path=path)
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise InputError(f"cannot read as an .xlsx workbook: damaged ZIP archive ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})", path=path) from None
    if "xl/workbook.xml" not in names and not any(n.lower().endswith("workbook.xml") for n in names):
        raise InputError("cannot read as an .xlsx workbook: a ZIP archive without xl/workbook.xml (not an Excel workbook)", path=path)


def _cell_value(v):
    """A cell as pandas would give it: whole floats become int; a truly empty cell is NaN; nothing else is NA."""
    if v is None:
        return np.nan
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def read_sheets(path) -> dict[str, pd.DataFrame]:
    """All sheets of a workbook as DataFrames of raw cell values (header on row 1).

    Cells are read as stored: only a truly empty cell is missing (NaN); text
    such as ``NA``, ``None``, ``null`` or ``nan`` stays text (it is not
    pandas' "not available"), so an id ``NA`` is an id and ``NA`` in a numeric
    column is "not a number".  Whole numbers are ``int``.  Data row ``k`` of a
    frame (from 0) is Excel row ``k + 2``.  A header that appears twice on a
    sheet is kept apart (the second as ``name.1``) and recorded in
    ``frame.attrs["duplicate_columns"]`` for :func:`check_unique_headers`.

    Raises :class:`InputError` (one line naming the file) for a missing file,
    a directory, another suffix, an empty file, an encrypted or
    password-protected workbook (an OLE2 container), and any file that is not
    a readable .xlsx workbook.
    """
    import openpyxl

    path = Path(path)
    _check_input_file(path, "an .xlsx file")
    if path.suffix.lower() not in EXCEL_SUFFIXES:
        raise InputError(f"not an .xlsx workbook (suffix '{path.suffix}')", path=path)
    _sniff_workbook(path)
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types (KeyError, ValueError, its own) for damaged files
        first = str(exc).splitlines()[0].strip() if str(exc).strip() else ""
        raise InputError(
            f"cannot read as an .xlsx workbook: damaged or not an Excel workbook ({type(exc).__name__}{': ' + first if first else ''})",
            path=path,
        ) from None
    out = {}
    try:
        for ws in wb.worksheets:
            try:
                rows = [list(r) for r in ws.iter_rows(values_only=True)]
            except Exception as exc:  # noqa: BLE001 - a damaged sheet part
                first = str(exc).splitlines()[0].strip() if str(exc).strip() else ""
                raise InputError(f"cannot read the sheet: damaged ({type(exc).__name__}{': ' + first if first else ''})",
                                 path=path, sheet=ws.title) from None

            def used(r):
                return max((k + 1 for k, v in enumerate(r) if v is not None and not (isinstance(v, str) and v == "")), default=0)

            while rows and used(rows[-1]) == 0:  # trailing empty rows
                rows.pop()
            width = max((used(r) for r in rows), default=0)
            header = (rows[0] if rows else []) + [None] * width
            raw = []
            for k in range(width):
                h = _cell_value(header[k])
                raw.append(f"Unnamed: {k}" if isinstance(h, float) and math.isnan(h) else str(h))
            dups = _duplicate_headers(raw)
            names, seen = [], {}
            for k, name in enumerate(raw):  # a repeated name is kept apart as name.1, name.2, ...
                if name in seen:
                    seen[name].append(k)
                    name = f"{name}.{len(seen[name]) - 1}"
                    while name in seen:
                        name += "_"
                    seen[name] = [k]
                else:
                    seen[name] = [k]
                names.append(name)
            data = [[_cell_value(v) for v in (r + [None] * width)[:width]] for r in rows[1:]]
            df = pd.DataFrame(data, columns=names, dtype=object) if width else pd.DataFrame()
            df.attrs["duplicate_columns"] = dups
            out[str(ws.title)] = df
    finally:
        with contextlib.suppress(Exception):
            wb.close()
    return out


def check_unique_headers(sheets: dict, names, path) -> None:
    """A column name may appear only once in the header of each sheet in ``names`` (else :class:`InputError`)."""
    for sheet in names:
        df = sheets.get(sheet)
        dups = {} if df is None else df.attrs.get("duplicate_columns") or {}
        for name, letters in dups.items():
            raise InputError(
                f"column name appears {len(letters)} times in the header (columns {', '.join(letters)}); "
                "each column name must be unique",
                path=path, sheet=sheet, row=1, column=name,
            )


# ----------------------------------------------------------------------------------
# scenarios
# ----------------------------------------------------------------------------------


def write_csv_bundle(path, sheets: dict[str, pd.DataFrame]) -> Path:
    """Write DataFrames as a CSV bundle (a ``.zip`` of ``<sheet>.csv`` files), atomically.

    Floats are written in their shortest round-trip form, so reading the bundle
    back gives the same numbers bit for bit.
    """
    path = check_output_path(path, suffixes=(CSV_BUNDLE_SUFFIX,))
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for name, df in sheets.items():
                with zf.open(f"{name}.csv", "w") as fh:
                    fh.write(df.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    return path


def read_csv_bundle(path) -> dict[str, pd.DataFrame]:
    """The sheets of a CSV bundle as DataFrames of raw cell text (as :func:`read_sheets` gives a workbook's).

    Every cell is text; only an empty field is missing (NaN), so ``NA`` stays
    text as in a workbook.  Data row ``k`` (from 0) is line ``k + 2`` of its
    CSV file, the "row" of error messages.  Raises :class:`InputError` (one
    line naming the file and, where it applies, the sheet) for a missing file,
    a file that is not a ZIP archive, and a CSV member that cannot be read.
    """
    import csv

    path = Path(path)
    _check_input_file(path, "a .zip CSV bundle")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise InputError(f"cannot read as a CSV bundle: not a readable ZIP archive ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})",
                         path=path) from None
    out = {}
    with zf:
        for info in zf.infolist():
            name = info.filename.rsplit("/", 1)[-1]
            if info.is_dir() or not name.lower().endswith(".csv") or name.startswith("."):
                continue
            sheet = name[:-4]
            if sheet in out:
                raise InputError(f"holds {name} twice; one CSV file per sheet", path=path, sheet=sheet)
            try:
                raw = zf.read(info).decode("utf-8-sig")
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
                raise InputError(f"cannot read {info.filename} ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})",
                                 path=path, sheet=sheet) from None
            except UnicodeDecodeError as exc:
                raise InputError(f"{info.filename} is not UTF-8 text (byte {exc.start})", path=path, sheet=sheet) from None
            if not raw.strip():
                out[sheet] = pd.DataFrame()
                out[sheet].attrs["duplicate_columns"] = {}
                continue
            # pandas parses; the csv module checks the fields per line first: with a row wider than its header pandas
            # would take the first column as the rows' index and shift every value one column left
            try:
                reader = csv.reader(io.StringIO(raw, newline=""))
                records = list(reader)
            except csv.Error as exc:
                raise InputError(f"cannot read {info.filename} as CSV ({exc})", path=path, sheet=sheet) from None
            header = records[0]
            width = len(header)
            lens = np.fromiter(map(len, records), dtype=np.int64, count=len(records))
            for k in np.flatnonzero(lens > width):
                if any(f.strip() for f in records[k][width:]):
                    line = _csv_line_of(raw, int(k))
                    raise InputError(f"line {line} of {info.filename} has {len(records[k])} fields but the header has {width}",
                                     path=path, sheet=sheet, row=line)
            try:  # index_col=False: extra fields that are blank (a trailing comma) are dropped, not made an index
                df = pd.read_csv(io.StringIO(raw), dtype=str, keep_default_na=False, na_values=[""], header=0,
                                 skip_blank_lines=False, index_col=False)
            except (pd.errors.ParserError, ValueError) as exc:
                raise InputError(f"cannot read {info.filename} as CSV ({str(exc).splitlines()[0]})", path=path, sheet=sheet) from None
            df = df.astype(object)
            df.attrs["duplicate_columns"] = _duplicate_headers(header)  # for check_unique_headers, as in a workbook
            out[sheet] = df
    return out


def _csv_line_of(raw: str, k: int) -> int:
    """The line number (from 1) on which CSV record ``k`` (from 0) of ``raw`` ends (quoted fields may span lines)."""
    import csv

    reader = csv.reader(io.StringIO(raw, newline=""))
    for i, _ in enumerate(reader):
        if i == k:
            return reader.line_num
    return k + 1


def _duplicate_headers(names) -> dict[str, list[str]]:
    """{name: column letters} for each header name that appears more than once (the first column included)."""
    from openpyxl.utils import get_column_letter

    cols: dict = {}
    for k, h in enumerate(names):
        cols.setdefault(h, []).append(get_column_letter(k + 1))
    return {h: letters for h, letters in cols.items() if len(letters) > 1}


def read_scenario(path):
    """Read and validate a scenario: an Excel workbook, or a CSV bundle (``.zip``) with the same sheets (MODEL.md §8).

    Raises :class:`InputError` with the file, sheet, Excel row and column of the
    first problem found.

    Ids (columns ``user`` and ``server`` on every sheet): any non-empty cell is
    a valid id, text or a whole number. Text is trimmed of surrounding spaces
    and then compared exactly (case matters); ``NA``, ``None``, ``null``,
    ``nan``, ``²`` or ``①`` are ordinary text ids. A cell holding a whole
    number, or text spelling one in ASCII digits (optional sign, optional
    ``.0``, no leading zeros), is that integer: ``1``, ``1.0`` and ``'1'`` are
    the same id on every sheet, while ``'01'`` is the text id ``01``. Only a
    truly empty cell (or one holding nothing but spaces) is an empty id, which
    is an error. Likewise, only empty cells count as missing values: text
    such as ``NA`` in a numeric column is reported as not a number.
    """
    from .scenario import Scenario

    path = Path(path)
    sheets = read_csv_bundle(path) if path.suffix.lower() == CSV_BUNDLE_SUFFIX else read_sheets(path)
    check_sheets_present(sheets, REQUIRED_SCENARIO_SHEETS, path)
    check_unique_headers(sheets, REQUIRED_SCENARIO_SHEETS, path)
    with _formula_hint(path):
        return Scenario.from_frames(
            sheets["system"], sheets["users"], sheets["servers"], sheets["channels"], name=path.stem, path=path
        )


@contextlib.contextmanager
def _formula_hint(path: Path):
    """An "empty" cell of a workbook that holds a formula with no saved value (files written by a program, never
    opened and saved in a spreadsheet) gets a message that says so: a data-only read sees such a cell as empty."""
    try:
        yield
    except InputError as exc:
        formula = None
        if exc.detail.startswith("value is empty") and exc.row and exc.sheet and path.suffix.lower() in EXCEL_SUFFIXES:
            formula = _formula_at(path, exc.sheet, exc.row, exc.column)
        if formula is None:
            raise
        raise InputError(f"holds the formula {formula!r} with no saved value (a data-only read sees it as empty); open and "
                         "save the workbook in a spreadsheet program so that its value is stored, or enter the number",
                         path=path, sheet=exc.sheet, row=exc.row, column=exc.column) from None


def _formula_at(path: Path, sheet: str, row: int, column) -> str | None:
    """The formula text of the cell under header ``column`` on Excel row ``row`` of ``sheet``, or None."""
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
        try:
            rows = wb[sheet].iter_rows(min_row=1, max_row=row, values_only=True)
            header = next(rows)
            k = [str(h).strip() if h is not None else None for h in header].index(str(column))
            for r, values in enumerate(rows, start=2):
                if r == row:
                    v = values[k] if k < len(values) else None
                    return v if isinstance(v, str) and v.startswith("=") else None
        finally:
            wb.close()
    except (KeyError, ValueError, OSError, StopIteration, zipfile.BadZipFile):  # the original error stands
        return None
    return None


def write_scenario(scenario, path) -> Path:
    """Write a scenario (sheets system, users, servers, channels), atomically: a workbook, or a CSV bundle for ``.zip``."""
    path = check_output_path(path, suffixes=SCENARIO_SUFFIXES)
    sheets = {
        "system": scenario.system_frame(),
        "users": scenario.users_frame(),
        "servers": scenario.servers_frame(),
        "channels": scenario.channels_frame(),
    }
    return write_csv_bundle(path, sheets) if path.suffix.lower() == CSV_BUNDLE_SUFFIX else write_sheets(path, sheets)


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
        from .evaluator import evaluate

        evaluate(scenario, s)
    summary = pd.DataFrame({"metric": list(s.summary().keys()), "value": [_cell(v) for v in s.summary().values()]})
    users = s.users_frame()
    links = s.links_frame(evaluation=False)
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
    with _formula_hint(path):
        return _read_solution(path, read_sheets(path), scenario)


def _read_solution(path: Path, sheets: dict, scenario) -> Solution:
    check_sheets_present(sheets, ("users", "links"), path)
    check_unique_headers(sheets, ("users", "links", "summary"), path)
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
    summ = {}
    if "summary" in sheets and {"metric", "value"} <= set(sheets["summary"].columns):
        summ = {str(r["metric"]).strip(): r["value"] for _, r in sheets["summary"].iterrows() if not is_empty(r["metric"])}
        method = str(summ.get("method", method)) if not is_empty(summ.get("method")) else method
        status = str(summ.get("status", status)) if not is_empty(summ.get("status")) else status
        try:
            status = Status.parse(status)  # one vocabulary (pyomo_llmmec.status); older spellings mapped
        except ValueError as exc:
            raise InputError(f"row 'status': {exc}", path=path, sheet="summary", column="value") from None
        try:
            wall = float(summ.get("wall_s", 0.0))
            wall = wall if math.isfinite(wall) else 0.0
        except (TypeError, ValueError):
            wall = 0.0
    history = sheets.get("history", pd.DataFrame())
    stored = {k: v for k, v in summ.items() if not is_empty(v)}  # the summary as stored in the file, not recomputed
    return Solution.from_arrays(scenario, assignment, method=method, status=status, wall_s=wall, history=history,
                                info={"stored_summary": stored}, **arr)

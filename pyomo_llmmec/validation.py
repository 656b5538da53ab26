"""Validation: small ``check_*`` rules, run before any model is built.

Each rule raises :class:`~pyomo_llmmec.errors.InputError` naming the file,
sheet, Excel row (header = row 1) and column it rejects.  The rules work on the
raw sheets of a workbook (``scenario_fields_from_frames``) and on a Scenario
built in code (``check_scenario_arrays``).

Numbers are checked against the schema twice (``pyomo_llmmec.schema.Field``):
what the quantity means (``check_bounds``: a budget is > 0) and the range the
numerics carry (``check_supported_range``); both reject.  Values in the
supported range but physically implausible are accepted with one
:class:`PlausibilityWarning` per column (``check_plausible``).
"""

from __future__ import annotations

import math
import numbers
import re
import warnings

import numpy as np
import pandas as pd

from .errors import InputError
from .schema import CHANNEL_COLUMNS, SCENARIO_SHEETS, SERVER_COLUMNS, SYSTEM_PARAMETERS, USER_COLUMNS, Field

REQUIRED_SCENARIO_SHEETS = ("system", "users", "servers", "channels")


class PlausibilityWarning(UserWarning):
    """A value inside the supported range but far outside physical plausibility (likely a unit slip)."""


def excel_row(index) -> int:
    """Excel row number of a data row read with the header on row 1."""
    return int(index) + 2


def is_empty(v) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    if isinstance(v, str) and not v.strip():
        return True
    try:
        return bool(pd.isna(v)) and not isinstance(v, str)
    except (TypeError, ValueError):
        return False


def parse_number(v, *, path, sheet, row, column) -> float:
    """A finite float from a cell, or an InputError naming the cell."""
    if is_empty(v):
        raise InputError("value is empty; a number is required", path=path, sheet=sheet, row=row, column=column)
    if isinstance(v, bool) or isinstance(v, np.bool_):
        raise InputError(f"value {v!r} is not a number", path=path, sheet=sheet, row=row, column=column)
    if isinstance(v, numbers.Real):
        x = float(v)
    elif isinstance(v, str):
        try:
            x = float(v.strip())
        except ValueError:
            raise InputError(f"value {v!r} is not a number", path=path, sheet=sheet, row=row, column=column) from None
    else:
        raise InputError(f"value {v!r} is not a number", path=path, sheet=sheet, row=row, column=column)
    if not math.isfinite(x):
        raise InputError(f"value {v!r} is not a finite number", path=path, sheet=sheet, row=row, column=column)
    return x


# Text that spells a whole number in ASCII digits ('1', ' -2 ', '3.0'; not '01', '²' or '①'): the same id as the number.
_INTEGER_TEXT = re.compile(r"[+-]?(?:0|[1-9][0-9]*)(?:\.0*)?")


def _integer_text(s: str):
    """The int that text ``s`` (already trimmed) spells, or None if it is not such text."""
    return int(s.split(".")[0]) if _INTEGER_TEXT.fullmatch(s) else None


def parse_id(v, *, path, sheet, row, column):
    """An id from a cell: ``int`` for whole numbers (and text spelling one in ASCII digits), else trimmed ``str``.

    Any non-empty text is a valid id (``NA``, ``None``, ``²`` included); only an
    empty cell (or one of spaces only) is "empty".
    """
    if is_empty(v):
        raise InputError("id is empty", path=path, sheet=sheet, row=row, column=column)
    if isinstance(v, bool) or isinstance(v, np.bool_):
        raise InputError(f"id {v!r} is not valid", path=path, sheet=sheet, row=row, column=column)
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        x = float(v)
        if not math.isfinite(x):
            raise InputError(f"id {v!r} is not valid", path=path, sheet=sheet, row=row, column=column)
        return int(x) if x.is_integer() else str(v)
    s = str(v).strip()
    k = _integer_text(s)
    return s if k is None else k


def id_key(v) -> str:
    """The key used to match ids across sheets and workbooks (3, 3.0, '3' and '3.0' match; '03' is text)."""
    if isinstance(v, numbers.Real) and not isinstance(v, bool) and float(v).is_integer():
        return str(int(v))
    s = str(v).strip()
    k = _integer_text(s)
    return s if k is None else str(k)


def _unit(f: Field) -> str:
    return "" if f.unit in ("-", "") else f" {f.unit}"


def check_bounds(x: float, f: Field, *, path, sheet, row, column):
    """What the quantity means (``Field.lower``/``upper``), then the supported range."""
    supported = f" (supported range: {f.range_text()}{_unit(f)})" if f.supported else ""
    if f.lower is not None and (x <= f.lower if f.lower_open else x < f.lower):
        raise InputError(f"value {x:g} must be {f.bound_text()}{supported}", path=path, sheet=sheet, row=row, column=column)
    if f.upper is not None and x > f.upper:
        raise InputError(f"value {x:g} must be {f.bound_text()}{supported}", path=path, sheet=sheet, row=row, column=column)
    check_supported_range(x, f, path=path, sheet=sheet, row=row, column=column)


def check_supported_range(x: float, f: Field, *, path, sheet, row, column):
    """The closed range the numerics carry (``Field.supported``; docs/WORKBOOKS.md)."""
    if not f.in_range(x):
        raise InputError(f"{f.name} = {x:g} is outside the supported range {f.range_text()}{_unit(f)}",
                         path=path, sheet=sheet, row=row, column=column)


def check_plausible(values, rows, f: Field, *, path, sheet, column):
    """One :class:`PlausibilityWarning` for the values of a column outside ``Field.plausible``."""
    if f.plausible is None:
        return
    outside = ~f.is_plausible(np.asarray(values, dtype=float))
    if not outside.any():
        return
    bad = [(values[k], rows[k]) for k in np.flatnonzero(outside)]
    x, row = bad[0]
    if len(bad) == 1:
        what, loc_row = f"{f.name} = {x:g} is", row
    else:
        first = f"first {x:g}" + (f" on row {row}" if row is not None else "")
        what, loc_row = f"{len(bad)} values of {f.name} ({first}) are", None
    msg = (f"{what} outside the physically plausible range {f.plausible_text()}{_unit(f)}; "
           f"accepted (supported range {f.range_text()}{_unit(f)}), but check the unit")
    text = str(InputError(msg, path=path, sheet=sheet, row=loc_row, column=column))
    warnings.warn_explicit(text, PlausibilityWarning, filename=str(path) if path else "<scenario>",
                           lineno=int(row) if row is not None else 0, module=__name__)


# ---------------------------------------------------------------------------------
# Rules on raw sheets
# ---------------------------------------------------------------------------------


def check_sheets_present(sheets: dict, required, path):
    for name in required:
        if name not in sheets:
            close = [s for s in sheets if str(s).strip().lower() == name]
            hint = f" (found '{close[0]}': sheet names are lower-case and exact)" if close else ""
            raise InputError(f"missing sheet '{name}'{hint}", path=path, sheet=name)


def check_columns_present(df: pd.DataFrame, sheet: str, names, path):
    for name in names:
        if name not in df.columns:
            close = [c for c in df.columns if str(c).strip().lower() == name]
            hint = f" (found '{close[0]}': column names are lower-case and exact)" if close else ""
            raise InputError(f"missing column '{name}'{hint}", path=path, sheet=sheet, row=1, column=name)


def _empty_mask(col: pd.Series) -> np.ndarray:
    """Which cells of a column are empty (:func:`is_empty`), vectorised over the common cell types."""
    vals = col.to_numpy()
    if vals.dtype != object:
        return pd.isna(vals) if vals.dtype.kind in "fmM" else np.zeros(len(vals), dtype=bool)
    types = set(map(type, vals))
    if not types <= {int, float, str, type(None)}:
        return np.fromiter((is_empty(v) for v in vals), dtype=bool, count=len(vals))
    out = np.asarray(pd.isna(vals), dtype=bool)  # None and NaN
    if str in types:
        is_str = np.fromiter((type(v) is str for v in vals), dtype=bool, count=len(vals))
        out[is_str] = pd.Series(vals[is_str], dtype=object).str.strip().eq("").to_numpy(dtype=bool)
    return out


def drop_empty_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The sheet without its rows of empty cells only (:func:`is_empty`)."""
    if df.empty:
        return df
    mask = np.ones(len(df), dtype=bool)
    for name in df.columns:
        mask &= _empty_mask(df[name])
        if not mask.any():
            return df
    return df.loc[~mask]


def check_not_empty(df: pd.DataFrame, sheet: str, path):
    if df.empty:
        raise InputError("sheet has no data rows", path=path, sheet=sheet, row=2)


def parse_table(df: pd.DataFrame, sheet: str, fields, path) -> dict:
    """Parse the schema's columns of a sheet: {column: list of values}. Rows keep Excel numbering."""
    check_columns_present(df, sheet, [f.name for f in fields if f.required], path)
    out = {}
    for f in fields:
        if f.name not in df.columns:
            continue
        col = df[f.name]
        if not f.required and all(is_empty(v) for v in col):
            continue  # optional column left blank
        fast = _fast_ids(col) if f.kind == "id" else _fast_numbers(col, f)
        if fast is not None:  # every cell valid: the same values as the cell-by-cell loop, vectorised
            out[f.name] = fast
            continue
        vals = []  # cell by cell: the first bad cell's error names its row
        for idx, v in col.items():
            row = excel_row(idx)
            if f.kind == "id":
                vals.append(parse_id(v, path=path, sheet=sheet, row=row, column=f.name))
            else:
                x = parse_number(v, path=path, sheet=sheet, row=row, column=f.name)
                check_bounds(x, f, path=path, sheet=sheet, row=row, column=f.name)
                vals.append(x)
        out[f.name] = vals
    return out


_FAST_NUMBER_TYPES = {int, float, str, np.float64, np.int64}


def _fast_numbers(col: pd.Series, f: Field):
    """The column as a list of floats when every cell is a finite number in ``f``'s bounds, else None.

    The vectorised twin of :func:`parse_number` + :func:`check_bounds` for large sheets (a million
    channel rows): cells are converted by ``float()`` as there (text with spaces included), and
    any cell that would raise — empty, a bool, text that is not a number, non-finite, out of
    bounds — makes it return None, so the cell-by-cell loop reports the first such cell.
    """
    vals = col.to_numpy()
    if vals.dtype == object:
        if not set(map(type, vals)) <= _FAST_NUMBER_TYPES:
            return None
        try:
            x = vals.astype(float)
        except (TypeError, ValueError):
            return None
    elif vals.dtype.kind in "iuf":
        x = vals.astype(float)
    else:
        return None
    if not np.isfinite(x).all():
        return None
    bad = np.zeros(len(x), dtype=bool)
    if f.lower is not None:
        bad |= (x <= f.lower) if f.lower_open else (x < f.lower)
    if f.upper is not None:
        bad |= x > f.upper
    bad |= ~f.in_range(x)
    return None if bad.any() else x.tolist()


def _fast_ids(col: pd.Series):
    """The column's ids as :func:`parse_id` gives them, each distinct cell parsed once; None if any cell is invalid."""
    cache: dict = {}
    out = []
    for v in col.to_numpy():
        key = (type(v), v)  # 1, 1.0 and True are equal dict keys: the type keeps them apart
        try:
            out.append(cache[key])
            continue
        except KeyError:
            pass
        except TypeError:  # an unhashable cell
            return None
        try:
            k = parse_id(v, path=None, sheet=None, row=None, column=None)
        except InputError:
            return None
        cache[key] = k
        out.append(k)
    return out


def check_unique_ids(ids, rows, sheet, column, path):
    seen = {}
    for v, row in zip(ids, rows):
        k = id_key(v)
        if k in seen:
            raise InputError(f"duplicate id {v!r} (first on row {seen[k]})", path=path, sheet=sheet, row=row, column=column)
        seen[k] = row


def parse_system(df: pd.DataFrame, path, rows_out: dict | None = None) -> dict:
    """The system parameters {name: value}; ``rows_out`` (if given) receives {name: Excel row}."""
    sheet = "system"
    check_columns_present(df, sheet, ["parameter", "value"], path)
    values, rows = {}, {}
    for idx, r in df.iterrows():
        row = excel_row(idx)
        name = r["parameter"]
        if is_empty(name):
            raise InputError("parameter name is empty", path=path, sheet=sheet, row=row, column="parameter")
        name = str(name).strip()
        if name in rows:
            raise InputError(f"parameter '{name}' appears twice (first on row {rows[name]})", path=path, sheet=sheet, row=row, column="parameter")
        rows[name] = row
        values[name] = r["value"]
    out = {}
    for f in SYSTEM_PARAMETERS:
        if f.name not in values:
            raise InputError(f"missing parameter row '{f.name}'", path=path, sheet=sheet, column="parameter")
        x = parse_number(values[f.name], path=path, sheet=sheet, row=rows[f.name], column="value")
        check_bounds(x, f, path=path, sheet=sheet, row=rows[f.name], column="value")
        out[f.name] = x
    if out["weight_time"] == 0 and out["weight_energy"] == 0:
        raise InputError("weight_time and weight_energy are both 0: the cost in (2) would be zero", path=path, sheet=sheet, column="value")
    if rows_out is not None:
        rows_out.update(rows)
    return out


def check_channels(ch: dict, ch_rows, user_keys: dict, server_keys: dict, path):
    """Every channel row names a known user and server; exactly one row per pair."""
    sheet = "channels"
    n, m = len(user_keys), len(server_keys)
    fast = _fast_channels(ch, user_keys, server_keys)
    if fast is not None:
        return fast
    gain = np.full((n, m), np.nan)  # cell by cell: the first bad row's error names it
    first_row = {}
    for u, s, g, row in zip(ch["user"], ch["server"], ch["gain"], ch_rows):
        ku, ks = id_key(u), id_key(s)
        if ku not in user_keys:
            raise InputError(f"unknown user {u!r} (not on sheet 'users')", path=path, sheet=sheet, row=row, column="user")
        if ks not in server_keys:
            raise InputError(f"unknown server {s!r} (not on sheet 'servers')", path=path, sheet=sheet, row=row, column="server")
        i, j = user_keys[ku], server_keys[ks]
        if (i, j) in first_row:
            raise InputError(f"duplicate row for user {u!r}, server {s!r} (first on row {first_row[(i, j)]})", path=path, sheet=sheet, row=row, column="user")
        first_row[(i, j)] = row
        gain[i, j] = g
    if np.isnan(gain).any():
        i, j = map(int, np.argwhere(np.isnan(gain))[0])
        inv_u = {v: k for k, v in user_keys.items()}
        inv_s = {v: k for k, v in server_keys.items()}
        missing = int(np.isnan(gain).sum())
        raise InputError(
            f"no row for user {inv_u[i]}, server {inv_s[j]} ({missing} pair(s) missing; exactly one row per user-server pair is required)",
            path=path, sheet=sheet, column="gain",
        )
    return gain


def _fast_channels(ch: dict, user_keys: dict, server_keys: dict):
    """The gain matrix when every row names a known pair and each pair has exactly one row, else None."""
    n, m = len(user_keys), len(server_keys)
    if len(ch["gain"]) != n * m:
        return None
    ukey, skey = {}, {}
    try:
        i = np.fromiter((ukey[u] if u in ukey else ukey.setdefault(u, user_keys.get(id_key(u), -1)) for u in ch["user"]),
                        dtype=np.int64, count=n * m)
        j = np.fromiter((skey[s] if s in skey else skey.setdefault(s, server_keys.get(id_key(s), -1)) for s in ch["server"]),
                        dtype=np.int64, count=n * m)
    except TypeError:
        return None
    if (i < 0).any() or (j < 0).any():
        return None
    flat = i * m + j
    if np.bincount(flat, minlength=n * m).max() != 1:  # n·m rows, none twice: every pair once
        return None
    gain = np.empty(n * m)
    gain[flat] = np.asarray(ch["gain"], dtype=float)
    return gain.reshape(n, m)


def _positions(tab: dict):
    if "x_m" in tab and "y_m" in tab:
        return np.column_stack([tab["x_m"], tab["y_m"]])
    return None


def scenario_fields_from_frames(system, users, servers, channels, *, name="scenario", path=None) -> dict:
    """Run every rule on the four raw sheets; return the keyword arguments of ``Scenario``.

    ``fields["system"]`` is the dict of :class:`~pyomo_llmmec.scenario.SystemParams` values;
    :meth:`Scenario.from_frames <pyomo_llmmec.scenario.Scenario.from_frames>` builds both
    (this module does not import :mod:`pyomo_llmmec.scenario`, which imports it)."""
    sys_rows: dict = {}
    sys_vals = parse_system(drop_empty_rows(system), path, sys_rows)
    frames = {"users": users, "servers": servers, "channels": channels}
    tabs, rows = {}, {}
    for sheet, fields in SCENARIO_SHEETS.items():
        df = drop_empty_rows(frames[sheet])
        check_columns_present(df, sheet, [f.name for f in fields if f.required], path)
        check_not_empty(df, sheet, path)
        tabs[sheet] = parse_table(df, sheet, fields, path)
        rows[sheet] = [excel_row(i) for i in df.index]
    for sheet, col in (("users", "user"), ("servers", "server")):
        check_unique_ids(tabs[sheet][col], rows[sheet], sheet, col, path)
    u, s = tabs["users"], tabs["servers"]
    user_keys = {id_key(v): i for i, v in enumerate(u["user"])}
    server_keys = {id_key(v): j for j, v in enumerate(s["server"])}
    gain = check_channels(tabs["channels"], rows["channels"], user_keys, server_keys, path)
    # every rule passed: now the warnings (each column once)
    for f in SYSTEM_PARAMETERS:
        check_plausible([sys_vals[f.name]], [sys_rows[f.name]], f, path=path, sheet="system", column="value")
    for sheet, fields in SCENARIO_SHEETS.items():
        for f in fields:
            if f.kind != "id" and f.name in tabs[sheet]:
                check_plausible(tabs[sheet][f.name], rows[sheet], f, path=path, sheet=sheet, column=f.name)
    return dict(
        user_ids=tuple(u["user"]),
        server_ids=tuple(s["server"]),
        adapter_params=u["adapter_params"],
        flops_per_param=u["flops_per_param"],
        user_epochs=u["epochs"],
        user_kappa=u["kappa"],
        user_p_max_w=u["p_max_w"],
        user_f_max_flops=u["f_max_flops"],
        bandwidth_hz=s["bandwidth_hz"],
        server_p_max_w=s["p_max_w"],
        server_f_max_flops=s["f_max_flops"],
        server_kappa=s["kappa"],
        server_epochs=s["epochs"],
        gain=gain,
        system=dict(sys_vals),
        user_xy=_positions(u),
        server_xy=_positions(s),
        name=name,
    )


# ---------------------------------------------------------------------------------
# Rules on a Scenario built in code
# ---------------------------------------------------------------------------------

_USER_ARRAYS = dict(zip([f.name for f in USER_COLUMNS[1:7]], ["adapter_params", "flops_per_param", "user_epochs", "user_kappa", "user_p_max_w", "user_f_max_flops"]))
_SERVER_ARRAYS = dict(zip([f.name for f in SERVER_COLUMNS[1:6]], ["bandwidth_hz", "server_p_max_w", "server_f_max_flops", "server_kappa", "server_epochs"]))


def check_scenario_arrays(sc) -> None:
    """The schema's bounds, supported ranges and finiteness on a Scenario's arrays; unique ids;
    then one :class:`PlausibilityWarning` per implausible column."""
    plaus = []
    for sheet, fields, mapping, ids, idcol in (
        ("users", USER_COLUMNS, _USER_ARRAYS, sc.user_ids, "user"),
        ("servers", SERVER_COLUMNS, _SERVER_ARRAYS, sc.server_ids, "server"),
    ):
        keys = [id_key(v) for v in ids]
        if len(set(keys)) != len(keys):
            dup = next(k for k in keys if keys.count(k) > 1)
            raise InputError(f"duplicate id {dup!r}", sheet=sheet, column=idcol)
        for f in fields:
            if f.name not in mapping:
                continue
            a = getattr(sc, mapping[f.name])
            for i, x in enumerate(a):
                if not math.isfinite(x):
                    raise InputError(f"value {x} of {idcol} {ids[i]!r} is not finite", sheet=sheet, column=f.name)
                check_bounds(float(x), f, path=None, sheet=sheet, row=None, column=f"{f.name}' of {idcol} '{ids[i]}")
            plaus.append((a, f, sheet))
        xy = sc.user_xy if sheet == "users" else sc.server_xy
        if xy is not None:
            for k, f in enumerate(fd for fd in fields if fd.name in ("x_m", "y_m")):
                for i, x in enumerate(xy[:, k]):
                    if not math.isfinite(x):
                        raise InputError(f"value {x} of {idcol} {ids[i]!r} is not finite", sheet=sheet, column=f.name)
                    check_bounds(float(x), f, path=None, sheet=sheet, row=None, column=f"{f.name}' of {idcol} '{ids[i]}")
    g = sc.gain
    fg = CHANNEL_COLUMNS[2]
    if not np.all(np.isfinite(g)) or np.any(g <= 0):
        i, j = map(int, np.argwhere(~(np.isfinite(g) & (g > 0)))[0])
        raise InputError(f"gain {g[i, j]!r} of user {sc.user_ids[i]!r}, server {sc.server_ids[j]!r} must be a finite number > 0 "
                         f"(supported range: {fg.range_text()})", sheet="channels", column="gain")
    lo, hi = fg.supported
    if np.any((g < lo) | (g > hi)):
        i, j = map(int, np.argwhere((g < lo) | (g > hi))[0])
        raise InputError(f"gain = {g[i, j]:g} of user {sc.user_ids[i]!r}, server {sc.server_ids[j]!r} is outside the supported "
                         f"range {fg.range_text()}", sheet="channels", column="gain")
    plaus.append((g.ravel(), fg, "channels"))
    for f in SYSTEM_PARAMETERS:
        x = getattr(sc.system, f.name)
        if not math.isfinite(x):
            raise InputError(f"{f.name} = {x} is not finite", sheet="system", column="value")
        check_bounds(float(x), f, path=None, sheet="system", row=None, column=f.name)
        plaus.append(([x], f, "system"))
    if sc.system.weight_time == 0 and sc.system.weight_energy == 0:
        raise InputError("weight_time and weight_energy are both 0: the cost in (2) would be zero", sheet="system")
    for values, f, sheet in plaus:
        check_plausible(values, [None] * len(values), f, path=None, sheet=sheet, column=f.name)

"""Fuzzing the inputs and the methods (issue 14, item 7), with hypothesis.

1. Random corruptions of valid workbooks — cell types, extreme magnitudes,
   missing and duplicated rows, columns and sheets, id spellings, damaged
   files — through :func:`pyomo_llmmec.read_scenario` and the command line
   (``llmmec validate``, ``llmmec solve --method gucaa``).
2. Random valid scenarios (1–8 users, 1–3 servers, every value drawn from its
   paper value, its plausible range or its whole supported range) through every
   fast method: gucaa, rucaa, aauco, gucro, dashf (small iteration limits) and lns.

Properties: no internal error ever (only InputError / SolveFailed /
SolverUnavailable, or success); bad input → exit 2 with one line; a workbook
that is certainly broken is rejected and one that is certainly fine is
accepted; an accepted scenario holds only finite values inside the supported
ranges; every returned solution is feasible when re-evaluated from scratch;
the same input (and seed) gives the same result; the input file is never
modified.

Budgets: a small one by default (~15–25 examples per property, under a minute
in all); a large one (2000 corrupted workbooks, 300 random scenarios) in the
tests marked ``slow`` (``make test-slow``).  ``LLMMEC_FUZZ_SCALE=10`` multiplies
the default budgets.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import hashlib
import io
import math
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from hypothesis import HealthCheck, Phase, note, settings
from hypothesis import strategies as st
from hypothesis import given

import pyomo_llmmec as lm
from pyomo_llmmec import schema
from pyomo_llmmec.cli import main
from pyomo_llmmec.errors import InputError, SolveFailed, SolverUnavailable
from pyomo_llmmec.methods import METHODS

DATA = Path(__file__).resolve().parent.parent / "data"
SCALE = float(os.environ.get("LLMMEC_FUZZ_SCALE", "1") or 1)


def budget(n: int, *, large: int | None = None):
    """hypothesis settings: ``n`` examples (times LLMMEC_FUZZ_SCALE), or ``large`` for the slow variant.

    The default budget skips shrinking (a failure is reported as found, in seconds; shrinking a failing
    solve can take minutes); the slow variant shrinks to a minimal example."""
    phases = tuple(ph for ph in Phase if large is not None or ph not in (Phase.shrink, Phase.explain))
    return settings(max_examples=large if large is not None else max(1, int(n * SCALE)), deadline=None,
                    database=None, print_blob=True, suppress_health_check=list(HealthCheck), phases=phases)


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------------
# workbooks as plain data: {sheet: [header row, row, ...]}
# ------------------------------------------------------------------------------------------


def load_book(path) -> dict:
    wb = openpyxl.load_workbook(path, data_only=True)
    book = {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}
    wb.close()
    return book


def save_book(book: dict, path) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in book.items():
        ws = wb.create_sheet(title=name)
        for r in rows:
            ws.append(list(r))
    wb.save(path)
    return Path(path)


def _bases() -> list:
    if not _BASES:
        d = Path(tempfile.mkdtemp(prefix="llmmec-fuzz-"))
        atexit.register(shutil.rmtree, d, True)
        lm.write_scenario(lm.generate_scenario(2, 1, seed=7), d / "gen_2x1.xlsx")
        for p in (DATA / "toy_3x2.xlsx", DATA / "paper_default.xlsx", d / "gen_2x1.xlsx"):
            _BASES.append((p.name, load_book(p)))
    return _BASES


_BASES: list = []

FIELDS = {"users": {f.name: f for f in schema.USER_COLUMNS}, "servers": {f.name: f for f in schema.SERVER_COLUMNS},
          "channels": {f.name: f for f in schema.CHANNEL_COLUMNS}}
SYSTEM_FIELDS = {f.name: f for f in schema.SYSTEM_PARAMETERS}
REQUIRED_SHEETS = ("system", "users", "servers", "channels")


def field_of(book, sheet, row, col):
    """The schema Field of a cell (None for headers, unknown columns, the system sheet's unit/description)."""
    if row == 0 or sheet not in book or col >= len(book[sheet][0]):
        return None
    header = book[sheet][0][col]
    if sheet == "system":
        if header != "value" or row >= len(book[sheet]):
            return None
        name = book[sheet][row][0] if book[sheet][row] else None
        return SYSTEM_FIELDS.get(name)
    return FIELDS.get(sheet, {}).get(header)


def verdict_for_value(f, v):
    """True: a certainly invalid value for field f; False: certainly valid; None: either."""
    if f is None:
        return None
    if f.kind == "id":
        return True if v is None or (isinstance(v, str) and not v.strip()) else None
    if v is None or (isinstance(v, str) and not v.strip()):
        return True if f.required else False
    if isinstance(v, bool) or isinstance(v, datetime.datetime):
        return None
    if isinstance(v, str):
        return True if v.strip().lower() in ("abc", "na", "-", "inf", "nan", "1e400", "=a1") else None
    x = float(v)
    if not math.isfinite(x):
        return True
    if f.lower is not None and (x < f.lower or (f.lower_open and x == f.lower)):
        return True
    if f.upper is not None and x > f.upper:
        return True
    if f.supported is not None:
        return not f.in_range(x)
    return None


# -- the corruptions ------------------------------------------------------------------------

ODD_VALUES = st.one_of(
    st.sampled_from([None, "", " ", "abc", "NA", "-", "1,5", " 12 ", "1e400", "inf", "nan", "=A1", "１２", "0x10",
                     True, False, 0, -1, -0.0, 1e308, 5e-324, 10**30, -(10**30), 2**63, datetime.datetime(2020, 1, 1)]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=12),
)


def _cell(draw, book, sheets=None):
    names = [s for s in (sheets or list(book)) if s in book and len(book[s]) > 1 and book[s][0]]
    if not names:
        return None
    s = draw(st.sampled_from(names))
    r = draw(st.integers(1, len(book[s]) - 1))
    c = draw(st.integers(0, len(book[s][0]) - 1))
    while len(book[s][r]) <= c:
        book[s][r].append(None)
    return s, r, c


def corrupt_once(draw, book):
    """Apply one random corruption in place; returns (description, verdict: True invalid / False valid / None)."""
    kind = draw(st.sampled_from([
        "cell", "cell", "magnitude", "magnitude", "delete_row", "duplicate_row", "delete_column", "rename_column",
        "duplicate_column", "delete_sheet", "rename_sheet", "extra_sheet", "extra_column", "empty_sheet",
        "id_spelling", "id_one_sheet", "shift_header", "swap_rows"]))
    data_sheets = [s for s in ("users", "servers", "channels") if s in book]
    if kind in ("cell", "magnitude"):
        where = _cell(draw, book)
        if where is None:
            return "no cell", None
        s, r, c = where
        f = field_of(book, s, r, c)
        old = book[s][r][c]
        if kind == "cell":
            v = draw(ODD_VALUES)
        else:
            if not isinstance(old, (int, float)) or isinstance(old, bool):
                return "magnitude of a non-number (no-op)", None
            k = draw(st.integers(-330, 330))
            v = float(old) * 10.0 ** (k // 2) * 10.0 ** (k - k // 2)  # (a product overflows to inf, ** would raise)
            v = draw(st.sampled_from([v, -v]))
        book[s][r][c] = v
        return f"{kind} {s}!r{r + 1}c{c + 1}: {old!r} -> {v!r}", verdict_for_value(f, v)
    if kind in ("delete_row", "duplicate_row", "swap_rows"):
        names = [s for s in book if len(book[s]) > 1]
        if not names:
            return "no row", None
        s = draw(st.sampled_from(names))
        r = draw(st.integers(1, len(book[s]) - 1))
        if kind == "delete_row":
            del book[s][r]
            return f"delete {s} row {r + 1}", True if s in data_sheets else None
        if kind == "duplicate_row":
            book[s].insert(r, list(book[s][r]))
            return f"duplicate {s} row {r + 1}", True if s in data_sheets else None
        r2 = draw(st.integers(1, len(book[s]) - 1))
        book[s][r], book[s][r2] = book[s][r2], book[s][r]
        return f"swap {s} rows {r + 1},{r2 + 1}", False  # row order carries no meaning
    if kind in ("delete_column", "rename_column", "duplicate_column"):
        names = [s for s in book if book[s] and book[s][0]]
        if not names:
            return "no column", None
        s = draw(st.sampled_from(names))
        c = draw(st.integers(0, len(book[s][0]) - 1))
        header = book[s][0][c]
        f = FIELDS.get(s, {}).get(header) if s != "system" else None
        required = (f is not None and f.required) or (s == "system" and header in ("parameter", "value"))
        if kind == "delete_column":
            for row in book[s]:
                if len(row) > c:
                    del row[c]
            return f"delete column {header!r} of {s}", True if required else None
        if kind == "rename_column":
            new = draw(st.sampled_from([f"{header}x", f"x{header}", "", None, "?", str(header).upper() if header else "A"]))
            book[s][0][c] = new
            return f"rename column {header!r} of {s} to {new!r}", True if required and str(new).lower() != str(header).lower() else None
        for row in book[s]:
            row.append(row[c] if len(row) > c else None)
        return f"duplicate column {header!r} of {s}", None
    if kind == "delete_sheet":
        s = draw(st.sampled_from(list(book)))
        del book[s]
        return f"delete sheet {s}", True if s in REQUIRED_SHEETS else None
    if kind == "rename_sheet":
        s = draw(st.sampled_from(list(book)))
        new = draw(st.sampled_from([s.upper(), s.capitalize(), f"{s}2", f"{s} ", f"_{s}"]))
        if new in book:
            return "rename onto an existing sheet (no-op)", None
        book[new] = book.pop(s)
        return f"rename sheet {s} to {new!r}", True if s in REQUIRED_SHEETS and new in (f"{s}2", f"_{s}") else None
    if kind == "extra_sheet":
        name = draw(st.sampled_from(["notes", "Sheet1", "users_old", "x"]))
        if name in book:
            return "extra sheet exists (no-op)", None
        book[name] = [["a", "b"], [1, "junk"], [None, 3.5]]
        return f"extra sheet {name}", None
    if kind == "extra_column":
        s = draw(st.sampled_from(list(book)))
        if not book[s]:
            return "empty sheet (no-op)", None
        book[s][0].append(draw(st.sampled_from(["comment", "note", "extra"])))
        for row in book[s][1:]:
            row.append(draw(st.sampled_from(["x", 1, None])))
        return f"extra column on {s}", None
    if kind == "empty_sheet":
        s = draw(st.sampled_from(list(book)))
        book[s] = book[s][:1]
        return f"empty sheet {s} (header only)", True if s in data_sheets else None
    if kind == "shift_header":
        s = draw(st.sampled_from(list(book)))
        book[s].insert(0, [None] * max(1, len(book[s][0]) if book[s] else 1))
        return f"blank first row on {s}", True if s in REQUIRED_SHEETS else None
    # id spellings: the same id written another way, consistently (must be accepted) or on one sheet only
    col = draw(st.sampled_from(["user", "server"]))
    home = "users" if col == "user" else "servers"
    if home not in book or len(book[home]) < 2 or col not in (book[home][0] or []):
        return "no id column", None
    ci = book[home][0].index(col)
    ids = [row[ci] for row in book[home][1:] if len(row) > ci]
    v = draw(st.sampled_from(ids))
    if not isinstance(v, int) or isinstance(v, bool):
        return "non-integer id (no-op)", None
    same = [float(v), str(v), f"{v}.0", f" {v} ", f"+{v}"]  # the same integer id
    other = [f"0{v}", f"{col}-{v}", "NA", "①", f"{v}a"]  # a different (text) id
    new = draw(st.sampled_from(same + other))
    if other.count(new) and any(str(x).strip() == str(new).strip() for x in ids if x != v):
        return "id collision (no-op)", None
    sheets = [s for s in book if book[s] and col in (book[s][0] or [])]
    if kind == "id_one_sheet":
        sheets = [draw(st.sampled_from(sheets))]
    for s in sheets:
        k = book[s][0].index(col)
        for row in book[s][1:]:
            if len(row) > k and row[k] == v:
                row[k] = new
    if kind == "id_spelling":
        return f"{col} id {v!r} spelled {new!r} on every sheet", False
    return f"{col} id {v!r} spelled {new!r} on {sheets[0]} only", False if new in same else None


@st.composite
def corrupted_workbooks(draw):
    """(name of the base, workbook rows, list of corruptions, verdict, file-level damage or None)."""
    base_name, base = draw(st.sampled_from(_bases()))
    book = {k: [list(r) for r in v] for k, v in base.items()}
    n = draw(st.integers(0, 3))
    done, verdicts = [], []
    for _ in range(n):
        if not book:
            break
        what, verdict = corrupt_once(draw, book)
        done.append(what)
        verdicts.append(verdict)
    verdict = False if n == 0 else (verdicts[0] if len(verdicts) == 1 else None)
    damage = draw(st.sampled_from([None] * 8 + ["truncate", "zero", "garbage"]))
    return base_name, book, done, verdict, damage


def write_case(case, path: Path) -> Path:
    base_name, book, done, verdict, damage = case
    if not book:
        book = {"empty": [[None]]}
    save_book(book, path)
    if damage == "truncate":
        raw = path.read_bytes()
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "zero":
        path.write_bytes(b"")
    elif damage == "garbage":
        path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 3)
    return path


def verdict_of(case):
    return True if case[4] is not None else case[3]


ATTRS = {("users", "adapter_params"): "adapter_params", ("users", "flops_per_param"): "flops_per_param",
         ("users", "epochs"): "user_epochs", ("users", "kappa"): "user_kappa", ("users", "p_max_w"): "user_p_max_w",
         ("users", "f_max_flops"): "user_f_max_flops", ("servers", "bandwidth_hz"): "bandwidth_hz",
         ("servers", "p_max_w"): "server_p_max_w", ("servers", "f_max_flops"): "server_f_max_flops",
         ("servers", "kappa"): "server_kappa", ("servers", "epochs"): "server_epochs", ("channels", "gain"): "gain"}


def check_accepted_scenario(sc):
    """An accepted scenario holds only finite values inside their supported ranges."""
    assert sc.n_users >= 1 and sc.n_servers >= 1
    assert len(set(map(str, sc.user_ids))) == sc.n_users or len(set(sc.user_ids)) == sc.n_users
    for (sheet, col), attr in ATTRS.items():
        f = FIELDS[sheet][col]
        arr = np.asarray(getattr(sc, attr), dtype=float)
        assert np.all(np.isfinite(arr)), (attr, arr)
        assert all(f.in_range(float(x)) for x in arr.ravel()), (attr, arr, f.supported)
    for name, f in SYSTEM_FIELDS.items():
        x = float(getattr(sc.system, name))
        assert math.isfinite(x) and f.in_range(x), (name, x, f.supported)


def read_outcome(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return lm.read_scenario(path), None
        except InputError as exc:
            return None, exc


def _read_property(case):
    with tempfile.TemporaryDirectory() as d:
        path = write_case(case, Path(d) / "in.xlsx")
        before = sha(path)
        note(f"base {case[0]}; corruptions {case[2]}; damage {case[4]}; verdict {verdict_of(case)}")
        sc, exc = read_outcome(path)
        assert sha(path) == before  # reading never modifies the input
        if exc is not None:
            msg = str(exc)
            assert msg and "\n" not in msg and "in.xlsx" in msg, msg  # one line that names the file
            assert verdict_of(case) is not False, f"a valid workbook was rejected: {msg}"
            return
        assert verdict_of(case) is not True, "a broken workbook was accepted"
        check_accepted_scenario(sc)
        sc2, _ = read_outcome(path)  # the same file reads the same
        assert sc2 is not None and sc2.user_ids == sc.user_ids and np.array_equal(sc2.gain, sc.gain)


@budget(25)
@given(case=corrupted_workbooks())
def test_read_scenario_on_corrupted_workbooks(case):
    _read_property(case)


@pytest.mark.slow
@budget(0, large=2000)
@given(case=corrupted_workbooks())
def test_read_scenario_on_2000_corrupted_workbooks(case):
    _read_property(case)


def run_cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        warnings.simplefilter("ignore")
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


def _cli_property(case):
    with tempfile.TemporaryDirectory() as d:
        path = write_case(case, Path(d) / "in.xlsx")
        before, mtime = sha(path), path.stat().st_mtime_ns
        note(f"base {case[0]}; corruptions {case[2]}; damage {case[4]}")
        sc, exc = read_outcome(path)
        rc, out, err = run_cli(["validate", str(path)])
        assert "Traceback" not in err and "internal error" not in err, err
        if exc is not None:  # bad input: exit 2, one line
            assert rc == 2 and err.strip().count("\n") == 0 and err.startswith("error:"), (rc, err)
        else:
            assert rc == 0 and "valid scenario" in out, (rc, out, err)
        sol_path = Path(d) / "sol.xlsx"
        rc, out, err = run_cli(["solve", "--no-bound", str(path), "--method", "gucaa", "-o", str(sol_path)])
        assert "Traceback" not in err and "internal error" not in err, err
        if exc is not None:
            assert rc == 2 and err.strip().count("\n") == 0 and not sol_path.exists(), (rc, err)
        elif rc == 1:  # a solve that cannot give a verified answer: one line, no file
            assert err.startswith("solve failed:") and not sol_path.exists(), err
        else:
            assert rc == 0, (rc, err)
            back = lm.read_solution(sol_path, sc)
            assert lm.evaluate(sc, back).feasible
        assert sha(path) == before and path.stat().st_mtime_ns == mtime  # the input is never modified


@budget(15)
@given(case=corrupted_workbooks())
def test_cli_on_corrupted_workbooks(case):
    _cli_property(case)


@pytest.mark.slow
@budget(0, large=2000)
@given(case=corrupted_workbooks())
def test_cli_on_2000_corrupted_workbooks(case):
    _cli_property(case)


# ------------------------------------------------------------------------------------------
# random valid scenarios through the methods
# ------------------------------------------------------------------------------------------


def _value(draw, f, default):
    """A value of field f: the paper's, one in its plausible range, or one anywhere in its supported range."""
    mode = draw(st.sampled_from(["default", "default", "plausible", "supported"]))
    rng = f.plausible if mode == "plausible" and f.plausible else f.supported if mode != "default" else None
    if rng is None:
        return float(default)
    if f.zero_ok and draw(st.integers(0, 9)) == 0:
        return 0.0
    lo, hi = rng
    if lo > 0:
        x = math.exp(draw(st.floats(math.log(lo), math.log(hi))))
        return min(max(x, lo), hi)
    return draw(st.floats(lo, hi))


@st.composite
def valid_scenarios(draw, max_users=8, max_servers=3):
    n = draw(st.integers(1, max_users))
    m = draw(st.integers(1, max_servers))
    base = lm.generate_scenario(n, m, seed=draw(st.integers(0, 2**16)))
    users = [["user"] + [f.name for f in schema.USER_COLUMNS[1:7]]]
    for i in range(n):
        users.append([i + 1] + [_value(draw, FIELDS["users"][c], getattr(base, ATTRS[("users", c)])[i])
                                for c in users[0][1:]])
    servers = [["server"] + [f.name for f in schema.SERVER_COLUMNS[1:6]]]
    for j in range(m):
        servers.append([j + 1] + [_value(draw, FIELDS["servers"][c], getattr(base, ATTRS[("servers", c)])[j])
                                  for c in servers[0][1:]])
    channels = [["user", "server", "gain"]]
    for i in range(n):
        for j in range(m):
            channels.append([i + 1, j + 1, _value(draw, FIELDS["channels"]["gain"], base.gain[i, j])])
    system = [["parameter", "value"]]
    values = {name: _value(draw, f, getattr(base.system, name)) for name, f in SYSTEM_FIELDS.items()}
    if values.get("weight_time") == 0 and values.get("weight_energy") == 0:  # documented as invalid: no cost at all
        values["weight_time"] = base.system.weight_time
    system += [[name, v] for name, v in values.items()]
    return {"system": system, "users": users, "servers": servers, "channels": channels}


FAST = {
    "gucaa": {},
    "rucaa": {},
    "aauco": {"max_iter": 3},
    "gucro": {"max_iter": 2, "part2_max_iter": 5, "ipopt_max_iter": 300},
    "dashf": {"max_iter": 2, "part2_max_iter": 5, "ipopt_max_iter": 300},
}
LNS = {"max_iter": 2, "part2_max_iter": 5, "ipopt_max_iter": 300, "lns_starts": "gucaa", "lns_rounds": 1,
       "lns_levels": 3, "lns_refine": 0, "time_limit": 60.0}


def solve_outcome(sc, method, **opts):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return lm.solve(sc, method, **opts), None
        except (SolveFailed, SolverUnavailable) as exc:  # the accepted failures; anything else is a bug
            msg = str(exc)
            assert msg and "\n" not in msg, msg
            return None, exc


def _method_property(book, method, seed, opts, deterministic=True):
    with tempfile.TemporaryDirectory() as d:
        path = save_book(book, Path(d) / "random.xlsx")
        before = sha(path)
        sc, exc = read_outcome(path)
        assert exc is None, f"a scenario with every value in its supported range was rejected: {exc}"
        check_accepted_scenario(sc)
        note(f"{method} on {sc.n_users}x{sc.n_servers}, seed {seed}")
        sol, err = solve_outcome(sc, method, seed=seed, **opts)
        if sol is not None:
            ev = lm.evaluate(sc, sol.copy(evaluation=None), attach=False)
            assert ev.feasible, ev.problems
            assert sol.scr == pytest.approx(ev.scr, rel=1e-12) and math.isfinite(ev.scr)
        if deterministic and not (sol is not None and sol.status == "time_limit"):
            sol2, err2 = solve_outcome(sc, method, seed=seed, **opts)  # same input, same seed: same result
            assert (sol2 is None) == (sol is None), (err, err2)
            if sol is None:
                assert type(err2) is type(err) and getattr(err2, "status", None) == getattr(err, "status", None)
            else:
                assert np.array_equal(sol2.assignment, sol.assignment) and sol2.status == sol.status
                assert sol2.scr == pytest.approx(sol.scr, rel=1e-9)
        assert sha(path) == before


@budget(20)
@given(book=valid_scenarios(), method=st.sampled_from(sorted(FAST)), seed=st.integers(0, 1000))
def test_random_scenarios_through_the_fast_methods(book, method, seed):
    _method_property(book, method, seed, FAST[method])


@pytest.mark.slow
@budget(0, large=300)
@given(book=valid_scenarios(), method=st.sampled_from(sorted(FAST)), seed=st.integers(0, 1000))
def test_300_random_scenarios_through_the_fast_methods(book, method, seed):
    _method_property(book, method, seed, FAST[method])


needs_lns = pytest.mark.skipif("lns" not in METHODS, reason="no method lns")


@needs_lns
@budget(3)
@given(book=valid_scenarios(max_users=2, max_servers=2), seed=st.integers(0, 1000))
def test_random_scenarios_through_lns(book, seed):
    _method_property(book, "lns", seed, LNS)


@needs_lns
@pytest.mark.slow
@budget(0, large=30)
@given(book=valid_scenarios(max_users=5, max_servers=2), seed=st.integers(0, 1000))
def test_30_random_scenarios_through_lns(book, seed):
    _method_property(book, "lns", seed, LNS)


def test_found_snr_below_float64_resolution_is_not_an_internal_error(tmp_path):
    """Found by the fuzz (minimised by hand): one user, one server, gain 1e-18 and noise -50 dBm/Hz (both
    inside their supported ranges).  DASHF's start has φ = 1 and the downlink rate underflows to 0, so
    part 2's anchor E4_0 = P·(1−φ)·bits/r_dn is 0/0 = NaN (model/resources.py set_point) and Pyomo's NL
    writer raised InvalidValueError, an internal error.  Fixed: set_point gives a term without work a neutral
    anchor and raises SolveFailed (one line, exit 1) when a working link's model rate underflows."""
    import dataclasses

    sc = lm.generate_scenario(1, 1, seed=0, noise_psd_dbm_per_hz=-50.0)
    sc = dataclasses.replace(sc, gain=np.full((1, 1), 1e-18))
    path = tmp_path / "weak.xlsx"
    lm.write_scenario(sc, path)
    sc = lm.read_scenario(path)  # valid input
    sol, _ = solve_outcome(sc, "dashf", max_iter=2)
    if sol is not None:
        assert lm.evaluate(sc, sol.copy(evaluation=None), attach=False).feasible
    rc, out, err = run_cli(["solve", str(path), "--method", "dashf", "--max-iter", "2", "--bound-time-limit", "5", "-o", str(tmp_path / "sol.xlsx")])
    assert rc in (0, 1) and "internal error" not in err, err

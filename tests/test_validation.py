"""Bad input: one line naming file, sheet, row and column; CLI exit 2, no traceback."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import pyomo_llmmec as lm
from pyomo_llmmec.cli import main
from pyomo_llmmec.io import write_sheets


def sheets_of(sc):
    return {"system": sc.system_frame(), "users": sc.users_frame(), "servers": sc.servers_frame(), "channels": sc.channels_frame()}


@pytest.fixture
def good():
    return sheets_of(lm.generate_scenario(3, 2, seed=0))


def write(tmp_path, sheets, name="bad.xlsx"):
    path = tmp_path / name
    write_sheets(path, sheets)
    return path


def set_cell(df, row, col, value):
    df = df.copy().astype({col: object})
    df.loc[row, col] = value
    return df


# (mutation, expected sheet, expected Excel row or None, expected column or None, words in the message)
CASES = {
    "missing sheet": (lambda s: {k: v for k, v in s.items() if k != "servers"}, "servers", None, None, "missing sheet"),
    "missing column": (lambda s: {**s, "users": s["users"].drop(columns="p_max_w")}, "users", 1, "p_max_w", "missing column"),
    "missing system row": (lambda s: {**s, "system": s["system"][s["system"].parameter != "weight_time"]}, "system", None, "parameter", "weight_time"),
    "non-numeric": (lambda s: {**s, "users": set_cell(s["users"], 1, "adapter_params", "lots")}, "users", 3, "adapter_params", "not a number"),
    "empty cell (NaN)": (lambda s: {**s, "servers": set_cell(s["servers"], 0, "f_max_flops", np.nan)}, "servers", 2, "f_max_flops", "empty"),
    "negative budget": (lambda s: {**s, "servers": set_cell(s["servers"], 1, "bandwidth_hz", -1e6)}, "servers", 3, "bandwidth_hz", "> 0"),
    "zero budget": (lambda s: {**s, "servers": set_cell(s["servers"], 0, "p_max_w", 0.0)}, "servers", 2, "p_max_w", "> 0"),
    "negative kappa": (lambda s: {**s, "users": set_cell(s["users"], 2, "kappa", -1.0)}, "users", 4, "kappa", ">= 0"),
    "infinite value": (lambda s: {**s, "users": set_cell(s["users"], 0, "f_max_flops", "inf")}, "users", 2, "f_max_flops", "finite"),
    "duplicate user id": (lambda s: {**s, "users": set_cell(s["users"], 2, "user", 1)}, "users", 4, "user", "duplicate"),
    "duplicate server id": (lambda s: {**s, "servers": set_cell(s["servers"], 1, "server", 1)}, "servers", 3, "server", "duplicate"),
    "empty id": (lambda s: {**s, "users": set_cell(s["users"], 1, "user", None)}, "users", 3, "user", "empty"),
    "channel missing": (lambda s: {**s, "channels": s["channels"].drop(index=3)}, "channels", None, "gain", "no row for user 2, server 2"),
    "channel unknown user": (lambda s: {**s, "channels": set_cell(s["channels"], 4, "user", 99)}, "channels", 6, "user", "unknown user"),
    "channel unknown server": (lambda s: {**s, "channels": set_cell(s["channels"], 0, "server", 7)}, "channels", 2, "server", "unknown server"),
    "channel duplicate pair": (lambda s: {**s, "channels": set_cell(s["channels"], 1, "server", 1)}, "channels", 3, "user", "duplicate row"),
    "zero gain": (lambda s: {**s, "channels": set_cell(s["channels"], 2, "gain", 0.0)}, "channels", 4, "gain", "> 0"),
    "both weights zero": (lambda s: {**s, "system": set_cell(set_cell(s["system"], 2, "value", 0.0), 3, "value", 0.0)}, "system", None, "value", "both 0"),
    "wrong-case sheet": (lambda s: {("Users" if k == "users" else k): v for k, v in s.items()}, "users", None, None, "lower-case"),
    "no data rows": (lambda s: {**s, "users": s["users"].iloc[0:0]}, "users", 2, None, "no data rows"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_scenario_is_one_precise_line(tmp_path, good, case, capsys):
    mutate, sheet, row, column, words = CASES[case]
    path = write(tmp_path, mutate(good))
    with pytest.raises(lm.InputError) as info:
        lm.read_scenario(path)
    err = info.value
    msg = str(err)
    assert "\n" not in msg
    assert str(path) in msg and err.sheet == sheet and f"sheet '{sheet}'" in msg
    if row is not None:
        assert err.row == row and f"row {row}" in msg
    if column is not None:
        assert err.column == column and f"column '{column}'" in msg
    assert words in msg
    # the CLI: exit 2, one line, no traceback
    assert main(["validate", str(path)]) == 2
    out = capsys.readouterr()
    assert out.err.strip().count("\n") == 0 and "Traceback" not in out.err and str(path) in out.err


@pytest.mark.parametrize("content,suffix,words", [
    (b"user,server\n1,2\n", ".csv", "not an .xlsx"),
    (b"this is not a zip file", ".xlsx", "cannot read"),
    (None, ".xlsx", "not found"),
])
def test_non_xlsx_files(tmp_path, content, suffix, words, capsys):
    path = tmp_path / f"input{suffix}"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(lm.InputError, match=words):
        lm.read_scenario(path)
    assert main(["solve", str(path)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_cli_subprocess_exit_codes(tmp_path):
    bad = tmp_path / "bad.xlsx"
    bad.write_text("nope")
    r = subprocess.run([sys.executable, "-m", "pyomo_llmmec.cli", "validate", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "pyomo_llmmec.cli", "generate", "--users", "0", "--servers", "2"], capture_output=True, text=True)
    assert r.returncode == 2


def test_numeric_text_is_accepted(tmp_path, good):
    sheets = {**good, "users": set_cell(good["users"], 0, "p_max_w", " 0.2 ")}
    sc = lm.read_scenario(write(tmp_path, sheets))
    assert sc.user_p_max_w[0] == 0.2


def test_blank_rows_are_ignored_and_rows_keep_excel_numbers(tmp_path, good):
    users = good["users"].copy()
    blank = pd.DataFrame([[None] * users.shape[1]], columns=users.columns)
    users = pd.concat([users.iloc[:1], blank, users.iloc[1:]], ignore_index=True)
    users = set_cell(users, 3, "epochs", "x")
    with pytest.raises(lm.InputError) as info:
        lm.read_scenario(write(tmp_path, {**good, "users": users}))
    assert info.value.row == 5  # header row 1, then rows 2, 3 (blank), 4, 5


def test_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "out.xlsx"

    class Boom:
        def to_excel(self, *a, **k):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_sheets(target, {"a": pd.DataFrame({"x": [1]}), "b": Boom()})
    assert not target.exists() and list(tmp_path.iterdir()) == []
    # an existing file is left intact by a failed overwrite
    write_sheets(target, {"a": pd.DataFrame({"x": [1]})})
    before = target.read_bytes()
    with pytest.raises(RuntimeError):
        write_sheets(target, {"a": Boom()})
    assert target.read_bytes() == before

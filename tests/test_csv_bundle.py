"""CSV bundles (a .zip of one CSV per sheet) and the vectorised validation that makes a million rows take seconds."""

import zipfile

import numpy as np
import pandas as pd
import pytest

import pyomo_llmmec as lm
from pyomo_llmmec import validation
from pyomo_llmmec.cli import main
from pyomo_llmmec.errors import InputError, OutputError
from test_scenario_io import assert_same_scenario


def _bundle(path, sheets: dict):
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in sheets.items():
            zf.writestr(f"{name}.csv", text)
    return path


def _texts(sc):
    return {k: getattr(sc, f"{k}_frame")().to_csv(index=False) for k in ("system", "users", "servers", "channels")}


def test_csv_bundle_round_trip_is_exact_and_matches_the_workbook(tmp_path):
    sc = lm.generate_scenario(30, 4, seed=3)
    z = lm.write_scenario(sc, tmp_path / "s.zip")
    x = lm.write_scenario(sc, tmp_path / "s.xlsx")
    a, b = lm.read_scenario(z), lm.read_scenario(x)
    assert_same_scenario(sc, a)  # bit for bit: floats are written in their round-trip form
    assert_same_scenario(b, a, rtol=1e-14)
    assert sorted(zipfile.ZipFile(z).namelist()) == ["channels.csv", "servers.csv", "system.csv", "users.csv"]


def test_csv_bundle_errors_name_the_file_sheet_row_and_column(tmp_path):
    t = _texts(lm.generate_scenario(4, 2, seed=0))
    lines = t["channels"].splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",NA"  # line 4 of channels.csv: data row 3
    bad = _bundle(tmp_path / "bad.zip", {**t, "channels": "\n".join(lines) + "\n"})
    with pytest.raises(InputError) as e:
        lm.read_scenario(bad)
    msg = str(e.value)
    assert "bad.zip" in msg and "sheet 'channels'" in msg and "row 4" in msg and "column 'gain'" in msg and "'NA'" in msg
    missing = _bundle(tmp_path / "missing.zip", {k: v for k, v in t.items() if k != "servers"})
    with pytest.raises(InputError, match="servers"):
        lm.read_scenario(missing)
    dup = {**t, "users": t["users"].replace("user,", "user,kappa,", 1).replace("\n", ",1\n").replace(",1\n", "\n", 1)}
    with pytest.raises(InputError, match="appears 2 times"):
        lm.read_scenario(_bundle(tmp_path / "dup.zip", dup))
    (tmp_path / "notzip.zip").write_text("plain text")
    with pytest.raises(InputError, match="not a readable ZIP archive"):
        lm.read_scenario(tmp_path / "notzip.zip")
    extra = _bundle(tmp_path / "extra.zip", {**t})
    with zipfile.ZipFile(extra, "a") as zf:
        zf.writestr("notes/readme.txt", "ignored")  # non-CSV members are ignored
    assert lm.read_scenario(extra).n_users == 4
    with zipfile.ZipFile(tmp_path / "enc.zip", "w") as zf:
        for k, v in t.items():
            zf.writestr(f"{k}.csv", v.replace("user", "usér").encode("latin-1") if k == "users" else v)
    with pytest.raises(InputError, match="not UTF-8"):
        lm.read_scenario(tmp_path / "enc.zip")


def test_csv_row_with_more_fields_than_its_header_is_named_not_shifted(tmp_path, capsys):
    """A data row with a field beyond the header is refused on its line (pandas would make the first column the
    rows' index and shift every value one column left: an internal error or a wrong column in the message); empty
    extra fields, as a trailing comma leaves, are dropped."""
    sc = lm.generate_scenario(3, 2, seed=0)
    t = _texts(sc)
    lines = t["users"].splitlines()
    lines[1] += ",extra,more"  # line 2 of users.csv
    bad = _bundle(tmp_path / "extra.zip", {**t, "users": "\n".join(lines) + "\n"})
    with pytest.raises(InputError) as e:
        lm.read_scenario(bad)
    assert str(e.value).endswith("sheet 'users', row 2: line 2 of users.csv has " + f"{len(lines[0].split(',')) + 2} fields but "
                                 f"the header has {len(lines[0].split(','))}")
    assert main(["validate", str(bad)]) == 2
    assert "internal error" not in capsys.readouterr().err
    trailing = {k: "\n".join([v.splitlines()[0]] + [ln + "," for ln in v.splitlines()[1:]]) + "\n" for k, v in t.items()}
    assert_same_scenario(sc, lm.read_scenario(_bundle(tmp_path / "trailing.zip", trailing)))
    # old Mac line ends (CR only) read as before; a quoted field over two lines moves the offending line down
    cr = {k: v.replace("\r\n", "\n").replace("\n", "\r") for k, v in t.items()}
    assert_same_scenario(sc, lm.read_scenario(_bundle(tmp_path / "cr.zip", cr)))
    users = t["users"].splitlines()
    users[1] = users[1].replace(",", ',"note\nover two lines",', 1).rsplit(",", 1)[0]  # the same field count
    users[2] += ",x"
    with pytest.raises(InputError, match=r"row 4: line 4 of users.csv has"):
        lm.read_scenario(_bundle(tmp_path / "multi.zip", {**t, "users": "\n".join(users) + "\n"}))


def test_write_scenario_refuses_other_suffixes_and_the_cli_writes_bundles(tmp_path, capsys):
    with pytest.raises(OutputError, match=".zip"):
        lm.write_scenario(lm.generate_scenario(3, 2, seed=0), tmp_path / "s.csv")
    out = tmp_path / "g.zip"
    assert main(["generate", "--users", "6", "--servers", "2", "-o", str(out)]) == 0
    assert main(["validate", str(out)]) == 0
    assert "valid scenario, 6 users, 2 servers" in capsys.readouterr().out
    assert main(["validate", str(tmp_path / "absent.zip")]) == 2
    assert "file not found" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["pipe.xlsx", "pipe.zip"])
def test_a_pipe_as_input_is_refused_not_read(tmp_path, capsys, name):
    """A FIFO named like a workbook or bundle: opening it would block until a writer came (forever, from the CLI)."""
    import os

    fifo = tmp_path / name
    os.mkfifo(fifo)
    assert main(["validate", str(fifo)]) == 2
    assert "is not a regular file" in capsys.readouterr().err


def _slow(monkeypatch):
    monkeypatch.setattr(validation, "_fast_numbers", lambda col, f: None)
    monkeypatch.setattr(validation, "_fast_ids", lambda col: None)
    monkeypatch.setattr(validation, "_fast_channels", lambda ch, uk, sk: None)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_validation_gives_what_the_cell_by_cell_rules_give(seed, monkeypatch):
    """Text cells with spaces, integer-text ids, shuffled channels: the vectorised path returns the same values."""
    rng = np.random.default_rng(seed)
    sc = lm.generate_scenario(12, 3, seed=seed)
    frames = {k: getattr(sc, f"{k}_frame")().astype(object) for k in ("system", "users", "servers", "channels")}
    ch = frames["channels"].sample(frac=1.0, random_state=seed).reset_index(drop=True)
    k = rng.integers(len(ch), size=5)
    ch.loc[k, "gain"] = [f" {v!r} " for v in ch.loc[k, "gain"]]  # numbers as text, with spaces
    ch.loc[k, "user"] = [f"{v}.0" for v in ch.loc[k, "user"]]  # the same id, spelled as text
    frames["channels"] = ch
    fast = lm.Scenario.from_frames(*frames.values(), name="x")
    _slow(monkeypatch)
    slow = lm.Scenario.from_frames(*frames.values(), name="x")
    assert_same_scenario(fast, slow)
    assert_same_scenario(fast, sc)


@pytest.mark.parametrize("sheet,column,value,expected", [
    ("channels", "gain", True, "is not a number"),
    ("channels", "gain", float("nan"), "empty"),
    ("channels", "gain", "inf", "not a finite number"),
    ("channels", "gain", -1.0, "must be"),
    ("channels", "user", "nobody", "unknown user"),
    ("users", "kappa", " -1 ", "must be"),
    ("users", "p_max_w", 1e30, "supported range"),
    ("users", "user", True, "not valid"),
])
def test_fast_validation_defers_to_the_rule_that_names_the_bad_cell(sheet, column, value, expected, monkeypatch):
    sc = lm.generate_scenario(6, 2, seed=0)
    frames = {k: getattr(sc, f"{k}_frame")().astype(object) for k in ("system", "users", "servers", "channels")}
    frames[sheet].loc[4, column] = value
    with pytest.raises(InputError) as fast:
        lm.Scenario.from_frames(*frames.values(), name="x")
    _slow(monkeypatch)
    with pytest.raises(InputError) as slow:
        lm.Scenario.from_frames(*frames.values(), name="x")
    assert str(fast.value) == str(slow.value) and expected in str(fast.value) and "row 6" in str(fast.value)


def test_duplicate_and_missing_channel_rows_are_still_named(tmp_path):
    sc = lm.generate_scenario(5, 2, seed=0)
    frames = {k: getattr(sc, f"{k}_frame")().astype(object) for k in ("system", "users", "servers", "channels")}
    ch = frames["channels"]
    frames["channels"] = pd.concat([ch, ch.iloc[[3]]], ignore_index=True)
    with pytest.raises(InputError, match="duplicate row"):
        lm.Scenario.from_frames(*frames.values(), name="x")
    frames["channels"] = ch.drop(index=2).reset_index(drop=True)
    with pytest.raises(InputError, match="pair\\(s\\) missing"):
        lm.Scenario.from_frames(*frames.values(), name="x")

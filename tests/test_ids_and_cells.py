"""Reading cells as stored (issue 14): text ids such as NA, Unicode-digit ids, numeric-looking ids,
'NA' in numeric columns, duplicated headers, encrypted or broken files, and `llmmec evaluate`'s labels."""

import zipfile

import numpy as np
import openpyxl
import pandas as pd
import pytest

import pyomo_llmmec as lm
from pyomo_llmmec.cli import main
from pyomo_llmmec.io import OLE2_MAGIC, read_solution, write_sheets, write_solution


def sheets_of(sc):
    return {"system": sc.system_frame(), "users": sc.users_frame(), "servers": sc.servers_frame(), "channels": sc.channels_frame()}


@pytest.fixture
def sc():
    return lm.generate_scenario(3, 2, seed=1)


def with_ids(sc, users, servers, channel_users=None, channel_servers=None):
    """The scenario's sheets with other user/server ids (channels in the generator's order: user-major)."""
    s = sheets_of(sc)
    s["users"] = s["users"].assign(user=pd.Series(list(users), dtype=object))
    s["servers"] = s["servers"].assign(server=pd.Series(list(servers), dtype=object))
    m = len(servers)
    cu = channel_users if channel_users is not None else [u for u in users for _ in range(m)]
    cs = channel_servers if channel_servers is not None else [v for _ in users for v in servers]
    s["channels"] = s["channels"].assign(user=pd.Series(cu, dtype=object), server=pd.Series(cs, dtype=object))
    return s


def cli(capsys, *argv):
    rc = main(list(argv))
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def assert_one_line(err, *words):
    assert err.count("\n") == 1 and "Traceback" not in err and "internal error" not in err, err
    for w in words:
        assert w in err, (w, err)


# ---------------------------------------------------------------------------------------------
# ids
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("users,servers", [
    (["NA", "None", "null"], ["nan", "N/A"]),
    (["²", "①", "٣"], ["³", "⑩"]),
    (["#N/A", " NULL ", "-"], ["NaN", "none"]),
])
def test_any_non_empty_text_is_an_id(tmp_path, sc, capsys, users, servers):
    path = tmp_path / "ids.xlsx"
    write_sheets(path, with_ids(sc, users, servers))
    before = path.read_bytes()
    back = lm.read_scenario(path)
    assert back.user_ids == tuple(u.strip() for u in users)
    assert back.server_ids == tuple(servers)
    np.testing.assert_allclose(back.gain, sc.gain, rtol=1e-14)
    rc, out, err = cli(capsys, "validate", str(path))
    assert rc == 0 and err == "" and "3 users, 2 servers" in out
    # solve, write, read back: the text ids survive the round trip and match
    rc, out, err = cli(capsys, "solve", "--no-bound", str(path), "--method", "gucaa", "-o", str(tmp_path / "sol.xlsx"))
    assert rc == 0, err
    sol = read_solution(tmp_path / "sol.xlsx", back)
    assert sol.user_ids == back.user_ids
    rc, out, err = cli(capsys, "evaluate", str(path), str(tmp_path / "sol.xlsx"))
    assert rc == 0 and err == ""
    assert path.read_bytes() == before


def test_numeric_looking_ids_match_across_sheets(tmp_path, sc):
    s = with_ids(sc, [1, 2, 3], [10, 20],
                 channel_users=["1", 1.0, " 2 ", "2.0", 3, "+3"], channel_servers=[10.0, "20", "10", 20, " 10.0", 20.0])
    path = tmp_path / "mixed.xlsx"
    write_sheets(path, s)
    back = lm.read_scenario(path)
    assert back.user_ids == (1, 2, 3) and back.server_ids == (10, 20)
    np.testing.assert_allclose(back.gain, sc.gain, rtol=1e-14)
    # text '1' on sheet users is the same id as the number 1 on sheet channels
    s2 = with_ids(sc, ["1", "2", "3"], ["10", "20"], channel_users=[1, 1, 2, 2, 3, 3], channel_servers=[10, 20] * 3)
    write_sheets(path, s2)
    assert lm.read_scenario(path).user_ids == (1, 2, 3)


def test_leading_zeros_are_text_and_do_not_match_the_number(tmp_path, sc):
    s = with_ids(sc, ["01", "02", "03"], ["a", "b"])
    write_sheets(tmp_path / "z.xlsx", s)
    assert lm.read_scenario(tmp_path / "z.xlsx").user_ids == ("01", "02", "03")
    s = with_ids(sc, ["01", "02", "03"], ["a", "b"], channel_users=[1, 1, 2, 2, 3, 3])
    write_sheets(tmp_path / "z.xlsx", s)
    with pytest.raises(lm.InputError, match="unknown user 1") as info:
        lm.read_scenario(tmp_path / "z.xlsx")
    assert info.value.sheet == "channels" and info.value.row == 2


def test_one_and_one_point_zero_are_duplicates(tmp_path, sc):
    s = with_ids(sc, [1, "1.0", 3], ["a", "b"])
    write_sheets(tmp_path / "d.xlsx", s)
    with pytest.raises(lm.InputError, match="duplicate id") as info:
        lm.read_scenario(tmp_path / "d.xlsx")
    assert info.value.sheet == "users" and info.value.row == 3 and info.value.column == "user"


def test_truly_empty_id_is_still_empty(tmp_path, sc, capsys):
    s = with_ids(sc, ["a", None, "c"], ["x", "y"])
    path = tmp_path / "e.xlsx"
    write_sheets(path, s)
    rc, out, err = cli(capsys, "validate", str(path))
    assert rc == 2
    assert_one_line(err, str(path), "sheet 'users'", "row 3", "column 'user'", "id is empty")


@pytest.mark.parametrize("sheet,row,column", [("users", 3, "p_max_w"), ("servers", 2, "bandwidth_hz"), ("channels", 5, "gain"),
                                              ("system", 4, "value")])
@pytest.mark.parametrize("text", ["NA", "null", "None", "#N/A"])
def test_na_text_in_a_numeric_column_is_not_a_number(tmp_path, sc, capsys, sheet, row, column, text):
    s = sheets_of(sc)
    df = s[sheet].astype({column: object})
    df.loc[row - 2, column] = text
    s[sheet] = df
    path = tmp_path / "na.xlsx"
    write_sheets(path, s)
    with pytest.raises(lm.InputError) as info:
        lm.read_scenario(path)
    e = info.value
    assert (e.sheet, e.row, e.column) == (sheet, row, column)
    assert "not a number" in str(e) and repr(text) in str(e)
    rc, out, err = cli(capsys, "validate", str(path))
    assert rc == 2
    assert_one_line(err, str(path), f"sheet '{sheet}'", f"row {row}", f"column '{column}'", "not a number")


def test_a_formula_without_a_saved_value_is_named_not_called_empty(tmp_path, sc, capsys):
    """openpyxl writes a formula without its value; a data-only read sees the cell as empty.  The message says which
    formula it is and what to do; a truly empty cell keeps its own message."""
    path = tmp_path / "formula.xlsx"
    write_sheets(path, sheets_of(sc))
    wb = openpyxl.load_workbook(path)
    ws = wb["users"]
    k = [c.value for c in ws[1]].index("p_max_w") + 1
    ws.cell(row=3, column=k, value="=0.1*2")
    wb.save(path)
    rc, out, err = cli(capsys, "validate", str(path))
    assert rc == 2
    assert_one_line(err, "sheet 'users'", "row 3", "column 'p_max_w'", "holds the formula '=0.1*2' with no saved value")
    ws.cell(row=3, column=k).value = None
    wb.save(path)
    rc, out, err = cli(capsys, "validate", str(path))
    assert rc == 2
    assert_one_line(err, "row 3", "column 'p_max_w'", "value is empty; a number is required")


# ---------------------------------------------------------------------------------------------
# duplicated headers
# ---------------------------------------------------------------------------------------------


def write_with_duplicate_header(path, sheets, sheet, column):
    write_sheets(path, sheets)
    wb = openpyxl.load_workbook(path)
    ws = wb[sheet]
    col = ws.max_column + 1
    ws.cell(row=1, column=col, value=column)
    for r in range(2, ws.max_row + 1):
        ws.cell(row=r, column=col, value=ws.cell(row=r, column=2).value)
    wb.save(path)
    return openpyxl.utils.get_column_letter(col)


@pytest.mark.parametrize("sheet,column", [("users", "adapter_params"), ("servers", "server"), ("channels", "gain"),
                                          ("system", "value"), ("users", "comment")])
def test_duplicated_header_is_rejected(tmp_path, sc, capsys, sheet, column):
    s = sheets_of(sc)
    if column == "comment":
        s["users"] = s["users"].assign(comment="x")
    path = tmp_path / "dup.xlsx"
    letter = write_with_duplicate_header(path, s, sheet, column)
    with pytest.raises(lm.InputError) as info:
        lm.read_scenario(path)
    e = info.value
    assert (e.sheet, e.row, e.column) == (sheet, 1, column)
    assert "2 times" in str(e) and letter in str(e)
    rc, out, err = cli(capsys, "solve", "--no-bound", str(path), "--method", "gucaa")
    assert rc == 2 and out == ""
    assert_one_line(err, str(path), f"sheet '{sheet}'", f"column '{column}'", "unique")


def test_duplicated_header_in_a_solution_workbook(tmp_path, sc, capsys):
    lm.write_scenario(sc, tmp_path / "s.xlsx")
    sol = lm.solve(sc, method="gucaa")
    write_solution(sol, tmp_path / "sol.xlsx", sc)
    wb = openpyxl.load_workbook(tmp_path / "sol.xlsx")
    ws = wb["links"]
    ws.cell(row=1, column=ws.max_column + 1, value="bandwidth_hz")
    wb.save(tmp_path / "sol.xlsx")
    rc, out, err = cli(capsys, "evaluate", str(tmp_path / "s.xlsx"), str(tmp_path / "sol.xlsx"))
    assert rc == 2
    assert_one_line(err, "sol.xlsx", "sheet 'links'", "column 'bandwidth_hz'")


def test_an_extra_sheet_with_duplicated_headers_is_ignored(tmp_path, sc):
    s = sheets_of(sc)
    s["notes"] = pd.DataFrame([[1, 2]], columns=["x", "x"])
    write_sheets(tmp_path / "n.xlsx", s)
    assert lm.read_scenario(tmp_path / "n.xlsx").n_users == 3


# ---------------------------------------------------------------------------------------------
# files that are not plain .xlsx workbooks
# ---------------------------------------------------------------------------------------------


def fake_encrypted(path):
    """What an encrypted .xlsx looks like: an OLE2 (Compound File Binary) container."""
    header = OLE2_MAGIC + bytes(16) + b"\x3e\x00\x03\x00\xfe\xff\x09\x00\x06\x00" + bytes(22)
    path.write_bytes(header + bytes(512 - len(header)) + "EncryptedPackage".encode("utf-16-le") + bytes(1024))


def zip_without_workbook(path):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("word/document.xml", "<w:document/>")


def truncated(path, data_dir):
    path.write_bytes((data_dir / "toy_3x2.xlsx").read_bytes()[:700])


@pytest.mark.parametrize("kind,words", [
    ("encrypted", "is encrypted or password-protected (an OLE2 container, not a plain .xlsx)"),
    ("empty", "is empty (0 bytes)"),
    ("zip without workbook", "without xl/workbook.xml"),
    ("truncated", "cannot read as an .xlsx workbook"),
    ("text", "not a ZIP archive"),
])
@pytest.mark.parametrize("command", ["validate", "solve", "evaluate"])
def test_not_a_plain_xlsx_is_one_line_naming_the_file(tmp_path, data_dir, capsys, kind, words, command):
    path = tmp_path / "broken.xlsx"
    if kind == "encrypted":
        fake_encrypted(path)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "zip without workbook":
        zip_without_workbook(path)
    elif kind == "truncated":
        truncated(path, data_dir)
    else:
        path.write_text("user,server\n1,2\n")
    before = path.read_bytes()
    with pytest.raises(lm.InputError, match=words.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        lm.read_scenario(path)
    argv = {"validate": ["validate", str(path)], "solve": ["solve", "--no-bound", str(path), "--method", "gucaa"],
            "evaluate": ["evaluate", str(data_dir / "toy_3x2.xlsx"), str(path)]}[command]
    rc, out, err = cli(capsys, *argv)
    assert rc == 2
    assert_one_line(err, str(path), words)
    assert "RuntimeError" not in err
    assert path.read_bytes() == before


# ---------------------------------------------------------------------------------------------
# llmmec evaluate: stored versus recomputed
# ---------------------------------------------------------------------------------------------


def tamper_stored_scr(path, factor):
    wb = openpyxl.load_workbook(path)
    ws = wb["summary"]
    for r in range(2, ws.max_row + 1):
        if ws.cell(row=r, column=1).value == "scr":
            ws.cell(row=r, column=2).value = ws.cell(row=r, column=2).value * factor
    wb.save(path)


@pytest.mark.parametrize("factor,warned", [(1.0, False), (1 + 1e-9, False), (1.01, True), (0.5, True)])
def test_evaluate_labels_stored_and_recomputed(tmp_path, sc, capsys, factor, warned):
    lm.write_scenario(sc, tmp_path / "s.xlsx")
    sol = lm.solve(sc, method="gucaa")
    write_solution(sol, tmp_path / "sol.xlsx", sc)
    tamper_stored_scr(tmp_path / "sol.xlsx", factor)
    rc, out, err = cli(capsys, "evaluate", str(tmp_path / "s.xlsx"), str(tmp_path / "sol.xlsx"))
    assert rc == 0  # feasibility decides the exit status, not the stored SCR
    for label in ("stored status", "stored SCR", "stored wall time", "stored method", "recomputed SCR", "recomputed delay"):
        assert label in out, label
    line = next(ln for ln in out.splitlines() if "recomputed SCR" in ln)
    assert f"{sol.evaluation.scr:.6g}" in line
    if warned:
        assert err.count("\n") == 1 and err.startswith("warning:") and "stored SCR" in err and "differs" in err
    else:
        assert err == ""


def test_evaluate_infeasible_still_exits_1_with_labels(tmp_path, sc, capsys):
    lm.write_scenario(sc, tmp_path / "s.xlsx")
    sol = lm.solve(sc, method="gucaa")
    write_solution(sol, tmp_path / "sol.xlsx", sc)
    wb = openpyxl.load_workbook(tmp_path / "sol.xlsx")
    ws = wb["users"]
    col = [c.value for c in ws[1]].index("p_w") + 1
    ws.cell(row=2, column=col).value = 1e3  # far above p_max
    wb.save(tmp_path / "sol.xlsx")
    rc, out, err = cli(capsys, "evaluate", str(tmp_path / "s.xlsx"), str(tmp_path / "sol.xlsx"))
    assert rc == 1 and "stored SCR" in out and "violation:" in out
    assert "differs from the recomputed SCR" in err

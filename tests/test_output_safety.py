"""Output paths are checked before any work (issue 14): exit 2, one line, inputs untouched, no file left behind."""

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import pyomo_llmmec as lm
import pyomo_llmmec.io as lio
import pyomo_llmmec.methods as lmethods
from pyomo_llmmec.cli import main
from pyomo_llmmec.errors import LLMMECError, OutputError

LLMMEC = Path(sys.executable).with_name("llmmec")


@pytest.fixture
def work(tmp_path, data_dir, monkeypatch):
    """A directory holding a copy of the toy scenario, as the current directory."""
    shutil.copy(data_dir / "toy_3x2.xlsx", tmp_path / "in.xlsx")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def no_solve(monkeypatch):
    """Any solve is a test failure: the output check must come first."""

    def boom(*a, **k):
        raise AssertionError("solved before the output path was checked")

    monkeypatch.setattr(lmethods, "solve", boom)
    import pyomo_llmmec.compare as lcompare

    monkeypatch.setattr(lcompare, "solve", boom)


def listing(d):
    return sorted(p.relative_to(d).as_posix() for p in Path(d).rglob("*"))


def one_line_error(capsys, *words):
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    for w in words:
        assert w in err, (w, err)
    return err


def make_read_only_dir(d):
    d.mkdir()
    d.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    return d


@pytest.fixture
def cleanup_modes():
    made = []
    yield made
    for p in made:
        os.chmod(p, 0o755)


# ---------------------------------------------------------------------------------------------
# the output is the input
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["same", "dot", "absolute", "symlink", "hardlink"])
@pytest.mark.parametrize("command", ["solve", "compare"])
def test_output_that_is_the_input_is_refused(work, no_solve, capsys, how, command):
    before = (work / "in.xlsx").read_bytes()
    out = {"same": "in.xlsx", "dot": "./in.xlsx", "absolute": str(work / "in.xlsx"), "symlink": "link.xlsx",
           "hardlink": "hard.xlsx"}[how]
    if how == "symlink":
        os.symlink("in.xlsx", work / "link.xlsx")
    if how == "hardlink":
        os.link(work / "in.xlsx", work / "hard.xlsx")
    files = listing(work)
    extra = ["--no-bound", "--method", "gucaa"] if command == "solve" else ["--no-bound", "--methods", "gucaa"]
    assert main([command, "in.xlsx", *extra, "-o", out]) == 2
    one_line_error(capsys, out.lstrip("./") if how == "dot" else out, "same file as the input")
    assert (work / "in.xlsx").read_bytes() == before
    assert listing(work) == files  # no output, no temporary file


def test_subprocess_solve_onto_its_input_exits_2_and_keeps_it(work):
    before = (work / "in.xlsx").read_bytes()
    r = subprocess.run([str(LLMMEC), "solve", "--no-bound", "in.xlsx", "--method", "gucaa", "-o", "./in.xlsx"],
                       capture_output=True, text=True, cwd=work)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr and "in.xlsx" in r.stderr
    assert r.stdout == ""  # nothing was solved
    assert (work / "in.xlsx").read_bytes() == before


# ---------------------------------------------------------------------------------------------
# unwritable outputs
# ---------------------------------------------------------------------------------------------


def bad_outputs(work, cleanup_modes):
    """name -> (output path, words of the message)."""
    (work / "adir.xlsx").mkdir()
    ro = make_read_only_dir(work / "ro")
    cleanup_modes.append(ro)
    rof = work / "rofile.xlsx"
    rof.write_bytes(b"keep me")
    rof.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    cleanup_modes.append(rof)
    return {
        "directory": ("adir.xlsx", "is a directory"),
        "read-only directory": ("ro/out.xlsx", "read-only"),
        "read-only file": ("rofile.xlsx", "read-only file"),
        "missing directory": ("nowhere/out.xlsx", "does not exist"),
        "parent is a file": ("in.xlsx/out.xlsx", "not a directory"),
    }


@pytest.mark.parametrize("case", ["directory", "read-only directory", "read-only file", "missing directory", "parent is a file"])
@pytest.mark.parametrize("command", ["solve", "compare", "generate"])
def test_unwritable_output_is_refused_before_any_work(work, no_solve, capsys, cleanup_modes, case, command):
    out, words = bad_outputs(work, cleanup_modes)[case]
    before = {p: (work / p).read_bytes() for p in ("in.xlsx", "rofile.xlsx")}
    files = listing(work)
    argv = {"solve": ["solve", "--no-bound", "in.xlsx", "--method", "gucaa"], "compare": ["compare", "--no-bound", "in.xlsx", "--methods", "gucaa"],
            "generate": ["generate", "--users", "3", "--servers", "2"]}[command]
    assert main([*argv, "-o", out]) == 2
    one_line_error(capsys, out, words)
    assert capsys.readouterr().out == ""
    assert {p: (work / p).read_bytes() for p in before} == before
    assert listing(work) == files


def test_check_output_path_api(work, cleanup_modes):
    outs = bad_outputs(work, cleanup_modes)
    for out, words in outs.values():
        with pytest.raises(OutputError, match=words):
            lio.check_output_path(out)
    assert lio.check_output_path("fresh.xlsx", inputs=["in.xlsx"]) == Path("fresh.xlsx")
    with pytest.raises(OutputError, match="same file"):
        lio.check_output_path(work / "sub" / ".." / "in.xlsx", inputs=["in.xlsx"])
    # write_sheets checks too, before building anything
    with pytest.raises(OutputError, match="is a directory"):
        lio.write_sheets("adir.xlsx", {"a": None})


# ---------------------------------------------------------------------------------------------
# results are printed before the file is written
# ---------------------------------------------------------------------------------------------


def test_summary_is_printed_before_a_late_write_failure(work, capsys, monkeypatch):
    def fail(*a, **k):
        raise OutputError("cannot write (No space left on device)", path="out.xlsx")

    monkeypatch.setattr(lio, "write_solution", fail)
    assert main(["solve", "--no-bound", "in.xlsx", "--method", "gucaa", "-o", "out.xlsx"]) == 2
    cap = capsys.readouterr()
    assert "SCR" in cap.out and "feasible" in cap.out and "wrote" not in cap.out
    assert cap.err.count("\n") == 1 and "No space left" in cap.err
    assert not (work / "out.xlsx").exists()


def test_os_error_during_write_is_one_line_and_leaves_no_temporary(work, capsys, monkeypatch):
    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(lio.os, "replace", full)
    files = listing(work)
    assert main(["solve", "--no-bound", "in.xlsx", "--method", "gucaa", "-o", "out.xlsx"]) == 2
    cap = capsys.readouterr()
    assert "SCR" in cap.out
    one_err = cap.err
    assert one_err.count("\n") == 1 and "out.xlsx" in one_err and "No space left" in one_err and "internal" not in one_err
    assert listing(work) == files


def test_good_output_is_written(work, capsys):
    assert main(["solve", "--no-bound", "in.xlsx", "--method", "gucaa", "-o", "out.xlsx"]) == 0
    out = capsys.readouterr().out
    assert out.index("SCR") < out.index("wrote out.xlsx")
    sc = lm.read_scenario("in.xlsx")
    sol = lio.read_solution("out.xlsx", sc)
    assert sol.method == "gucaa"


# ---------------------------------------------------------------------------------------------
# llmmec experiment -o DIR
# ---------------------------------------------------------------------------------------------


def test_experiment_output_that_is_a_file_or_unwritable(work, capsys, cleanup_modes, monkeypatch):
    import pyomo_llmmec.experiments.pipeline as pipeline

    def boom(*a, **k):
        raise AssertionError("the experiment ran before its output was checked")

    monkeypatch.setattr(pipeline, "run_experiment", boom)
    ro = make_read_only_dir(work / "ro")
    cleanup_modes.append(ro)
    files = listing(work)
    for out, words in (("in.xlsx", "is a file"), ("ro/results", "read-only"), ("in.xlsx/sub", "not a directory")):
        assert main(["experiment", "baselines", "--seeds", "1", "-q", "-o", out]) == 2
        one_line_error(capsys, out, words)
    assert listing(work) == files


def test_unreachable_scheduler_leaves_no_empty_directory(work, capsys, monkeypatch):
    import pyomo_llmmec.experiments.runner as runner

    calls = []

    def unreachable(workers=2, scheduler=None, client=None):
        calls.append(scheduler)
        raise LLMMECError(f"cannot connect to the Dask scheduler at {scheduler}: timed out")

    monkeypatch.setattr(runner, "dask_client", unreachable)
    (work / "kept").mkdir()
    argv = ["experiment", "baselines", "--seeds", "1", "-q", "--users", "3", "--servers", "2", "--methods", "gucaa",
            "--scheduler", "tcp://127.0.0.1:9"]
    assert main([*argv, "-o", "new/deeper"]) == 1
    assert "cannot connect" in one_line_error(capsys)
    assert calls == ["tcp://127.0.0.1:9"]
    assert not (work / "new").exists()
    # a directory that existed before is kept (empty or not)
    assert main([*argv, "-o", "kept"]) == 1
    capsys.readouterr()
    assert (work / "kept").is_dir() and listing(work / "kept") == []


def test_written_files_get_ordinary_permissions(work, capsys):
    old = os.umask(0o022)
    try:
        assert main(["generate", "--users", "3", "--servers", "2", "-o", "g.xlsx"]) == 0
        assert stat.S_IMODE(os.stat("g.xlsx").st_mode) == 0o644  # not mkstemp's 0600
        os.chmod("g.xlsx", 0o640)
        assert main(["generate", "--users", "3", "--servers", "2", "--seed", "1", "-o", "g.xlsx"]) == 0
        assert stat.S_IMODE(os.stat("g.xlsx").st_mode) == 0o640  # an overwritten file keeps its mode
    finally:
        os.umask(old)
    capsys.readouterr()


def test_closed_stdout_does_not_stop_the_write(work):
    """`llmmec solve ... -o out.xlsx | true`: the summary goes first, the pipe is gone, the file is still written."""
    p = subprocess.Popen([str(LLMMEC), "solve", "--no-bound", "in.xlsx", "--method", "gucaa", "-o", "out.xlsx"], cwd=work,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # long before the child prints anything
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 0, err
    assert "Traceback" not in err
    assert lio.read_solution(work / "out.xlsx", lm.read_scenario(work / "in.xlsx")).method == "gucaa"


def test_highs_prints_no_banner_on_stdout():
    """HiGHS's constructor prints its banner on file descriptor 1 the first time in a process (before output_flag can
    be set): `solvers.new_highs` hides it, so the lp route's summary on stdout is the summary only."""
    code = ("from pyomo_llmmec.solvers import new_highs\n"
            "h = new_highs(solver='simplex')\n"
            "print('after', h.getOptionValue('output_flag')[1])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "after False\n"

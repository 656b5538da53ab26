"""`llmmec export` / pyomo_llmmec.export: the MINLP (3) written with Pyomo's writers."""

import math
import os
import re
import shutil

import pyomo.environ as pe
import pytest

import pyomo_llmmec as lm
from pyomo_llmmec.cli import main
from pyomo_llmmec.errors import InputError, OutputError
from pyomo_llmmec.export import export_model

from conftest import DATA


@pytest.fixture
def work(tmp_path, monkeypatch):
    shutil.copy(DATA / "toy_3x2.xlsx", tmp_path / "in.xlsx")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def model_counts(sc, **kw):
    m = lm.build_model(sc, **kw)
    n_var = sum(1 for _ in m.component_data_objects(pe.Var))
    n_con = sum(1 for _ in m.component_data_objects(pe.Constraint, active=True))
    n_eq = sum(1 for c in m.component_data_objects(pe.Constraint, active=True) if c.equality)
    return m, n_var, n_con, n_eq


def _gams_equations(text):
    block = re.search(r"^EQUATIONS\s*(.*?);", text, re.S | re.M).group(1)
    return block.split()


def _baron_equations(text):
    line = re.search(r"^EQUATIONS (.*?);", text, re.S | re.M).group(1)
    return [e.strip() for e in line.split(",")]


def test_nl_reads_back_with_pynumero(work, toy, capsys):
    from pyomo.contrib.pynumero.asl import AmplInterface

    if not AmplInterface.available():
        pytest.skip("PyNumero's ASL library is not built")
    from pyomo.contrib.pynumero.interfaces.ampl_nlp import AmplNLP

    assert main(["export", "in.xlsx", "--format", "nl", "-o", "toy.nl"]) == 0
    _, n_var, n_con, n_eq = model_counts(toy)
    out = capsys.readouterr().out
    assert f"{n_var} variables" in out and f"{n_con} constraints" in out
    nlp = AmplNLP(str(work / "toy.nl"))
    assert nlp.n_primals() == n_var
    assert nlp.n_constraints() == n_con
    assert nlp.n_eq_constraints() == n_eq
    assert not list(work.glob(".toy.nl*"))  # no temporary left


def test_nl_objective_matches_model_at_given_y(work, toy):
    from pyomo.contrib.pynumero.asl import AmplInterface

    if not AmplInterface.available():
        pytest.skip("PyNumero's ASL library is not built")
    from pyomo.contrib.pynumero.interfaces.ampl_nlp import AmplNLP
    from pyomo.contrib.pynumero.interfaces.pyomo_nlp import PyomoNLP

    y = 3.25
    stats = export_model(toy, work / "y.nl", "nl", y=y)
    assert stats.y == y and stats.form == "dinkelbach"
    nlp = AmplNLP(str(work / "y.nl"))
    m = lm.build_model(toy, y=y)
    ref = PyomoNLP(m)  # writes the same model through Pyomo's NL writer in memory
    assert nlp.n_primals() == ref.n_primals()
    # objective at the file's own initial point vs the model's (same order: Pyomo's writer both times)
    nlp.set_primals(nlp.init_primals())
    ref.set_primals(ref.init_primals())
    assert math.isclose(nlp.evaluate_objective(), ref.evaluate_objective(), rel_tol=1e-12)
    # a different y changes the file's objective
    export_model(toy, work / "y2.nl", "nl", y=2 * y)
    nlp2 = AmplNLP(str(work / "y2.nl"))
    nlp2.set_primals(nlp2.init_primals())
    assert not math.isclose(nlp2.evaluate_objective(), nlp.evaluate_objective(), rel_tol=1e-9)


def test_gms_has_one_equation_per_constraint_plus_the_objective(work, toy, capsys):
    assert main(["export", "in.xlsx", "--format", "gms", "-o", "toy.gms", "--y", "5"]) == 0
    _, n_var, n_con, _ = model_counts(toy)
    text = (work / "toy.gms").read_text()
    eqs = _gams_equations(text)
    assert len(eqs) == n_con + 1  # Pyomo's GAMS writer defines the objective by one more equation
    assert eqs[-1] == "obj"
    assert "SOLVE GAMS_MODEL USING minlp maximizing GAMS_OBJECTIVE" in text
    n_bin = len(re.search(r"^BINARY VARIABLES\s*(.*?);", text, re.S | re.M).group(1).split())
    assert n_bin == sum(1 for n in toy.user_ids for s in toy.server_ids)


def test_bar_is_written_with_every_constraint(work, toy):
    stats = export_model(toy, work / "toy.bar", "bar", ratio=True)
    _, n_var, n_con, _ = model_counts(toy, form="ratio")
    assert (stats.variables, stats.constraints, stats.form, stats.y) == (n_var, n_con, "ratio", None)
    text = (work / "toy.bar").read_text()
    assert text.strip()
    eqs = [e for e in _baron_equations(text) if "ONE_VAR_CONST" not in e]  # Pyomo adds a constant-fixing row
    assert len(eqs) == n_con
    assert "OBJ: maximize" in text


def test_default_format_from_suffix_and_stats(work, toy):
    stats = export_model(toy, "auto.gms")
    m, n_var, n_con, _ = model_counts(toy)
    assert (stats.format, stats.variables, stats.constraints) == ("gms", n_var, n_con)
    assert math.isclose(stats.y, pe.value(m.y), rel_tol=1e-15)  # default y: the model's own


def test_lp_is_refused_with_one_line(work, capsys):
    assert main(["export", "in.xlsx", "--format", "lp", "-o", "toy.lp"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "LP format" in err[0] and "logarithms" in err[0]
    assert not os.path.exists("toy.lp")
    with pytest.raises(InputError, match="LP"):
        export_model(lm.read_scenario("in.xlsx"), "x.lp", "lp")


def test_pyomo_cannot_write_the_model_as_lp(toy, tmp_path):
    """Why lp is refused: Pyomo's LP writer rejects (3) itself."""
    m = lm.build_model(toy)
    with pytest.raises(Exception, match="nonlinear"):
        m.write(str(tmp_path / "m.lp"), format="lp")


@pytest.mark.parametrize("out", ["in.xlsx", "link.nl"])
def test_output_onto_the_input_exits_2(work, capsys, out):
    if out == "link.nl":
        os.symlink("in.xlsx", "link.nl")
    before = (work / "in.xlsx").read_bytes()
    assert main(["export", "in.xlsx", "--format", "nl", "-o", out]) == 2
    assert "same file as the input" in capsys.readouterr().err
    assert (work / "in.xlsx").read_bytes() == before
    with pytest.raises(OutputError):
        export_model(lm.read_scenario("in.xlsx"), out, "nl", inputs=["in.xlsx"])


@pytest.mark.parametrize("argv, needle", [
    (["--format", "nl", "-o", "x.gms"], "must be a .nl file"),
    (["--format", "bar", "-o", "nodir/x.bar"], "nodir"),
    (["-o", "x.txt"], "cannot tell the format"),
    (["--y", "nan", "-o", "x.nl"], "finite"),
    (["--y", "-1", "-o", "x.nl"], ">= 0"),
])
def test_bad_arguments_exit_2_before_writing(work, capsys, argv, needle):
    assert main(["export", "in.xlsx", *argv]) == 2
    assert needle in capsys.readouterr().err
    assert sorted(p.name for p in work.iterdir()) == ["in.xlsx"]


def test_y_and_ratio_are_exclusive(work, capsys):
    assert main(["export", "in.xlsx", "--y", "1", "--ratio", "-o", "x.nl"]) == 2
    with pytest.raises(InputError):
        export_model(lm.read_scenario("in.xlsx"), "x.nl", y=1.0, ratio=True)

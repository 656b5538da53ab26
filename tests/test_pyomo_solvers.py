"""The methods as Pyomo solvers: SolverFactory('llmmec.<method>') (pyomo_llmmec.pyomo_solvers)."""

import dataclasses
import math
import subprocess
import sys

import numpy as np
import pyomo.environ as pe
import pytest
from pyomo.opt import SolverStatus, TerminationCondition as TC

import pyomo_llmmec as lm
import pyomo_llmmec.methods as lmethods
from pyomo_llmmec import pyomo_solvers
from pyomo_llmmec.methods.options import SolveOptions
from pyomo_llmmec.model.full import extract_solution
from pyomo_llmmec.solvers import available

from conftest import DATA

needs_dashf = pytest.mark.skipif(not (available("ipopt") and available("highs")), reason="needs Ipopt and HiGHS")


@pytest.fixture(scope="module")
def instances():
    return {
        "toy_3x2": lm.read_scenario(DATA / "toy_3x2.xlsx"),
        "gen_3x2_s1": lm.generate_scenario(3, 2, seed=1),
        "gen_4x2_s2": lm.generate_scenario(4, 2, seed=2),
    }


def test_every_method_is_registered_on_import():
    code = ("import pyomo_llmmec, sys; from pyomo.opt import SolverFactory; "
            "print(sorted(n for n in SolverFactory if n.startswith('llmmec.'))); "
            "print('pyomo.environ' in sys.modules, 'pyomo_llmmec.methods' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == str(sorted("llmmec." + m for m in lmethods.METHOD_NAMES))
    assert out[1] == "False False"  # registration stays light: neither pyomo.environ nor the methods are imported
    for m in lmethods.METHOD_NAMES:
        opt = pe.SolverFactory("llmmec." + m)
        assert isinstance(opt, pyomo_solvers.LLMMECSolver) and opt.method == m and opt.name == "llmmec." + m


def test_dashf_available_as_in_the_brief():
    out = subprocess.run([sys.executable, "-c", "import pyomo_llmmec, pyomo.environ as pe; "
                          "print(pe.SolverFactory('llmmec.dashf').available())"], capture_output=True, text=True, check=True)
    expected = all(available(r) for r in ("ipopt", "highs", "sdp"))
    assert out.stdout.strip() == str(expected)


def test_config_is_generated_from_solve_options():
    cfg = pe.SolverFactory("llmmec.dashf").CONFIG
    fields = dataclasses.fields(SolveOptions)
    assert set(cfg.keys()) == {f.name for f in fields} | set(pyomo_solvers.PYOMO_KWARGS)
    defaults = SolveOptions()
    for f in fields:
        assert cfg[f.name] == getattr(defaults, f.name), f.name
        assert type(cfg[f.name]) is type(getattr(defaults, f.name)), f.name
        assert cfg.get(f.name)._doc == f.metadata["doc"]  # ConfigValue keeps its doc there
    # domains follow the metadata: choices, positivity, whole numbers
    for name, bad in (("assoc", "simplex"), ("start", "random"), ("tol", 0), ("max_iter", 2.5), ("seed", -1), ("time_limit", -1.0)):
        with pytest.raises(ValueError):
            cfg({name: bad})
    assert cfg({"max_iter": 7.0}).max_iter == 7 and cfg({"time_limit": 5}).time_limit == 5.0
    assert "part2_tol" in pe.SolverFactory("llmmec.gucaa").solve.__doc__  # the options are documented


def test_model_without_scenario_and_unknown_option_raise(toy):
    m = pe.ConcreteModel()
    m.x = pe.Var()
    with pytest.raises(ValueError, match="scenario"):
        pe.SolverFactory("llmmec.gucaa").solve(m)
    model = lm.build_model(toy)
    with pytest.raises(ValueError, match="no_such_option"):
        pe.SolverFactory("llmmec.gucaa").solve(model, no_such_option=1)
    with pytest.raises(ValueError):
        pe.SolverFactory("llmmec.dashf").solve(model, assoc="simplex")
    with pytest.raises(ValueError):
        pe.SolverFactory("llmmec.gucaa").solve(model, options={"nope": 2})


def _check_same(sc, method, **opts):
    model = lm.build_model(sc)
    opt = pe.SolverFactory("llmmec." + method)
    res = opt.solve(model, **opts)
    ref = lm.solve(sc, method, **opts)
    got = opt.last_solution
    np.testing.assert_array_equal(got.assignment, ref.assignment)
    assert math.isclose(got.scr, ref.scr, rel_tol=1e-9)
    assert math.isclose(res.problem.lower_bound, ref.scr, rel_tol=1e-9)
    # the model's variables hold the solution
    x = np.array([[pe.value(model.x[n, s]) for s in sc.server_ids] for n in sc.user_ids])
    np.testing.assert_array_equal(x, ref.x)
    back = lm.evaluate(sc, extract_solution(model))
    assert back.feasible
    assert math.isclose(back.scr, ref.scr, rel_tol=1e-9)
    return res, ref


@pytest.mark.parametrize("name", ["toy_3x2", "gen_3x2_s1", "gen_4x2_s2"])
def test_gucaa_pyomo_route_equals_solve(instances, name):
    res, ref = _check_same(instances[name], "gucaa")
    assert res.solver.termination_condition == TC.feasible and res.solver.status == SolverStatus.ok
    assert res.solver.name == "llmmec.gucaa" and res.problem.upper_bound == math.inf


@needs_dashf
@pytest.mark.parametrize("name", ["toy_3x2", "gen_3x2_s1", "gen_4x2_s2"])
def test_dashf_milp_pyomo_route_equals_solve(instances, name):
    res, ref = _check_same(instances[name], "dashf", assoc="milp", time_limit=60)
    expected = {"converged": TC.locallyOptimal, "iteration_limit": TC.maxIterations, "time_limit": TC.maxTimeLimit}[ref.status]
    assert res.solver.termination_condition == expected
    assert res.solver.iterations == ref.info["outer_iterations"]
    assert res.solver.wallclock_time > 0 and "SCR" in res.solver.message


@needs_dashf
def test_limits_map_to_pyomo_conditions(toy):
    model = lm.build_model(toy)
    opt = pe.SolverFactory("llmmec.dashf")
    res = opt.solve(model, assoc="milp", time_limit=1e-9)
    assert opt.last_solution.status == "time_limit"
    assert (res.solver.termination_condition, res.solver.status) == (TC.maxTimeLimit, SolverStatus.warning)
    res = opt.solve(model, assoc="milp", max_iter=1, tol=1e-12)
    assert opt.last_solution.status == "iteration_limit"
    assert (res.solver.termination_condition, res.solver.status) == (TC.maxIterations, SolverStatus.warning)


def test_solve_failed_gives_error_results_and_other_errors_propagate(toy, monkeypatch):
    model = lm.build_model(toy)
    before = [pe.value(v) for v in model.component_data_objects(pe.Var)]
    res = pe.SolverFactory("llmmec.lns").solve(model, lns_starts="no_such_method")
    assert res.solver.termination_condition == TC.error and res.solver.status == SolverStatus.error
    assert "bad_option" in res.solver.message
    assert [pe.value(v) for v in model.component_data_objects(pe.Var)] == before  # nothing loaded

    def broken(*a, **k):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(lmethods, "solve", broken)
    with pytest.raises(ZeroDivisionError):
        pe.SolverFactory("llmmec.gucaa").solve(model)


# the mapping of the brief, stated independently of pyomo_solvers.TERMINATION
SPEC = {
    "optimal": (TC.optimal, SolverStatus.ok),
    "converged": (TC.locallyOptimal, SolverStatus.ok),
    "local_optimum": (TC.locallyOptimal, SolverStatus.ok),
    "time_limit": (TC.maxTimeLimit, SolverStatus.warning),
    "iteration_limit": (TC.maxIterations, SolverStatus.warning),
    "evaluated": (TC.feasible, SolverStatus.ok),
}


@pytest.mark.parametrize("status", sorted(SPEC))
def test_termination_mapping(toy, monkeypatch, status):
    real = lmethods.solve

    def fake(sc, method, **opts):
        sol = real(sc, "gucaa")
        sol.status = status
        sol.info = {"bound": sol.scr * 1.5, "outer_iterations": 4} if status == "optimal" else {}
        return sol

    monkeypatch.setattr(lmethods, "solve", fake)
    res = pe.SolverFactory("llmmec.global").solve(lm.build_model(toy))
    assert (res.solver.termination_condition, res.solver.status) == SPEC[status]
    if status == "optimal":
        assert math.isclose(res.problem.upper_bound, 1.5 * res.problem.lower_bound, rel_tol=1e-12)
        assert res.solver.iterations == 4


def test_load_solutions_false_leaves_the_model_alone(toy):
    model = lm.build_model(toy)
    before = [pe.value(v) for v in model.component_data_objects(pe.Var)]
    opt = pe.SolverFactory("llmmec.rucaa", seed=3)  # options at construction are the solver's defaults
    res = opt.solve(model, load_solutions=False)
    assert res.solver.termination_condition == TC.feasible
    assert [pe.value(v) for v in model.component_data_objects(pe.Var)] == before
    assert opt.last_solution.info["seed"] == 3
    ref = lm.solve(toy, "rucaa", seed=3)
    np.testing.assert_array_equal(opt.last_solution.assignment, ref.assignment)


def test_tee_prints_progress(toy, capsys):
    pe.SolverFactory("llmmec.gucaa").solve(lm.build_model(toy), tee=True)  # no progress to show, but accepted
    if available("ipopt"):
        pe.SolverFactory("llmmec.gucro").solve(lm.build_model(toy), tee=True, max_iter=1)
        assert "[gucro]" in capsys.readouterr().out


def test_requirements_and_availability():
    assert pyomo_solvers.requirements("gucaa") == ()
    assert set(pyomo_solvers.requirements("dashf")) == {"ipopt", "highs", "sdp"}
    assert set(pyomo_solvers.requirements("dashf", {"assoc": "milp"})) == {"ipopt", "highs"}
    # global needs the solver it is told to use; auto: SCIP (no size limit) unless only Gurobi is here
    assert set(pyomo_solvers.requirements("global", {"warm_start": False, "solver": "gurobi"})) == {"gurobi"}
    assert set(pyomo_solvers.requirements("global", {"warm_start": False, "solver": "scip"})) == {"scip"}
    auto = "gurobi" if available("gurobi") and not available("scip") else "scip"
    assert set(pyomo_solvers.requirements("global", {"warm_start": False})) == {auto}
    assert set(pyomo_solvers.requirements("global")) == {auto} | set(pyomo_solvers.requirements("dashf"))
    big = lm.generate_scenario(3, 2, seed=1)
    assert "sdp" not in pyomo_solvers.requirements("aauco", {"sdr_max_pairs": 5}, scenario=big)
    for m in lmethods.METHOD_NAMES:
        opt = pe.SolverFactory("llmmec." + m)
        assert opt.available() == all(available(r) for r in pyomo_solvers.requirements(m))
    with pe.SolverFactory("llmmec.gucaa") as opt:
        assert opt.available() and opt.license_is_valid()
        assert ".".join(map(str, opt.version())) == lm.__version__


def test_requirements_of_lns_follow_its_starts():
    assert set(pyomo_solvers.requirements("lns", {"lns_starts": "gucaa"})) == {"ipopt"}
    assert set(pyomo_solvers.requirements("lns", {"lns_starts": "gucaa,aauco", "assoc": "milp"})) == {"ipopt", "highs"}
    assert set(pyomo_solvers.requirements("lns", {"lns_starts": "nonsense"})) == {"ipopt"}  # the solve reports it


def test_each_method_has_its_config_on_the_shared_base():
    """One ConfigDict per method: the shared SolveOptions fields, with the method's own defaults declared once."""
    base = pyomo_solvers.solver_config()
    for m in lmethods.METHOD_NAMES:
        cfg = pe.SolverFactory("llmmec." + m).CONFIG
        assert set(cfg.keys()) == set(base.keys())
        own = SolveOptions.method_defaults(m)
        for name in cfg.keys():
            assert cfg[name] == own.get(name, base[name]), (m, name)
    assert SolveOptions.method_defaults("global") == {"time_limit": 600.0} == SolveOptions.method_defaults("mindtpy")
    assert pe.SolverFactory("llmmec.global").CONFIG.time_limit == 600.0
    assert math.isinf(pe.SolverFactory("llmmec.dashf").CONFIG.time_limit)
    assert SolveOptions.for_method("global").time_limit == 600.0
    assert SolveOptions.for_method("global", time_limit=5).time_limit == 5.0
    assert math.isinf(SolveOptions.for_method("lns").time_limit)

"""AO part 2 split by server (issue 16, item 1): the same optimum of (12) as the joint NLP, in any number of processes."""

import numpy as np
import pyomo.environ as pyo
import pytest

import pyomo_llmmec as lm
from pyomo_llmmec.cli import main
from pyomo_llmmec.methods.blocks import FPResources, PhaseTimer, fit_to_budgets
from pyomo_llmmec.methods.options import SolveOptions
from pyomo_llmmec.methods.split_part2 import SplitPart2
from pyomo_llmmec.model.resources import read_resources, set_association, set_point
from pyomo_llmmec.units import units_for


def _problem(N, M, seed, start="aauco"):
    """A part-2 problem (12) as DASHF meets it: AAUCO's point, its association, y = its SCR."""
    sc = lm.generate_scenario(N, M, seed=seed)
    sol = lm.solve(sc, start)
    ev = lm.evaluate(sc, sol, attach=False)
    fp = FPResources(sc, units_for(sc), SolveOptions(), PhaseTimer())
    set_association(fp.model, sc, sol.assignment)
    return sc, sol, ev, fp


def _scr(sc, sol, m):
    b, p, P, Fu, Fs = read_resources(m, sc)
    new = fit_to_budgets(sc, sol.copy(b=b, p=p, p_server=P, f_user=Fu, f_server=Fs, evaluation=None))
    ev = lm.evaluate(sc, new, attach=False)
    assert ev.feasible, ev.problems
    return ev.scr, new


def _joint_and_split(N, M, seed, workers=1):
    sc, sol, ev, fp = _problem(N, M, seed)
    m = fp.model
    set_point(m, sc, sol, ev, ev.scr)
    tc, _, obj_joint = fp._solve_once()
    assert tc == "optimal", tc
    scr_joint, _ = _scr(sc, sol, m)
    set_point(m, sc, sol, ev, ev.scr)
    split = SplitPart2(sc, m, {k: v for k, v in fp.ipopt_options.items() if k != "sb"}, workers=workers)
    try:
        tc, _, obj_split = split.solve()
    finally:
        split.close()
    assert tc == "optimal", tc
    scr_split, point = _scr(sc, sol, m)
    return dict(obj_joint=obj_joint, obj_split=obj_split, obj_at_split=pyo.value(m.obj), scr_joint=scr_joint,
                scr_split=scr_split, point=point, levels=split.levels, gain=scr_joint / ev.scr - 1)


def _assert_same_optimum(r):
    # (12)'s optimum, to Ipopt's tolerance: the objective in its units (O(1)) and the evaluator's SCR
    assert abs(r["obj_split"] - r["obj_joint"]) <= 1e-6 * max(1.0, abs(r["obj_joint"])), r
    assert abs(r["obj_at_split"] - r["obj_joint"]) <= 1e-6 * max(1.0, abs(r["obj_joint"])), r
    # Ipopt (tol 1e-9, scaled) leaves the delays (3j) of both points ~1e-7 relative above T: the SCRs agree to 1e-6
    assert abs(r["scr_split"] / r["scr_joint"] - 1) <= 1e-6, r
    assert r["gain"] > 1e-4, "the test problem must not be solved at its start already"


@pytest.mark.parametrize("N,M,seed", [(10, 2, 0), (12, 3, 1), (20, 4, 3)])
def test_split_part2_reaches_the_joint_optimum(N, M, seed):
    _assert_same_optimum(_joint_and_split(N, M, seed))


def test_split_part2_in_two_processes_gives_the_same_point():
    """Server s always goes to worker s mod W and keeps its own warm start: the point does not depend on W."""
    one, two = _joint_and_split(12, 3, 1, workers=1), _joint_and_split(12, 3, 1, workers=2)
    for name in ("b", "p", "p_server", "f_user", "f_server"):
        assert np.array_equal(getattr(one["point"], name), getattr(two["point"], name)), name
    assert one["levels"] == two["levels"]


def test_a_level_below_a_servers_least_delay_is_penalised_not_infeasible():
    sc, sol, ev, fp = _problem(10, 2, 0)
    m = fp.model
    set_point(m, sc, sol, ev, ev.scr)
    split = SplitPart2(sc, m, {k: v for k, v in fp.ipopt_options.items() if k != "sb"})
    users = tuple(int(i) for i in np.flatnonzero(sol.assignment == 0))
    rho = 4 * pyo.value(m.c_time)
    out = split.nlps.level(0, users, split._data(users, None, rho), 0.5 * split._floor())
    assert out["tc"] == "optimal" and out["excess"] > 0
    assert out["slope"] == pytest.approx(rho, rel=1e-6)  # the multipliers sum to ρ: G = ρ − c_T > 0, the search goes up
    T = pyo.value(m.T)
    out = split.nlps.level(0, users, split._data(users, None, rho), T)
    assert out["tc"] == "optimal" and out["excess"] <= 1e-9 * T


def test_dashf_with_split_part2(tmp_path, capsys):
    sc = lm.generate_scenario(10, 2, seed=0)
    sol = lm.solve(sc, "dashf", part2="split", workers=2, max_iter=3)
    ev = lm.evaluate(sc, sol)
    assert ev.feasible, ev.problems
    assert sol.info["part2"] == "split" and sol.info["part2_workers"] == "2 processes" and sol.info["part2_levels"] > 0
    joint = lm.solve(sc, "dashf", max_iter=3)
    assert ev.scr >= joint.scr * (1 - 1e-3)  # a different path through the same blocks; not worse beyond noise
    path, out = tmp_path / "s.xlsx", tmp_path / "sol.xlsx"
    lm.write_scenario(sc, path)
    assert main(["solve", "--no-bound", str(path), "--part2", "split", "--workers", "2", "--max-iter", "2", "-o", str(out)]) == 0
    assert out.exists() and "split by server (2 processes)" in capsys.readouterr().out
    assert main(["solve", "--no-bound", str(path), "--part2", "split", "--scheduler", "not an address", "-o", str(out)]) == 2
    assert "--scheduler" in capsys.readouterr().err


def test_split_workers_are_capped_by_the_servers_and_print_nothing(tmp_path):
    """More workers than servers: one process per server (the others would never get an NLP); no worker prints
    Ipopt's banner on stdout.  A real command (the workers' own stdout is the terminal's, not pytest's capture)."""
    import subprocess
    import sys

    path, out = tmp_path / "s.xlsx", tmp_path / "sol.xlsx"
    lm.write_scenario(lm.generate_scenario(4, 2, seed=0), path)
    run = subprocess.run([sys.executable, "-m", "pyomo_llmmec", "solve", "--no-bound", str(path), "--part2", "split",
                          "--workers", "5", "--max-iter", "1", "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "split by server (2 processes (5 asked; one per server at most))" in run.stdout
    assert "Ipopt" not in run.stdout and run.stderr == ""


@pytest.mark.slow
def test_split_part2_reaches_the_joint_optimum_50x5():
    _assert_same_optimum(_joint_and_split(50, 5, 0, workers=2))


def test_split_part2_on_a_dask_cluster_gives_the_same_point():
    """--scheduler: the server NLPs on a Dask cluster's workers, pinned by server as on local processes."""
    pytest.importorskip("distributed")
    from dask.distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None, silence_logs=50)
    try:
        sc, sol, ev, fp = _problem(12, 3, 1)
        m = fp.model
        set_point(m, sc, sol, ev, ev.scr)
        split = SplitPart2(sc, m, {k: v for k, v in fp.ipopt_options.items() if k != "sb"}, scheduler=cluster.scheduler_address)
        try:
            assert split.solve()[0] == "optimal"
            assert split.pool.description.startswith("Dask") and "2 worker(s)" in split.pool.description
        finally:
            split.close()
        _, dask_point = _scr(sc, sol, m)
    finally:
        cluster.close()
    local = _joint_and_split(12, 3, 1, workers=1)["point"]
    for name in ("b", "p", "p_server", "f_user", "f_server"):
        assert np.array_equal(getattr(local, name), getattr(dask_point, name)), name


def test_workers_and_scheduler_need_the_split():
    """workers/scheduler are options of part2='split': elsewhere they would be ignored, so they are refused."""
    from pyomo_llmmec.errors import InputError
    from pyomo_llmmec.methods.options import SolveOptions

    for bad in ({"workers": 2}, {"scheduler": "tcp://127.0.0.1:8786"},
                {"part2": "split", "workers": 2, "scheduler": "tcp://127.0.0.1:8786"}):
        with pytest.raises(InputError):
            SolveOptions(**bad)
    assert SolveOptions(part2="split", workers=2).workers == 2


def test_split_without_a_delay_price_runs_the_joint_nlp():
    """ω_t = 0: the split has no price of T to coordinate by; the joint NLP runs instead, and the info says so."""
    sc = lm.generate_scenario(6, 2, seed=0, weight_time=0.0)
    joint = lm.solve(sc, "dashf")
    split = lm.solve(sc, "dashf", part2="split")
    assert split.scr == joint.scr
    assert any("needs a delay price" in w for w in split.info["warnings"]) and "part2_levels" not in split.info

"""The evaluator against hand-computed cases, and its feasibility checks."""

import math

import numpy as np
import pytest

import pyomo_llmmec as lm


def one_by_one():
    """σ² = 1e-20 W/Hz (-170 dBm/Hz), g = 3e-14, b = 1 MHz, p = P = 1 W: SNR 3, rate 2 Mbit/s both ways."""
    return lm.Scenario(
        user_ids=(1,), server_ids=(1,),
        adapter_params=[1e6], flops_per_param=[10.0], user_epochs=[2.0], user_kappa=[1e-27],
        user_p_max_w=[1.0], user_f_max_flops=[1e9],
        bandwidth_hz=[1e6], server_p_max_w=[2.0], server_f_max_flops=[1e10], server_kappa=[1e-27], server_epochs=[3.0],
        gain=[[3e-14]],
        system=lm.SystemParams(noise_psd_dbm_per_hz=-170.0, bits_per_param=32, weight_time=0.5, weight_energy=0.01,
                               score_scale=1 / math.log(2), score_norm=0.5),
    )


def test_one_by_one_by_hand():
    sc = one_by_one()
    sol = lm.Solution.from_arrays(sc, [0], phi=[0.25], p=[1.0], f_user=[1e9], b=[1e6], p_server=[1.0], f_server=[5e9])
    ev = lm.evaluate(sc, sol)
    # rates: 1e6 * log2(1 + 3e-14 * 1 / (1e-20 * 1e6)) = 2e6 bit/s
    assert ev.rate_up[0] == pytest.approx(2e6) and ev.rate_down[0] == pytest.approx(2e6)
    # T1 = e_n t φ d / F_n = 2*10*0.25e6/1e9 ; T2 = φ d ω_b / r = 0.25e6*32/2e6
    assert ev.t1[0] == pytest.approx(5e-3)
    assert ev.t2[0] == pytest.approx(4.0)
    # T3 = e_m t (1-φ) d / F_nm = 3*10*0.75e6/5e9 ; T4 = 0.75e6*32/2e6
    assert ev.t3[0] == pytest.approx(4.5e-3)
    assert ev.t4[0] == pytest.approx(12.0)
    # E1 = e_n κ φ d t F^2 = 2*1e-27*0.25e6*10*1e18 ; E2 = p T2 ; E3 = 3*1e-27*0.75e6*10*25e18 ; E4 = P T4
    assert ev.e1[0] == pytest.approx(5e-3)
    assert ev.e2[0] == pytest.approx(4.0)
    assert ev.e3[0] == pytest.approx(0.5625)
    assert ev.e4[0] == pytest.approx(12.0)
    # v = (1/ln2) ln(1 + 0.5 (1/2 + 5e9/1e10 + 1e6/1e6)) = log2(2) = 1
    assert ev.score[0] == pytest.approx(1.0)
    T = 5e-3 + 4 + 4.5e-3 + 12
    E = 5e-3 + 4 + 0.5625 + 12
    assert ev.delay == pytest.approx(T) and ev.energy == pytest.approx(E)
    assert ev.scr == pytest.approx(1.0 / (0.5 * T + 0.01 * E))
    assert ev.feasible and ev.max_violation == 0


def two_by_two():
    return lm.Scenario(
        user_ids=("a", "b"), server_ids=("s", "t"),
        adapter_params=[1e6, 2e6], flops_per_param=[10.0, 20.0], user_epochs=[1.0, 1.0], user_kappa=[1e-27, 2e-27],
        user_p_max_w=[1.0, 0.5], user_f_max_flops=[1e9, 2e9],
        bandwidth_hz=[1e6, 2e6], server_p_max_w=[2.0, 4.0], server_f_max_flops=[1e10, 2e10], server_kappa=[1e-27, 1e-27],
        server_epochs=[1.0, 2.0],
        gain=[[3e-14, 1e-14], [7e-14, 1.5e-13]],
        system=lm.SystemParams(noise_psd_dbm_per_hz=-170.0, bits_per_param=32, weight_time=1.0, weight_energy=0.1,
                               score_scale=1 / math.log(2), score_norm=0.5),
    )


def by_hand(sc, user, server, phi, p, fu, b, P, fs):
    """MODEL.md §3 for one user, written out with math (independent of the package's numpy code)."""
    s2 = 1e-20
    g = sc.gain[user, server]
    d, t = sc.adapter_params[user], sc.flops_per_param[user]
    ru = b * math.log2(1 + g * p / (s2 * b))
    rd = b * math.log2(1 + g * P / (s2 * b))
    t1 = sc.user_epochs[user] * t * phi * d / fu
    t2 = phi * d * 32 / ru
    t3 = sc.server_epochs[server] * t * (1 - phi) * d / fs
    t4 = (1 - phi) * d * 32 / rd
    e1 = sc.user_epochs[user] * sc.user_kappa[user] * phi * d * t * fu**2
    e2 = p * t2
    e3 = sc.server_epochs[server] * sc.server_kappa[server] * (1 - phi) * d * t * fs**2
    e4 = P * t4
    v = math.log(1 + 0.5 * (P / sc.server_p_max_w[server] + fs / sc.server_f_max_flops[server] + b / sc.bandwidth_hz[server])) / math.log(2)
    return t1 + t2 + t3 + t4, e1 + e2 + e3 + e4, v


@pytest.mark.parametrize("assignment", [(0, 1), (1, 1), (1, 0)])
def test_two_by_two_by_hand(assignment):
    sc = two_by_two()
    phi, p, fu = [0.3, 0.0], [0.8, 0.5], [1e9, 1.5e9]
    a = list(assignment)
    k = np.bincount(a, minlength=2)
    b = [sc.bandwidth_hz[m] / k[m] for m in a]
    P = [sc.server_p_max_w[m] / k[m] for m in a]
    fs = [sc.server_f_max_flops[m] / k[m] for m in a]
    sol = lm.Solution.from_arrays(sc, a, phi, p, fu, b, P, fs)
    ev = lm.evaluate(sc, sol)
    rows = [by_hand(sc, n, a[n], phi[n], p[n], fu[n], b[n], P[n], fs[n]) for n in range(2)]
    T = max(r[0] for r in rows)
    E = sum(r[1] for r in rows)
    V = sum(r[2] for r in rows)
    assert ev.delay == pytest.approx(T, rel=1e-12)
    assert ev.energy == pytest.approx(E, rel=1e-12)
    assert ev.service == pytest.approx(V, rel=1e-12)
    assert ev.scr == pytest.approx(V / (1.0 * T + 0.1 * E), rel=1e-12)
    # user b has φ = 0: no local training, no uplink, whatever p and F_n
    assert ev.t1[1] == 0 and ev.t2[1] == 0 and ev.e1[1] == 0 and ev.e2[1] == 0
    assert ev.feasible


def test_budget_violation_and_positivity_are_reported():
    sc = two_by_two()
    sol = lm.Solution.from_arrays(sc, [0, 0], [0.3, 0.5], [0.8, 0.5], [1e9, 1e9], b=[0.7e6, 0.7e6], p_server=[1, 1], f_server=[5e9, 5e9])
    ev = lm.evaluate(sc, sol)
    assert not ev.feasible
    assert ev.violations["bandwidth_budget (3d)"] == pytest.approx(0.4)
    assert any("bandwidth of server 's'" in p for p in ev.problems)
    # within the 1e-6 relative tolerance: feasible
    sol2 = sol.copy(b=np.array([0.5e6, 0.5e6 * (1 + 1.5e-6)]), evaluation=None)
    assert lm.evaluate(sc, sol2).feasible
    # a resource that carries work must be positive
    sol3 = sol.copy(b=np.array([0.5e6, 0.5e6]), p=np.array([0.0, 0.5]), evaluation=None)
    ev3 = lm.evaluate(sc, sol3)
    assert not ev3.feasible and any("p must be > 0" in p for p in ev3.problems) and ev3.scr == 0.0
    # ... unless its work is zero (φ = 0: p and F_n idle)
    sol4 = sol3.copy(phi=np.array([0.0, 0.5]), f_user=np.array([0.0, 1e9]), evaluation=None)
    assert lm.evaluate(sc, sol4).feasible


def test_nan_is_never_silent():
    sc = two_by_two()
    sol = lm.Solution.from_arrays(sc, [0, 1], [0.3, np.nan], [0.8, 0.5], [1e9, 1e9], [1e6, 1e6], [1, 1], [5e9, 5e9])
    ev = lm.evaluate(sc, sol)
    assert not ev.feasible and any("non-finite" in p for p in ev.problems)


def test_evaluator_is_vectorised_and_fast():
    import time

    sc = lm.generate_scenario(1000, 20, seed=0)
    sol = lm.initial_point(sc)
    t = time.perf_counter()
    ev = lm.evaluate(sc, sol)
    elapsed = time.perf_counter() - t
    assert ev.feasible and elapsed < 1.0  # 'well under a second'; measured ~1 ms (benchmarks/)


def test_solution_workbook_round_trip(tmp_path, paper_default):
    sol = lm.equal_split(paper_default, np.arange(10) % 2).copy(method="gucaa", status="evaluated", wall_s=0.5)
    lm.evaluate(paper_default, sol)
    path = tmp_path / "sol.xlsx"
    lm.write_solution(sol, path)
    import pandas as pd

    sheets = pd.read_excel(path, sheet_name=None)
    summ = dict(zip(sheets["summary"]["metric"], sheets["summary"]["value"]))
    for k in ("scr", "service", "delay_s", "energy_j", "method", "status", "wall_s"):
        assert k in summ
    assert float(summ["scr"]) == pytest.approx(sol.scr, rel=1e-12)
    assert list(sheets["users"].columns[:5]) == ["user", "server", "phi", "p_w", "f_flops"]
    assert list(sheets["links"].columns[:5]) == ["user", "server", "bandwidth_hz", "p_server_w", "f_server_flops"]
    assert len(sheets["links"]) == 10
    back = lm.read_solution(path, paper_default)
    ev = lm.evaluate(paper_default, back)
    assert ev.scr == pytest.approx(sol.scr, rel=1e-12) and back.method == "gucaa"


def test_read_solution_rejects_inconsistent_links(tmp_path, paper_default):
    import pandas as pd

    sol = lm.initial_point(paper_default)
    path = tmp_path / "sol.xlsx"
    lm.write_solution(sol, path, paper_default)
    sheets = pd.read_excel(path, sheet_name=None)
    sheets["links"].loc[0, "server"] = 2  # user 1 is on server 1 in 'users'
    lm.io.write_sheets(path, sheets)
    with pytest.raises(lm.InputError, match="sheet 'links', row 2, column 'server'"):
        lm.read_solution(path, paper_default)
    sheets["links"] = sheets["links"].iloc[1:]
    lm.io.write_sheets(path, sheets)
    with pytest.raises(lm.InputError, match="no row for user 1"):
        lm.read_solution(path, paper_default)


def test_evaluator_module_and_re_exports():
    from pyomo_llmmec import evaluator, solution

    assert solution.evaluate is evaluator.evaluate is lm.evaluate
    assert solution.Evaluation is evaluator.Evaluation is lm.Evaluation
    assert solution.FEASIBILITY_TOL == evaluator.FEASIBILITY_TOL == 1e-6


def test_dataframe_views_match_the_workbook(tmp_path, paper_default):
    """users_frame / links_frame are the workbook's sheets; links_frame(scenario) adds the gain; every column has its unit."""
    import pandas as pd

    from pyomo_llmmec.schema import SOLUTION_LINK_COLUMNS, SOLUTION_USER_COLUMNS

    sc = paper_default
    sol = lm.equal_split(sc, np.arange(10) % 2)
    assert "rate_up_bps" not in sol.links_frame().columns  # not evaluated yet
    lm.evaluate(sc, sol)
    users, links = sol.users_frame(), sol.links_frame()
    assert list(users.columns) == [f.name for f in SOLUTION_USER_COLUMNS]
    assert list(links.columns[:5]) == [f.name for f in SOLUTION_LINK_COLUMNS]
    assert list(links.columns[5:]) == list(sol.evaluation.frame().columns)
    with_gain = sol.links_frame(sc)
    assert list(with_gain.columns[:3]) == ["user", "server", "gain"]
    assert np.array_equal(with_gain["gain"], sc.gain[np.arange(10), sol.assignment])
    assert np.array_equal(links["rate_up_bps"], sol.evaluation.rate_up) and np.array_equal(links["bandwidth_hz"], sol.b)
    with pytest.raises(lm.InputError, match="the scenario has 3 and 2"):
        sol.links_frame(lm.generate_scenario(3, 2))
    full = sol.frame()
    assert list(full.columns) == list(users.columns) + list(links.columns[2:])
    units = ("_w", "_flops", "_hz", "_s", "_j", "_bps")
    unitless = {"user", "server", "phi", "score", "gain"}
    assert all(c in unitless or c.endswith(units) for c in list(full.columns) + ["gain"]), list(full.columns)
    # the written sheets are exactly these views (infinite values as the text 'inf')
    path = tmp_path / "sol.xlsx"
    lm.write_solution(sol, path)
    sheets = pd.read_excel(path, sheet_name=None)
    assert list(sheets["users"].columns) == list(users.columns) and list(sheets["links"].columns) == list(links.columns)
    assert np.allclose(sheets["links"]["delay_s"], links["delay_s"], rtol=1e-15)


def test_one_status_vocabulary(tmp_path, paper_default):
    import pandas as pd

    from pyomo_llmmec.pyomo_solvers import TERMINATION
    from pyomo_llmmec.status import Status

    sol = lm.initial_point(paper_default)
    assert sol.status is Status.EVALUATED and sol.status == "evaluated" and f"{sol.status}" == "evaluated"
    assert sol.copy(status="max_iter").status is Status.ITERATION_LIMIT  # older spellings are mapped
    assert sol.copy(status="ok").status is Status.EVALUATED
    assert sol.copy(termination="time_limit").termination is Status.TIME_LIMIT and sol.termination == ""
    with pytest.raises(lm.InputError, match="unknown status 'done'"):
        sol.copy(status="done")
    for text, pair in TERMINATION.items():  # the Pyomo results say what the enum says
        st = Status.parse(text)
        assert (st.termination_condition, st.solver_status) == pair, text
    # the workbook holds the text; a workbook with a status outside the vocabulary is bad input, named
    path = tmp_path / "sol.xlsx"
    lm.write_solution(sol, path, paper_default)
    sheets = pd.read_excel(path, sheet_name=None)
    summ = dict(zip(sheets["summary"]["metric"], sheets["summary"]["value"]))
    assert summ["status"] == "evaluated"
    assert lm.read_solution(path, paper_default).status is Status.EVALUATED
    sheets["summary"].loc[sheets["summary"]["metric"] == "status", "value"] = "done"
    lm.io.write_sheets(path, sheets)
    with pytest.raises(lm.InputError, match=r"sheet 'summary'.*unknown status 'done'"):
        lm.read_solution(path, paper_default)


def test_model_md_lists_every_status():
    from pathlib import Path

    from pyomo_llmmec.status import ALIASES, Status

    text = (Path(__file__).resolve().parent.parent / "docs" / "MODEL.md").read_text(encoding="utf-8")
    missing = [s for s in [*(st.value for st in Status), *ALIASES] if f"`{s}`" not in text]
    assert not missing, f"docs/MODEL.md does not list the status(es) {missing}"


def test_solve_failed_takes_its_reason_from_one_vocabulary(paper_default):
    """SolveFailed.status is a Failure (why no point came back); the subsolver's own word is kept beside it."""
    from pyomo.opt import TerminationCondition as TC

    from pyomo_llmmec.status import Failure

    exc = lm.SolveFailed("HiGHS found no solution", status=Failure.from_termination(TC.maxTimeLimit), termination=TC.maxTimeLimit)
    assert exc.status is Failure.TIME_LIMIT and exc.termination == "maxTimeLimit"
    assert lm.SolveFailed("x", termination="infeasible").status is Failure.SOLVER_FAILURE
    assert lm.SolveFailed("x", status="numerics").status is Failure.NUMERICS and f"{Failure.NUMERICS}" == "numerics"
    with pytest.raises(ValueError, match="unknown failure 'sdp_failed'"):
        lm.SolveFailed("x", status="sdp_failed")
    with pytest.raises(lm.SolveFailed) as ei:
        lm.solve(paper_default, "no-such-method")
    assert ei.value.status is Failure.BAD_OPTION

"""The numerical range of the data (issue 14, item 2).

Every numeric field of the scenario schema has a supported range (``Field.supported``):
outside it, validation rejects the value (InputError naming file, sheet, row, column and
the range; exit 2); inside it but physically implausible, a PlausibilityWarning.  Within
the range every method solves or fails with one line (exit 1), never an internal error;
a server no user can usefully reach is a valid scenario whose users all end elsewhere.
"""

import dataclasses
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

import pyomo_llmmec as lm
from conftest import random_feasible_solution
from pyomo_llmmec.cli import main
from pyomo_llmmec.io import write_sheets
from pyomo_llmmec.schema import CHANNEL_COLUMNS, SERVER_COLUMNS, SYSTEM_PARAMETERS, USER_COLUMNS
from pyomo_llmmec.validation import PlausibilityWarning

# scenario array of each user / server column
USER_ARRAYS = {"adapter_params": "adapter_params", "flops_per_param": "flops_per_param", "epochs": "user_epochs",
               "kappa": "user_kappa", "p_max_w": "user_p_max_w", "f_max_flops": "user_f_max_flops"}
SERVER_ARRAYS = {"bandwidth_hz": "bandwidth_hz", "p_max_w": "server_p_max_w", "f_max_flops": "server_f_max_flops",
                 "kappa": "server_kappa", "epochs": "server_epochs"}
GAIN = next(f for f in CHANNEL_COLUMNS if f.name == "gain")


def fields(sheet):
    return {f.name: f for f in {"system": SYSTEM_PARAMETERS, "users": USER_COLUMNS, "servers": SERVER_COLUMNS,
                                "channels": CHANNEL_COLUMNS}[sheet]}


@pytest.fixture(scope="module")
def sc():
    return lm.generate_scenario(4, 2, seed=1)


def unchecked(sc, **changes):
    """A copy with some arrays or system constants changed, without validation (data a workbook may hold)."""
    sys_names = {f.name for f in dataclasses.fields(lm.SystemParams)}
    sys_changes = {k: changes.pop(k) for k in list(changes) if k in sys_names}
    if sys_changes:
        changes["system"] = dataclasses.replace(sc.system, **sys_changes)
    return dataclasses.replace(sc, **changes)


def with_entry(sc, name, index, value):
    a = np.array(getattr(sc, name), dtype=float)
    a[index] = value
    return unchecked(sc, **{name: a})


def sheets_of(sc):
    return {"system": sc.system_frame(), "users": sc.users_frame(), "servers": sc.servers_frame(), "channels": sc.channels_frame()}


def set_cell(sheets, sheet, index, column, value):
    df = sheets[sheet].copy().astype({column: object})
    df.loc[index, column] = value
    return {**sheets, sheet: df}


def system_index(name):
    return [f.name for f in SYSTEM_PARAMETERS].index(name)


# ---------------------------------------------------------------------------------------------
# the schema's ranges fit the committed data and the generator
# ---------------------------------------------------------------------------------------------


def test_every_numeric_scenario_field_has_a_supported_range():
    for group in (SYSTEM_PARAMETERS, USER_COLUMNS, SERVER_COLUMNS, CHANNEL_COLUMNS):
        for f in group:
            if f.kind != "id":
                lo, hi = f.supported
                assert math.isfinite(lo) and math.isfinite(hi) and lo < hi, f.name
                if f.plausible is not None:
                    assert lo <= f.plausible[0] < f.plausible[1] <= hi, f.name


@pytest.mark.parametrize("name", ["toy_3x2", "paper_default", "paper_20x3"])
def test_committed_data_is_inside_the_plausible_ranges(data_dir, name):
    with warnings.catch_warnings():
        warnings.simplefilter("error", PlausibilityWarning)
        lm.read_scenario(data_dir / f"{name}.xlsx")


def test_generator_defaults_are_plausible_and_never_below_the_gain_range():
    with warnings.catch_warnings():
        warnings.simplefilter("error", PlausibilityWarning)
        sc = lm.generate_scenario(40, 5, seed=3)
    assert sc.gain.min() >= GAIN.supported[0]
    # a deep fade below the range is raised to its bottom, not rejected: a 100 km area has many
    far = lm.generate_scenario(30, 3, seed=0, area_m=1e5)
    assert far.gain.min() == GAIN.supported[0]


# ---------------------------------------------------------------------------------------------
# out of the supported range: rejected, one precise line, exit 2
# ---------------------------------------------------------------------------------------------

# (sheet, data-row index, column, value); the probes of the issue are marked
OUT_OF_RANGE = {
    "noise above": ("system", system_index("noise_psd_dbm_per_hz"), "value", -30.0),
    "noise below": ("system", system_index("noise_psd_dbm_per_hz"), "value", -300.0),
    "bits per param": ("system", system_index("bits_per_param"), "value", 1e4),
    "weight_time huge": ("system", system_index("weight_time"), "value", 1e10),
    "weight_energy tiny": ("system", system_index("weight_energy"), "value", 1e-12),
    "score_norm": ("system", system_index("score_norm"), "value", 1e-9),
    "adapter below 1": ("users", 1, "adapter_params", 0.5),
    "epochs huge": ("users", 2, "epochs", 1e7),
    "user kappa above": ("users", 0, "kappa", 1e-10),
    "user compute": ("users", 3, "f_max_flops", 1e22),
    "user power": ("users", 1, "p_max_w", 1e-7),
    "position": ("users", 0, "x_m", 1e10),
    "server compute 1e308 (probe)": ("servers", 0, "f_max_flops", 1e308),
    "bandwidth": ("servers", 1, "bandwidth_hz", 1e13),
    "server kappa tiny": ("servers", 0, "kappa", 1e-50),
    "gain 1e-308 (probe)": ("channels", 0, "gain", 1e-308),
    "gain 1e-300 (probe)": ("channels", 3, "gain", 1e-300),
    "gain 1e308 (probe)": ("channels", 5, "gain", 1e308),
    "gain just below": ("channels", 2, "gain", 0.5e-20),
}


@pytest.mark.parametrize("case", sorted(OUT_OF_RANGE))
def test_out_of_range_cell_is_one_precise_line(tmp_path, sc, case, capsys):
    sheet, index, column, value = OUT_OF_RANGE[case]
    path = tmp_path / "bad.xlsx"
    write_sheets(path, set_cell(sheets_of(sc), sheet, index, column, value))
    with pytest.raises(lm.InputError) as info:
        lm.read_scenario(path)
    err, msg = info.value, str(info.value)
    f = fields(sheet)[SYSTEM_PARAMETERS[index].name if sheet == "system" else column]
    assert "\n" not in msg and str(path) in msg
    assert (err.sheet, err.row, err.column) == (sheet, index + 2, column)
    assert f"sheet '{sheet}'" in msg and f"row {index + 2}" in msg and f"column '{column}'" in msg
    assert f"supported range {f.range_text()}" in msg and f.name in msg
    assert main(["validate", str(path)]) == 2
    err_out = capsys.readouterr().err.strip()
    assert err_out.count("\n") == 0 and "Traceback" not in err_out and f.range_text() in err_out


@pytest.mark.parametrize("case", ["server compute 1e308 (probe)", "gain 1e-308 (probe)", "gain 1e308 (probe)"])
def test_the_probes_of_the_issue_no_longer_reach_a_solver(tmp_path, sc, case, capsys):
    sheet, index, column, value = OUT_OF_RANGE[case]
    path = tmp_path / "probe.xlsx"
    write_sheets(path, set_cell(sheets_of(sc), sheet, index, column, value))
    assert main(["solve", str(path), "--method", "dashf", "--assoc", "milp"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "supported range" in err and "internal error" not in err


def test_physical_bounds_name_the_supported_range_too(tmp_path, sc):
    path = tmp_path / "bad.xlsx"
    write_sheets(path, set_cell(sheets_of(sc), "servers", 1, "p_max_w", 0.0))
    with pytest.raises(lm.InputError, match=r"must be > 0 \(supported range: 1e-06 to 1e\+06 W\)") as info:
        lm.read_scenario(path)
    assert (info.value.sheet, info.value.row, info.value.column) == ("servers", 3, "p_max_w")


def test_scenarios_built_in_code_are_held_to_the_same_ranges(sc):
    for change, sheet, column in (
        ({"server_f_max_flops": 1e308}, "servers", "f_max_flops"),
        ({"user_kappa": 1e-12}, "users", "kappa"),
        ({"bandwidth_hz": 0.5}, "servers", "bandwidth_hz"),
        ({"gain": np.full((4, 2), 1e-300)}, "channels", "gain"),
        ({"gain": np.full((4, 2), 1e308)}, "channels", "gain"),
        ({"noise_psd_dbm_per_hz": 0.0}, "system", None),
        ({"user_xy": np.full((4, 2), -2e9)}, "users", None),
    ):
        with pytest.raises(lm.InputError, match="supported range") as info:
            sc.replace(**change)
        assert info.value.sheet == sheet
        if column is not None:
            assert info.value.column.startswith(column)


# ---------------------------------------------------------------------------------------------
# the ends of each range are accepted; one step past them is not
# ---------------------------------------------------------------------------------------------


def _range_cases():
    cases = [("system", f.name, f.name) for f in SYSTEM_PARAMETERS]
    cases += [("users", k, v) for k, v in USER_ARRAYS.items()]
    cases += [("servers", k, v) for k, v in SERVER_ARRAYS.items()]
    return cases + [("channels", "gain", "gain")]


@pytest.mark.parametrize("sheet,column,attr", _range_cases())
def test_range_ends_are_accepted_and_one_step_beyond_is_not(sc, sheet, column, attr):
    f = fields(sheet)[column]
    lo, hi = f.supported
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlausibilityWarning)  # an end may well be implausible
        for v in (lo, hi):
            sc.replace(**{attr: v})
        for v in (np.nextafter(lo, -np.inf), np.nextafter(hi, np.inf)):
            with pytest.raises(lm.InputError, match="supported range"):
                sc.replace(**{attr: v})
    if f.zero_ok:
        assert sc.replace(**{attr: 0.0}) is not None


# ---------------------------------------------------------------------------------------------
# inside the range but implausible: a warning, one per column
# ---------------------------------------------------------------------------------------------


def test_implausible_values_warn_once_per_column_and_are_accepted(tmp_path, sc):
    sheets = set_cell(sheets_of(sc), "channels", 2, "gain", 50.0)
    sheets = set_cell(sheets, "channels", 6, "gain", 5.0)
    sheets = set_cell(sheets, "users", 1, "p_max_w", 5e3)  # 5 kW from a user device: W for mW?
    path = tmp_path / "odd.xlsx"
    write_sheets(path, sheets)
    with pytest.warns(PlausibilityWarning) as record:
        read = lm.read_scenario(path)
    assert read.gain.max() == 50.0
    msgs = [str(w.message) for w in record if issubclass(w.category, PlausibilityWarning)]
    assert len(msgs) == 2
    gain_msg = next(m for m in msgs if "'channels'" in m)
    assert "column 'gain'" in gain_msg and "2 values" in gain_msg and "row 4" in gain_msg and "1e-20 to 1;" in gain_msg
    power_msg = next(m for m in msgs if "'users'" in m)
    assert "row 3" in power_msg and "column 'p_max_w'" in power_msg and str(path) in power_msg
    # the command line: exit 0, each warning on one line of stderr, no traceback
    run = subprocess.run([sys.executable, "-m", "pyomo_llmmec", "validate", str(path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 2 and all("PlausibilityWarning" in line for line in lines) and "Traceback" not in run.stderr


# ---------------------------------------------------------------------------------------------
# solves within the range: the probes of the issue at the ends of the range
# ---------------------------------------------------------------------------------------------


def _probe(sc, kind):
    if kind == "server compute at the top":
        return with_entry(sc, "server_f_max_flops", 0, SERVER_COLUMNS[3].supported[1])
    g = sc.gain.copy()
    if kind == "one gain at the bottom":
        g[0, 0] = GAIN.supported[0]
    elif kind == "unreachable server":
        g[:, 1] = GAIN.supported[0]
    elif kind == "one gain at the top":
        g[0, 0] = GAIN.supported[1]
    return unchecked(sc, gain=g)


@pytest.mark.parametrize("assoc", [[], ["--assoc", "milp"]], ids=["auto", "milp"])
@pytest.mark.parametrize("kind", ["server compute at the top", "one gain at the bottom", "unreachable server", "one gain at the top"])
def test_probes_at_the_range_ends_solve_or_fail_in_one_line(tmp_path, sc, kind, assoc, capsys):
    path, out = tmp_path / "probe.xlsx", tmp_path / "probe_sol.xlsx"
    lm.write_scenario(_probe(sc, kind), path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlausibilityWarning)  # gain 1e3 is implausible, and accepted
        rc = main(["solve", str(path), "--method", "dashf", *assoc, "--bound-time-limit", "5", "-o", str(out)])  # the bound on extreme data too
    err = capsys.readouterr().err
    assert rc in (0, 1) and "internal error" not in err and "Traceback" not in err
    if rc == 1:
        assert err.strip().count("\n") == 0 and err.startswith("solve failed:")
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PlausibilityWarning)
            assert main(["evaluate", str(path), str(out)]) == 0
        if kind == "unreachable server":
            assert set(lm.read_solution(out, lm.read_scenario(path)).assignment) == {0}


@pytest.mark.parametrize("assoc", ["sdr", "milp"])
def test_an_unreachable_server_gets_no_user_and_the_exclusion_is_recorded(sc, assoc):
    bad = _probe(sc, "unreachable server")
    start = lm.evaluate(bad, lm.initial_point(bad)).scr
    sol = lm.solve(bad, "dashf", assoc=assoc)
    assert sol.feasible and sol.scr >= start
    assert np.all(sol.assignment == 0), sol.assignment
    # recorded: P1 left the unreachable pairs out once the incumbent's SCR made them useless
    assert max(p.get("excluded_pairs", 0) for p in sol.info["p1"]) >= bad.n_users


# ---------------------------------------------------------------------------------------------
# the association step: which pairs P1 leaves out, and its coefficients
# ---------------------------------------------------------------------------------------------


def test_usable_pairs_never_exclude_the_incumbent_and_exclude_an_unreachable_server(sc, paper_default):
    from pyomo_llmmec.model.association import usable_pairs

    rng = np.random.default_rng(7)
    bad = _probe(sc, "unreachable server")
    for scen in (sc, paper_default, bad, _probe(sc, "one gain at the bottom")):
        for _ in range(20):
            s = random_feasible_solution(scen, rng)
            ev = lm.evaluate(scen, s)
            ok = usable_pairs(scen, ev.scr)
            assert ok[np.arange(scen.n_users), s.assignment].all()  # a point never rules out its own pairs
    # with every user on server 1, the unreachable server 2 is left out, server 1 is not
    y = lm.evaluate(bad, lm.equal_split(bad, np.zeros(4, dtype=int))).scr
    ok = usable_pairs(bad, y)
    assert ok[:, 0].all() and not ok[:, 1].any()
    assert usable_pairs(bad, 0.0).all()  # no incumbent SCR to beat: nothing is left out


def test_p1_coefficients_stay_finite_and_capped_at_the_range_ends(sc):
    from pyomo_llmmec.methods.blocks import MILPAssociation, PhaseTimer, PhiStep, p1_resources
    from pyomo_llmmec.methods.options import SolveOptions
    from pyomo_llmmec.model.association import P1_CAP, p1_data

    # a server whose κ F² is some 1e23 times the users': offloading there costs ~1e21 in model units
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlausibilityWarning)
        extreme = sc.replace(server_kappa=SERVER_COLUMNS[4].supported[1])
    s0 = lm.equal_split(extreme, np.array([0, 1, 0, 1]))
    units = lm.units_for(extreme, lm.evaluate(extreme, s0))
    data = p1_data(extreme, units, 1.0, s0.p, s0.f_user, *p1_resources(extreme, s0))
    assert data.n_capped > 0
    for name in ("A", "B", "c1", "c2", "c34"):
        arr = getattr(data, name)
        assert np.all(np.isfinite(arr)) and np.all(np.abs(arr) <= P1_CAP), name
    assert np.all(np.abs(data.B + data.G) <= P1_CAP)  # the cost at φ = 1, kept separately
    timer = PhaseTimer()
    phi = PhiStep(extreme, units, timer)
    prop = MILPAssociation(extreme, units, SolveOptions(), timer, phi).propose(data, s0.assignment)
    assert prop.extra["capped_coefficients"] == data.n_capped
    # HiGHS solves this P1, and the exact φ LP agrees with it at its association
    _, _, obj = phi.solve_data(data, prop.assignment)
    assert obj == pytest.approx(prop.objective, rel=1e-6, abs=1e-6)


# ---------------------------------------------------------------------------------------------
# every end of every range, both association routes (the measurement behind the ranges)
# ---------------------------------------------------------------------------------------------


def _end_cases():
    out = []
    for sheet, column, attr in _range_cases():
        f = fields(sheet)[column]
        for v in f.supported:
            out.append(pytest.param(attr, v, id=f"{sheet}.{column}={v:g}"))
    return out


FAST_ENDS = {"servers.kappa=1e-15", "users.kappa=1e-15", "system.noise_psd_dbm_per_hz=-50",
             "users.flops_per_param=1e+12", "servers.bandwidth_hz=1"}


@pytest.mark.parametrize("attr,value", [p for p in _end_cases() if p.id in FAST_ENDS]
                         + [pytest.param(*p.values, id=p.id, marks=pytest.mark.slow) for p in _end_cases() if p.id not in FAST_ENDS])
@pytest.mark.parametrize("assoc", ["sdr", "milp"])
def test_each_range_end_solves(sc, attr, value, assoc):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlausibilityWarning)
        cases = [sc.replace(**{attr: value})]  # every entry at the end
        if isinstance(getattr(sc, attr, None), np.ndarray):
            cases.append(sc.replace(**{attr: getattr(with_entry(sc, attr, 0, value), attr)}))  # only the first
    for s in cases:
        start = lm.evaluate(s, lm.initial_point(s)).scr
        sol = lm.solve(s, "dashf", assoc=assoc)
        assert sol.feasible and sol.scr >= start

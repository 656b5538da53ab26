"""Scenario generation, workbook round trips and the committed data files."""

import numpy as np
import pandas as pd
import pytest

import pyomo_llmmec as lm
from pyomo_llmmec.schema import SCENARIO_SHEETS, SYSTEM_PARAMETERS


def assert_same_scenario(a, b, rtol=0.0):
    """Equal data; ``rtol=1e-14`` after a trip through Excel, which keeps 15 significant digits."""
    assert a.user_ids == b.user_ids and a.server_ids == b.server_ids
    for name in ("adapter_params", "flops_per_param", "user_epochs", "user_kappa", "user_p_max_w", "user_f_max_flops",
                 "bandwidth_hz", "server_p_max_w", "server_f_max_flops", "server_kappa", "server_epochs", "gain"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=rtol, atol=0, err_msg=name)
    for f in SYSTEM_PARAMETERS:
        assert getattr(a.system, f.name) == pytest.approx(getattr(b.system, f.name), rel=rtol, abs=0)


def test_generator_is_deterministic_per_seed():
    a = lm.generate_scenario(7, 3, seed=11)
    b = lm.generate_scenario(7, 3, seed=11)
    c = lm.generate_scenario(7, 3, seed=12)
    assert_same_scenario(a, b)
    assert not np.array_equal(a.gain, c.gain)


def test_generator_follows_section_7():
    sc = lm.generate_scenario(400, 4, seed=5)
    assert np.all((sc.adapter_params >= 1.2e6) & (sc.adapter_params <= 14e6))
    assert np.all((sc.flops_per_param >= 10e6) & (sc.flops_per_param <= 50e6))
    assert np.all(sc.user_xy >= 0) and np.all(sc.user_xy <= 1000)
    np.testing.assert_allclose(sc.sigma2, 10 ** (-16.4))
    assert sc.user_f_max_flops[0] == pytest.approx(4 * 8.9e12 * 0.55)
    assert sc.server_f_max_flops[0] == pytest.approx(8 * 312e12 * 0.55)
    # gain = 10^(-PL/10) |l|^2 with PL = 128.1 + 37.6 log10(d_km): the fading is the ratio, mean 1
    d_km = np.maximum(np.linalg.norm(sc.user_xy[:, None] - sc.server_xy[None], axis=2), 1.0) / 1000
    fading = sc.gain / 10 ** (-(128.1 + 37.6 * np.log10(d_km)) / 10)
    assert fading.min() > 0 and abs(fading.mean() - 1) < 0.15


def test_generator_overrides_and_unknown_setting():
    sc = lm.generate_scenario(3, 2, seed=0, bandwidth_hz=20e6, weight_time=0.1, noise_psd_dbm_per_hz=-174)
    assert np.all(sc.bandwidth_hz == 20e6) and sc.system.weight_time == 0.1
    np.testing.assert_allclose(sc.sigma2, 10 ** (-20.4))
    with pytest.raises(lm.InputError, match="unknown generator setting"):
        lm.generate_scenario(3, 2, seed=0, bandwith_hz=1)


def test_workbook_round_trip(tmp_path):
    sc = lm.generate_scenario(6, 3, seed=4)
    path = tmp_path / "s.xlsx"
    lm.write_scenario(sc, path)
    back = lm.read_scenario(path)
    assert_same_scenario(sc, back, rtol=1e-14)
    np.testing.assert_allclose(sc.user_xy, back.user_xy, rtol=1e-14)
    sheets = pd.read_excel(path, sheet_name=None)
    assert set(sheets) == {"system", "users", "servers", "channels"}
    for sheet, fields in SCENARIO_SHEETS.items():
        assert [f.name for f in fields if f.required] == [c for c in sheets[sheet].columns if c in {f.name for f in fields if f.required}]
    assert list(sheets["system"]["parameter"]) == [f.name for f in SYSTEM_PARAMETERS]
    assert len(sheets["channels"]) == 6 * 3


def test_text_ids_and_extra_columns_and_shuffled_channels(tmp_path):
    sc = lm.generate_scenario(3, 2, seed=1)
    users = sc.users_frame().assign(user=["a", "b", "c"], comment="ignored")
    servers = sc.servers_frame().assign(server=["east", "west"])
    ch = sc.channels_frame()
    ch["user"] = np.repeat(["a", "b", "c"], 2)
    ch["server"] = np.tile(["east", "west"], 3)
    ch = ch.sample(frac=1.0, random_state=0)
    path = tmp_path / "t.xlsx"
    lm.io.write_sheets(path, {"system": sc.system_frame(), "users": users, "servers": servers, "channels": ch, "notes": pd.DataFrame({"x": [1]})})
    back = lm.read_scenario(path)
    assert back.user_ids == ("a", "b", "c") and back.server_ids == ("east", "west")
    np.testing.assert_allclose(back.gain, sc.gain, rtol=1e-14)


def test_committed_data_regenerate_from_recorded_seeds(data_dir):
    """data/README.md records the seeds; the committed workbooks are exactly what they generate."""
    for name, (n, m, seed) in {"paper_default": (10, 2, 1), "paper_20x3": (20, 3, 2), "toy_3x2": (3, 2, 3)}.items():
        assert_same_scenario(lm.read_scenario(data_dir / f"{name}.xlsx"), lm.generate_scenario(n, m, seed=seed), rtol=1e-14)
        assert f"--seed {seed}" in (data_dir / "README.md").read_text()


def test_scenario_replace_broadcasts_and_validates():
    sc = lm.generate_scenario(4, 2, seed=0)
    wide = sc.replace(bandwidth_hz=50e6, weight_energy=0.009)
    assert np.all(wide.bandwidth_hz == 50e6) and wide.system.weight_energy == 0.009
    assert np.all(sc.bandwidth_hz == 10e6)  # the original is untouched (immutable)
    with pytest.raises(lm.InputError):
        sc.replace(bandwidth_hz=-1.0)
    with pytest.raises(ValueError):
        sc.bandwidth_hz[0] = 1.0  # arrays are read-only


def test_workbook_docs_are_generated_from_the_schema(data_dir):
    """docs/WORKBOOKS.md is `make docs` output: it must match the schema the code validates against."""
    from pyomo_llmmec.schema import markdown_tables

    committed = (data_dir.parent / "docs" / "WORKBOOKS.md").read_text()
    assert committed == markdown_tables(), "docs/WORKBOOKS.md is stale: run `make docs`"

"""Issue 15 item 1: `plot_solution` and `llmmec plot` draw what the evaluator computes."""

import dataclasses
import os

import numpy as np
import pytest
from matplotlib.collections import LineCollection, PathCollection

import pyomo_llmmec as lm
from pyomo_llmmec.cli import main
from pyomo_llmmec.io import read_solution, write_solution
from pyomo_llmmec.plot import PANELS, SHARE_RESOURCES, plot_solution

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def solved(toy):
    return lm.solve(toy, method="dashf")


@pytest.fixture
def work(tmp_path, monkeypatch, data_dir, toy, solved):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sc.xlsx").write_bytes((data_dir / "toy_3x2.xlsx").read_bytes())
    write_solution(solved, tmp_path / "sol.xlsx", toy)
    return tmp_path


def panel(fig, name):
    (ax,) = [a for a in fig.axes if a.get_label() == name]
    return ax


def by_gid(ax, prefix):
    return {p.get_gid(): p for p in ax.patches if (p.get_gid() or "").startswith(prefix)}


def test_default_figure_has_the_four_panels(solved, toy):
    fig = plot_solution(solved, toy)
    assert [a.get_label() for a in fig.axes if a.get_label() in PANELS] == list(PANELS)
    assert "SCR" in fig._suptitle.get_text() and f"{solved.scr:.6g}" in fig._suptitle.get_text()


def test_map_has_one_line_per_association_at_the_positions(solved, toy):
    ax = panel(plot_solution(solved, toy, "map"), "map")
    (lines,) = [c for c in ax.collections if isinstance(c, LineCollection) and c.get_label() == "associations"]
    segs = lines.get_segments()
    assert len(segs) == toy.n_users
    for i, seg in enumerate(segs):
        np.testing.assert_allclose(seg[0], toy.user_xy[i])
        np.testing.assert_allclose(seg[1], toy.server_xy[solved.assignment[i]])
    share = solved.b / toy.bandwidth_hz[solved.assignment]
    widths = np.asarray(lines.get_linewidths())
    assert np.all(np.diff(widths[np.argsort(share)]) >= 0)  # wider line, larger bandwidth share
    (users,) = [c for c in ax.collections if isinstance(c, PathCollection) and c.get_label() == "users"]
    np.testing.assert_allclose(users.get_array(), solved.phi)  # colour = φ
    np.testing.assert_allclose(users.get_offsets(), toy.user_xy)


def test_map_without_positions_is_bipartite(solved, toy):
    bare = dataclasses.replace(toy, user_xy=None, server_xy=None)
    ax = panel(plot_solution(solved, bare, "map"), "map")
    (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    segs = np.asarray(lines.get_segments())
    assert len(segs) == toy.n_users
    assert np.all(segs[:, 0, 0] == 0.0) and np.all(segs[:, 1, 0] == 1.0)  # users left, servers right
    assert "no positions" in ax.get_title()


def test_share_bars_are_the_budget_shares(solved, toy):
    ax = panel(plot_solution(solved, toy, ["shares"]), "shares")
    bars = by_gid(ax, "share:")
    assert len(bars) == len(SHARE_RESOURCES) * toy.n_users
    frame = solved.frame()
    a = solved.assignment
    for key, _label, column, budget, _eq in SHARE_RESOURCES:
        want = frame[column].to_numpy() / getattr(toy, budget)[a]
        got = np.array([bars[f"share:{key}:{i}"].get_height() for i in range(toy.n_users)])
        np.testing.assert_allclose(got, want, rtol=1e-12)
        tops = np.array([bars[f"share:{key}:{i}"].get_y() + bars[f"share:{key}:{i}"].get_height() for i in range(toy.n_users)])
        for j in range(toy.n_servers):  # the stack of a server reaches the sum of its users' shares, <= 1 (3d, 3f, 3h)
            if np.any(a == j):
                assert tops[a == j].max() == pytest.approx(want[a == j].sum(), rel=1e-12)
                assert tops[a == j].max() <= 1.0 + 1e-6


def test_delay_bars_are_the_evaluators(solved, toy):
    ev = lm.evaluate(toy, solved, attach=False)
    ax = panel(plot_solution(solved, toy, "delays"), "delays")
    bars = by_gid(ax, "delay:")
    for key in ("t1", "t2", "t3", "t4"):
        got = np.array([bars[f"delay:{key}:{i}"].get_height() for i in range(toy.n_users)])
        np.testing.assert_allclose(got, getattr(ev, key), rtol=1e-12)
    tops = [bars[f"delay:t4:{i}"].get_y() + bars[f"delay:t4:{i}"].get_height() for i in range(toy.n_users)]
    np.testing.assert_allclose(tops, ev.user_delay, rtol=1e-12)
    (t_line,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("T_total")]
    assert t_line.get_ydata()[0] == pytest.approx(ev.delay)


def test_trace_is_the_history_scr(solved, toy, tmp_path):
    ax = panel(plot_solution(solved, toy, "trace"), "trace")
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == "SCR"]
    np.testing.assert_allclose(line.get_ydata(), solved.history["scr"].to_numpy(dtype=float))
    marked = {c.get_label(): len(c.get_offsets()) for c in ax.collections}
    steps = solved.history["step"].value_counts()
    assert marked["part 1 (association)"] == steps["part1"]
    assert marked["part 2 (resources)"] == steps["part2"]
    assert marked["outer iteration"] == steps["outer"]
    # the same trace from the workbook's history sheet (cells, not floats)
    write_solution(solved, tmp_path / "s.xlsx", toy)
    back = read_solution(tmp_path / "s.xlsx", toy)
    ax2 = panel(plot_solution(back, toy, "trace"), "trace")
    (line2,) = [ln for ln in ax2.get_lines() if ln.get_label() == "SCR"]
    np.testing.assert_allclose(line2.get_ydata(), line.get_ydata(), rtol=1e-12)


def test_trace_without_history_says_so(paper_default):
    sol = lm.solve(paper_default, method="gucaa")
    fig = plot_solution(sol, paper_default)
    ax = panel(fig, "trace")
    assert not ax.get_lines() and "no SCR history" in ax.texts[0].get_text()
    assert len(by_gid(panel(fig, "delays"), "delay:t1:")) == paper_default.n_users


def test_given_axes_and_bad_arguments(solved, toy):
    from matplotlib.figure import Figure

    f = Figure()
    axes = f.subplots(1, 2)
    assert plot_solution(solved, toy, ("trace", "map"), ax=axes) is f
    assert [a.get_label() for a in axes] == ["trace", "map"]
    with pytest.raises(lm.InputError, match="unknown panel"):
        plot_solution(solved, toy, ("map", "pie"))
    with pytest.raises(lm.InputError, match="2 axes given for 1 panel"):
        plot_solution(solved, toy, "map", ax=axes)


def test_cli_plot_writes_the_figure(work, capsys):
    assert main(["plot", "sol.xlsx", "--scenario", "sc.xlsx", "--panel", "trace", "--panel", "map", "-o", "t.svg"]) == 0
    assert b"<svg" in (work / "t.svg").read_bytes()[:400]
    assert main(["plot", "sol.xlsx", "--scenario", "sc.xlsx"]) == 0  # default: beside the solution
    assert (work / "sol.png").read_bytes()[:8] == PNG_MAGIC
    assert "wrote sol.png" in capsys.readouterr().out


@pytest.mark.parametrize("argv, rc, message", [
    (["plot", "sol.xlsx", "--scenario", "sc.xlsx", "-o", "fig.jpg"], 2, "must be a .png or .svg or .pdf"),
    (["plot", "sol.xlsx", "--scenario", "sc.xlsx", "-o", "missing/fig.png"], 2, "does not exist"),
    (["plot", "sol.xlsx", "--scenario", "sc.xlsx", "-o", "sol.xlsx"], 2, "output must be"),
    (["plot", "nope.xlsx", "--scenario", "sc.xlsx", "-o", "fig.png"], 2, "nope.xlsx"),
    (["plot", "sol.xlsx", "--scenario", "other.xlsx", "-o", "fig.png"], 2, "sheet 'users'"),
    (["plot", "sol.xlsx", "-o", "fig.png"], 2, "--scenario"),
    (["plot", "sol.xlsx", "--scenario", "sc.xlsx", "--panel", "pie", "-o", "fig.png"], 2, "invalid choice"),
])
def test_cli_plot_bad_input_leaves_nothing(work, capsys, paper_default, argv, rc, message):
    lm.write_scenario(paper_default, work / "other.xlsx")
    before = sorted(os.listdir(work))
    assert main(argv) == rc
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()[-1]) > 0
    assert sorted(os.listdir(work)) == before  # no figure, no temporary file


def test_cli_plot_failed_write_leaves_nothing(work, capsys, monkeypatch):
    from matplotlib.figure import Figure

    def boom(self, *a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", boom)
    before = sorted(os.listdir(work))
    assert main(["plot", "sol.xlsx", "--scenario", "sc.xlsx", "-o", "fig.pdf"]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert sorted(os.listdir(work)) == before


def test_cli_plot_paper_default_without_positions(tmp_path, monkeypatch, paper_default, capsys):
    monkeypatch.chdir(tmp_path)
    bare = dataclasses.replace(paper_default, user_xy=None, server_xy=None)
    lm.write_scenario(bare, "bare.xlsx")
    assert "x_m" not in lm.read_scenario("bare.xlsx").users_frame()  # the workbook has no positions
    write_solution(lm.solve(bare, method="gucaa"), "sol.xlsx", bare)
    assert main(["plot", "sol.xlsx", "--scenario", "bare.xlsx", "--panel", "map", "-o", "map.png"]) == 0
    assert (tmp_path / "map.png").read_bytes()[:8] == PNG_MAGIC

"""Pictures of one solution (issue 15): the network map, the resource shares, the delays and the SCR trace.

:func:`plot_solution` draws up to four panels with matplotlib's object API
(:class:`matplotlib.figure.Figure`, no pyplot state), so it works without a
display (the Agg canvas) and inside notebooks alike:

``map``
    servers and users (at their positions ``x_m``, ``y_m`` when the scenario has
    them, else in a bipartite layout), one line per association ``x_nm = 1`` whose
    width is the user's bandwidth share ``b_nm / b_max_m`` (3d); the user marker's
    colour is the device's share ``φ_n`` of the adapter (3c).
``shares``
    per server, three stacked bars — bandwidth ``b_nm / b_max_m`` (3d), power
    ``P_nm / p_max_m`` (3f) and compute ``F_nm / F_max_m`` (3h) — with one segment
    per user of that server; a full bar is the whole budget.
``delays``
    per user, the four delays T1..T4 of MODEL.md §3.2 stacked, against
    ``T_total = max_n`` of their sums (the denominator's delay term of (2)).
``trace``
    the SCR (2) of the incumbent at every recorded step of the history, with the
    ``part1``, ``part2`` and ``outer`` steps marked as in the paper's Fig. 2.

The delays come from the package's evaluator (:func:`pyomo_llmmec.evaluate`),
which is run on the solution against the scenario, so a plot never shows
numbers other than the ones ``llmmec evaluate`` reports.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError

PANELS = ("map", "shares", "delays", "trace")
FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
PANEL_TITLES = {
    "map": "association (line width: bandwidth share)",
    "shares": "resource shares per server",
    "delays": "delays per user",
    "trace": "SCR trace",
}
SHARE_RESOURCES = (  # (key, label, Solution.frame() column, scenario budget attribute, constraint)
    ("bandwidth", "b", "bandwidth_hz", "bandwidth_hz", "(3d)"),
    ("power", "P", "p_server_w", "server_p_max_w", "(3f)"),
    ("compute", "F", "f_server_flops", "server_f_max_flops", "(3h)"),
)
DELAY_TERMS = (("t1", "T1 device training"), ("t2", "T2 upload"), ("t3", "T3 server training"), ("t4", "T4 download"))
TRACE_MARKERS = {  # history step -> (marker, colour, label)
    "part1": ("^", "tab:blue", "part 1 (association)"),
    "part2": ("o", "tab:orange", "part 2 (resources)"),
    "outer": ("s", "tab:red", "outer iteration"),
}
_LEGEND_MAX_USERS = 10  # the shares panel names users in a legend up to this many


def check_panels(panels) -> tuple[str, ...]:
    """The panel names, checked (order kept, duplicates dropped).

    Raises
    ------
    InputError
        When a name is not one of :data:`PANELS` or none is given.
    """
    if isinstance(panels, str):
        panels = (panels,)
    names = tuple(dict.fromkeys(str(p).strip().lower() for p in panels))
    if not names:
        raise InputError(f"give at least one panel of {', '.join(PANELS)}")
    bad = [p for p in names if p not in PANELS]
    if bad:
        raise InputError(f"unknown panel(s) {', '.join(bad)}; choose from {', '.join(PANELS)}")
    return names


def resource_shares(solution, scenario) -> pd.DataFrame:
    """Each user's share of its server's budgets: one row per user.

    Columns ``user``, ``server``, ``bandwidth``, ``power``, ``compute``: the
    fractions ``b_nm / b_max_m``, ``P_nm / p_max_m``, ``F_nm / F_max_m`` whose sums
    over a server's users are the left-hand sides of (3d), (3f) and (3h).
    """
    frame = solution.frame()
    a = solution.assignment
    out = pd.DataFrame({"user": frame["user"], "server": frame["server"]})
    for key, _label, column, budget, _eq in SHARE_RESOURCES:
        out[key] = frame[column].to_numpy(dtype=float) / getattr(scenario, budget)[a]
    return out


def history_scr(history) -> pd.DataFrame:
    """The history's ``step``, ``scr`` and ``candidate_scr`` columns, SCRs as numbers (a workbook stores cells)."""
    if history is None or not len(history) or "scr" not in history:
        return pd.DataFrame({"step": pd.Series(dtype=object), "scr": pd.Series(dtype=float),
                             "candidate_scr": pd.Series(dtype=float)})
    step = history["step"].astype(str) if "step" in history else pd.Series([""] * len(history))
    cand = history["candidate_scr"] if "candidate_scr" in history else pd.Series([np.nan] * len(history))
    return pd.DataFrame({"step": step.to_numpy(), "scr": pd.to_numeric(history["scr"], errors="coerce").to_numpy(),
                         "candidate_scr": pd.to_numeric(cand, errors="coerce").to_numpy()})


# ------------------------------------------------------------------------------------------
# panels
# ------------------------------------------------------------------------------------------


def _layout(scenario):
    """(user_xy, server_xy, has_positions): the scenario's positions, else a bipartite layout."""
    if scenario.user_xy is not None and scenario.server_xy is not None:
        return np.asarray(scenario.user_xy, float), np.asarray(scenario.server_xy, float), True
    n, m = scenario.n_users, scenario.n_servers

    def column(k, x):
        y = np.linspace(1.0, 0.0, k) if k > 1 else np.array([0.5])
        return np.column_stack([np.full(k, x), y])

    return column(n, 0.0), column(m, 1.0), False


def draw_map(ax, solution, scenario):
    """Panel ``map``: one line per association (width ∝ bandwidth share), users coloured by φ."""
    from matplotlib.collections import LineCollection

    uxy, sxy, real = _layout(scenario)
    a = solution.assignment
    share = resource_shares(solution, scenario)["bandwidth"].to_numpy()
    segments = [[tuple(uxy[i]), tuple(sxy[a[i]])] for i in range(solution.n_users)]
    lines = LineCollection(segments, linewidths=0.6 + 6.0 * np.clip(share, 0.0, 1.0), colors="0.45", alpha=0.8,
                           label="associations", zorder=1)
    ax.add_collection(lines)
    users = ax.scatter(uxy[:, 0], uxy[:, 1], c=solution.phi, cmap="viridis", vmin=0.0, vmax=1.0, s=46,
                       edgecolors="k", linewidths=0.5, zorder=3, label="users")
    ax.scatter(sxy[:, 0], sxy[:, 1], marker="s", s=120, c="tab:red", edgecolors="k", zorder=4, label="servers")
    for j, sid in enumerate(scenario.server_ids):
        ax.annotate(str(sid), sxy[j], textcoords="offset points", xytext=(6, 6), fontsize=8, zorder=5)
    if scenario.n_users <= 30:
        for i, uid in enumerate(scenario.user_ids):
            ax.annotate(str(uid), uxy[i], textcoords="offset points", xytext=(4, -9), fontsize=7, color="0.3")
    ax.figure.colorbar(users, ax=ax, label="φ (device share of the adapter)")
    if real:
        ax.set_xlabel("x (m)")
        ax.set_ylabel("y (m)")
        ax.set_aspect("equal", adjustable="datalim")
    else:
        ax.set_xticks([0.0, 1.0], ["users", "servers"])
        ax.set_yticks([])
        ax.set_xlim(-0.25, 1.25)
    ax.autoscale_view()
    ax.set_title(PANEL_TITLES["map"] + ("" if real else ", no positions in the scenario"), fontsize=10)
    return ax


def _user_colors(n):
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    return [cmap(i % 20) for i in range(n)]


def draw_shares(ax, solution, scenario):
    """Panel ``shares``: per server, stacked bars of each user's bandwidth, power and compute share.

    Every bar segment carries the gid ``share:<resource>:<user position>``.
    """
    sh = resource_shares(solution, scenario)
    a = solution.assignment
    colors = _user_colors(solution.n_users)
    k = len(SHARE_RESOURCES)
    ticks, labels = [], []
    for j, sid in enumerate(scenario.server_ids):
        users = np.flatnonzero(a == j)
        for r, (key, label, *_rest) in enumerate(SHARE_RESOURCES):
            x = j * (k + 1) + r
            ticks.append(x)
            labels.append(f"{label}\n{sid}" if r == 1 else label)
            bottom = 0.0
            for i in users:
                h = float(sh[key].iloc[i])
                (rect,) = ax.bar(x, h, bottom=bottom, width=0.8, color=colors[i], edgecolor="white", linewidth=0.5,
                                 label=str(scenario.user_ids[i]) if r == 0 else None)
                rect.set_gid(f"share:{key}:{i}")
                bottom += h
    ax.axhline(1.0, color="k", linestyle="--", linewidth=0.8)
    ax.set_xticks(ticks, labels, fontsize=7)
    ax.set_ylabel("share of the server's budget")
    legend = solution.n_users <= _LEGEND_MAX_USERS
    ax.set_ylim(0.0, 1.3 if legend else 1.05)
    ax.set_title(PANEL_TITLES["shares"] + " (b, P, F)", fontsize=10)
    if legend:
        ax.legend(title="user", fontsize=7, title_fontsize=7, loc="upper center", ncols=min(solution.n_users, 5))
    return ax


def draw_delays(ax, solution, scenario, evaluation=None):
    """Panel ``delays``: per user, T1..T4 (from the evaluator) stacked, and T_total as a line.

    Every bar segment carries the gid ``delay:<term>:<user position>``.
    """
    from .solution import evaluate

    ev = evaluation if evaluation is not None else evaluate(scenario, solution, attach=False)
    x = np.arange(solution.n_users)
    bottom = np.zeros(solution.n_users)
    for key, label in DELAY_TERMS:
        h = np.asarray(getattr(ev, key), dtype=float)
        h = np.where(np.isfinite(h), h, np.nan)  # an infinite delay (an infeasible point) is not drawn
        bars = ax.bar(x, h, bottom=bottom, width=0.8, label=label)
        for i, rect in enumerate(bars):
            rect.set_gid(f"delay:{key}:{i}")
        bottom = bottom + np.nan_to_num(h)
    if np.isfinite(ev.delay):
        ax.axhline(ev.delay, color="k", linestyle="--", linewidth=0.9, label=f"T_total = {ev.delay:.4g} s")
    ax.set_xticks(x, [str(u) for u in scenario.user_ids], fontsize=7, rotation=90 if solution.n_users > 12 else 0)
    ax.set_xlabel("user")
    ax.set_ylabel("delay (s)")
    ax.set_title(PANEL_TITLES["delays"], fontsize=10)
    top = np.nanmax(bottom) if np.isfinite(bottom).any() and np.nanmax(bottom) > 0 else 1.0
    ax.set_ylim(0.0, 1.3 * top)
    ax.legend(fontsize=7, loc="upper center", ncols=3)
    return ax


def draw_trace(ax, solution):
    """Panel ``trace``: the history's SCR at every recorded step, part-1/part-2/outer steps marked (Fig. 2).

    The line (label ``SCR``) has the history's ``scr`` column as its y data, step
    by step; a solution without a history gets a note instead.
    """
    h = history_scr(solution.history)
    ax.set_title(PANEL_TITLES["trace"], fontsize=10)
    if not len(h) or not np.isfinite(h["scr"]).any():
        ax.text(0.5, 0.5, f"no SCR history\n(method {solution.method!r} records none)", ha="center", va="center",
                transform=ax.transAxes, color="0.4")
        ax.set_xticks([])
        ax.set_yticks([])
        return ax
    steps = np.arange(len(h))
    ax.plot(steps, h["scr"].to_numpy(), color="0.3", linewidth=1.2, label="SCR", zorder=2)
    if np.isfinite(h["candidate_scr"]).any():
        ax.plot(steps, h["candidate_scr"].to_numpy(), color="0.6", linewidth=0.8, linestyle=":",
                label="SCR of the step's candidate", zorder=1)
    for step, (marker, color, label) in TRACE_MARKERS.items():
        sel = (h["step"] == step).to_numpy()
        if sel.any():
            ax.scatter(steps[sel], h["scr"].to_numpy()[sel], marker=marker, color=color, s=30, label=label, zorder=3)
    positive = h["scr"][h["scr"] > 0]
    if len(positive) and positive.max() / positive.min() > 30:
        ax.set_yscale("log")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("recorded step of the history")
    ax.set_ylabel("SCR of the incumbent")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return ax


# ------------------------------------------------------------------------------------------


def plot_solution(solution, scenario, panels=PANELS, *, ax=None, fig=None, title=None):
    """Draw a solution: the network map, the resource shares, the delays and the SCR trace.

    Parameters
    ----------
    solution : Solution
        A solution of ``scenario`` (from :func:`pyomo_llmmec.solve` or
        :func:`pyomo_llmmec.read_solution`); it is evaluated against the
        scenario here (the evaluator of MODEL.md §3).
    scenario : Scenario
        The scenario the solution is for (positions ``x_m``, ``y_m`` are used
        by the map when it has them).
    panels : sequence of str or str, optional
        Any of ``"map"``, ``"shares"``, ``"delays"``, ``"trace"`` (default: all
        four, as a 2 × 2 grid).
    ax : matplotlib.axes.Axes or sequence of Axes, optional
        Axes to draw into, one per panel; by default a new figure is made.
    fig : matplotlib.figure.Figure, optional
        Figure to draw into (new axes are added to it); ignored with ``ax``.
    title : str, optional
        Figure title (default: method, SCR, users and servers).

    Returns
    -------
    matplotlib.figure.Figure
        The figure; its axes are in panel order and each axis's ``get_label()``
        is its panel name.

    Raises
    ------
    InputError
        When a panel name is unknown, ``ax`` does not match the panels, or the
        solution is not for this scenario.

    Examples
    --------
    >>> import pyomo_llmmec as lm
    >>> sc = lm.read_scenario("data/toy_3x2.xlsx")
    >>> sol = lm.solve(sc, method="dashf")
    >>> fig = lm.plot_solution(sol, sc)          # doctest: +SKIP
    >>> fig.savefig("toy.png")                   # doctest: +SKIP
    """
    from .solution import evaluate

    names = check_panels(panels)
    ev = evaluate(scenario, solution, attach=False)
    if ax is not None:
        axes = [ax] if not isinstance(ax, (list, tuple, np.ndarray)) else list(np.ravel(ax))
        if len(axes) != len(names):
            raise InputError(f"ax: {len(axes)} axes given for {len(names)} panel(s) ({', '.join(names)})")
        fig = axes[0].figure
    else:
        ncols = 2 if len(names) > 1 else 1
        nrows = -(-len(names) // ncols)
        if fig is None:
            from matplotlib.figure import Figure

            fig = Figure(figsize=(6.4 * ncols, 4.8 * nrows), layout="constrained")
        grid = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for extra in grid[len(names):]:
            extra.remove()
        axes = list(grid[: len(names)])
    for name, a in zip(names, axes):
        a.set_label(name)
        if name == "map":
            draw_map(a, solution, scenario)
        elif name == "shares":
            draw_shares(a, solution, scenario)
        elif name == "delays":
            draw_delays(a, solution, scenario, ev)
        else:
            draw_trace(a, solution)
    if title is None:
        title = (f"{solution.method}: SCR {ev.scr:.6g}, {solution.n_users} users, {solution.n_servers} servers"
                 + ("" if ev.feasible else " — INFEASIBLE: " + "; ".join(ev.problems[:2])))
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def save_figure(fig, path, *, dpi: int = 150) -> Path:
    """Write ``fig`` to ``path`` (.png, .svg or .pdf, from the suffix), atomically; returns the path."""
    from .io import atomic_path, check_output_path

    path = check_output_path(path, suffixes=FIGURE_SUFFIXES)
    fmt = path.suffix.lower().lstrip(".")
    with atomic_path(path, suffix=path.suffix) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)
    return path

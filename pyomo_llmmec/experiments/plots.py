"""Figures of the experiments (matplotlib, no pyplot state): mean over seeds and its 95 % confidence band.

Every figure is saved as ``<experiment>.png`` (150 dpi) and ``<experiment>.svg``,
each written atomically.  Means and intervals come from the summary tables of
:mod:`.report` (Student-t intervals over seeds; no band when fewer than 2 runs).
Lines and shaded bands are used along ordered axes (iterations, bandwidth,
ω_t); bars with error bars for the categorical comparison of Fig. 3(a).

A value axis is logarithmic when its positive means span more than a factor
of 30 (SCRs of different methods differ by orders of magnitude); on a log axis
the part of a band at or below zero is drawn down to the bottom of the axis.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..io import atomic_path
from .curves import CURVE_LABELS
from .tasks import METHOD_LABELS, PAPER_METHODS

LOG_SPREAD = 30.0
METRIC_LABELS = {"scr": "SCR", "delay_s": "delay T (s)", "energy_j": "energy E (J)", "service": "service score"}
_COLORS = {"rucaa": "tab:gray", "gucaa": "tab:brown", "aauco": "tab:blue", "gucro": "tab:green", "dashf": "tab:red"}


def _figure(ncols: int, width: float = 5.0, height: float = 4.0):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def save_figure(fig, base: Path) -> list[Path]:
    """Save ``fig`` as ``base.png`` and ``base.svg`` (atomically); returns both paths."""
    paths = []
    for ext, kw in (("png", {"dpi": 150}), ("svg", {})):
        path = Path(f"{base}.{ext}")
        with atomic_path(path, suffix=f".{ext}") as tmp:
            fig.savefig(tmp, format=ext, **kw)
        paths.append(path)
    return paths


def _log_floor(means, lows) -> float | None:
    """None for a linear axis; else the bottom of the log axis."""
    m = np.asarray([v for v in np.ravel(means) if np.isfinite(v)], dtype=float)
    if len(m) == 0 or np.any(m <= 0) or m.max() / m.min() <= LOG_SPREAD:
        return None
    pos = np.concatenate([m, [v for v in np.ravel(lows) if np.isfinite(v) and v > 0]])
    return float(pos.min()) / 2.0


def _band(ax, x, mean, lo, hi, floor, **kw):
    x, mean, lo, hi = (np.asarray(a, dtype=float) for a in (x, mean, lo, hi))
    (line,) = ax.plot(x, mean, marker="o", markersize=3.5, **kw)
    if floor is not None:
        lo = np.where(np.isfinite(lo) & (lo <= floor), floor, lo)
    ok = np.isfinite(lo) & np.isfinite(hi)
    if ok.any():
        ax.fill_between(x, lo, hi, where=ok, color=line.get_color(), alpha=0.2, linewidth=0)
    return line


def _finish_axis(ax, floor, ylabel, xlabel, title=None):
    if floor is not None:
        ax.set_yscale("log")
        ax.set_ylim(bottom=floor)
    ax.set_ylabel(ylabel + (" (log scale)" if floor is not None else ""))
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", alpha=0.3)


def _n_text(df, what: str = "band") -> str:
    n = df["n"].max() if len(df) else 0
    return f"mean over {int(n)} seed(s), 95 % t-interval {what}"


# ----------------------------------------------------------------------------------------


def plot_convergence(curve_summary: pd.DataFrame, base: Path) -> list[Path]:
    """Fig. 2(a)-(c): SCR per iteration of AO part 1, AO part 2 (first outer iteration) and DASHF."""
    fig, axes = _figure(3)
    xlabels = {"part1": "outer iteration (0 = initial point)", "part2": "part-2 iteration (first outer iteration)",
               "dashf": "outer iteration (0 = initial point)"}
    for ax, curve in zip(axes, ("part1", "part2", "dashf")):
        d = curve_summary[curve_summary["curve"] == curve]
        floor = _log_floor(d["mean"], d["ci95_low"])
        for (n, m), g in d.groupby(["users", "servers"], sort=False):
            _band(ax, g["iteration"], g["mean"], g["ci95_low"], g["ci95_high"], floor, label=f"{n} users, {m} servers")
        _finish_axis(ax, floor, "SCR", xlabels[curve], CURVE_LABELS[curve])
        ax.xaxis.get_major_locator().set_params(integer=True)
        if len(d):
            ax.legend(fontsize=8)
    fig.suptitle(f"Fig. 2: convergence ({_n_text(curve_summary)})", fontsize=11)
    return save_figure(fig, base)


def _methods_in(df):
    present = list(dict.fromkeys(df["method"]))
    return [m for m in PAPER_METHODS if m in present] + [m for m in present if m not in PAPER_METHODS]


def plot_baselines(summary: pd.DataFrame, base: Path) -> list[Path]:
    """Fig. 3(a): delay, energy and SCR per method (bars: mean; error bars: 95 % interval)."""
    metrics = ("delay_s", "energy_j", "scr")
    fig, axes = _figure(3, width=4.6)
    methods = _methods_in(summary)
    for ax, metric in zip(axes, metrics):
        d = summary[summary["metric"] == metric].set_index("method").reindex(methods)
        mean, lo, hi = (d[c].to_numpy(float) for c in ("mean", "ci95_low", "ci95_high"))
        floor = _log_floor(mean, lo)
        low_err = mean - (np.where(lo <= floor, floor, lo) if floor is not None else lo)
        err = np.vstack([np.nan_to_num(low_err, nan=0.0), np.nan_to_num(hi - mean, nan=0.0)])
        x = np.arange(len(methods))
        ax.bar(x, mean, yerr=err, capsize=4, color=[_COLORS.get(m, "tab:purple") for m in methods], alpha=0.85)
        ax.set_xticks(x, [METHOD_LABELS.get(m, m) for m in methods])
        _finish_axis(ax, floor, METRIC_LABELS[metric], "method")
    fig.suptitle(f"Fig. 3(a): delay, energy and SCR ({_n_text(summary, 'error bars')})", fontsize=11)
    return save_figure(fig, base)


def plot_bandwidth(summary: pd.DataFrame, base: Path) -> list[Path]:
    """Fig. 3(b): SCR of each method against the per-server bandwidth (MHz)."""
    fig, (ax,) = _figure(1, width=6.5, height=4.5)
    d = summary[summary["metric"] == "scr"]
    floor = _log_floor(d["mean"], d["ci95_low"])
    for meth in _methods_in(d):
        g = d[d["method"] == meth].sort_values("bandwidth_mhz")
        _band(ax, g["bandwidth_mhz"], g["mean"], g["ci95_low"], g["ci95_high"], floor,
              label=METHOD_LABELS.get(meth, meth), color=_COLORS.get(meth))
    _finish_axis(ax, floor, "SCR", "bandwidth per server b_max (MHz)", f"Fig. 3(b): SCR vs bandwidth ({_n_text(d)})")
    ax.legend(fontsize=8)
    return save_figure(fig, base)


def plot_weights(summary: pd.DataFrame, base: Path) -> list[Path]:
    """Fig. 3(c): delay, energy and SCR against the cost weights (ω_t, ω_e)."""
    metrics = ("delay_s", "energy_j", "scr")
    fig, axes = _figure(3, width=4.8)
    pairs = list(dict.fromkeys(zip(summary["weight_time"], summary["weight_energy"])))
    pairs.sort()
    x_of = {p: i for i, p in enumerate(pairs)}
    for ax, metric in zip(axes, metrics):
        d = summary[summary["metric"] == metric]
        floor = _log_floor(d["mean"], d["ci95_low"])
        for meth in _methods_in(d):
            g = d[d["method"] == meth].sort_values(["weight_time", "weight_energy"])
            x = [x_of[p] for p in zip(g["weight_time"], g["weight_energy"])]
            _band(ax, x, g["mean"], g["ci95_low"], g["ci95_high"], floor,
                  label=METHOD_LABELS.get(meth, meth), color=_COLORS.get(meth))
        ax.set_xticks(range(len(pairs)), [f"({wt:g}, {we:g})" for wt, we in pairs], rotation=30, fontsize=8)
        _finish_axis(ax, floor, METRIC_LABELS[metric], r"$(\omega_t,\ \omega_e)$")
        ax.legend(fontsize=8)
    fig.suptitle(f"Fig. 3(c): cost weights ({_n_text(summary)})", fontsize=11)
    return save_figure(fig, base)


PLOTTERS = {"convergence": plot_convergence, "baselines": plot_baselines, "bandwidth": plot_bandwidth,
            "weights": plot_weights}

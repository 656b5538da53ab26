"""A self-contained HTML report of ``llmmec compare`` (issue 15 item 2).

One file, no external resource: the figures are embedded as base64 PNG
(``data:`` URIs) and the style sheet is inline, so the report can be mailed or
opened offline.  It holds

* the scenario's summary (sizes, budgets, system constants),
* the comparison table of :func:`pyomo_llmmec.compare.compare` (SCR (2),
  service (1), delay T_total, energy E_total, wall time, gap to the best proven
  bound),
* a bar chart of the SCR by method with the best proven bound as a line,
* each method's network map and SCR trace (:func:`pyomo_llmmec.plot.plot_solution`),
* the package and solver versions.

Every number in it comes from the table and the evaluated solutions that
``compare`` returns; nothing is recomputed here.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import importlib.metadata
import io
import math

import numpy as np
import pandas as pd

from .io import atomic_path, check_output_path

HTML_SUFFIXES = (".html", ".htm")
VERSION_DISTS = ("pyomo-llmmec", "pyomo", "cyipopt-wheels", "gurobipy", "highspy", "cvxpy", "clarabel", "scs",
                 "numpy", "scipy", "pandas", "matplotlib", "dask")
TABLE_COLUMNS = {  # compare() column -> (header, format)
    "method": ("method", None), "status": ("status", None), "scr": ("SCR", ".6g"), "service": ("service", ".6g"),
    "delay_s": ("delay T (s)", ".6g"), "energy_j": ("energy E (J)", ".6g"), "wall_s": ("wall (s)", ".2f"),
    "gap": ("gap to best bound", ".3g"), "vs_best": ("SCR / best SCR", ".4f"), "message": ("notes", None),
}
_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; padding: 0 1.5em; max-width: 72em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f0f0f0; } td.text, th.text { text-align: left; }
tr.failed td { color: #a00; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
.small { font-size: 0.85em; color: #555; }
"""


def figure_data_uri(fig, dpi: int = 110) -> str:
    """The figure as a ``data:image/png;base64,...`` URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def versions() -> dict[str, str]:
    """Versions of the package, its solvers and its main libraries (``"not installed"`` when missing)."""
    out = {}
    for dist in VERSION_DISTS:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    try:
        import cyipopt

        out["Ipopt"] = ".".join(map(str, getattr(cyipopt, "IPOPT_VERSION", ()))) or "unknown"
    except ImportError:
        out["Ipopt"] = "not installed"
    try:
        import gurobipy

        out["Gurobi"] = ".".join(map(str, gurobipy.gurobi.version()))
    except ImportError:
        out["Gurobi"] = "not installed"
    return out


def scr_bar_chart(df: pd.DataFrame):
    """Bar chart of the SCR by method (methods without a solution are named, with no bar); the best bound as a line."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 3.6), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(df))
    scr = pd.to_numeric(df["scr"], errors="coerce").to_numpy(dtype=float)
    bars = ax.bar(x, np.nan_to_num(scr), color=["tab:red" if m == "dashf" else "tab:blue" for m in df["method"]],
                  label="SCR")
    for i, rect in enumerate(bars):
        rect.set_gid(f"scr:{df['method'].iloc[i]}")
        if not np.isfinite(scr[i]):
            ax.text(i, 0, str(df["status"].iloc[i]), rotation=90, ha="center", va="bottom", fontsize=8, color="0.4")
    bound = float(df["bound"].iloc[0]) if len(df) and pd.notna(df["bound"].iloc[0]) else math.nan
    if math.isfinite(bound):
        ax.axhline(bound, color="k", linestyle="--", linewidth=1.0, label=f"best proven bound {bound:.6g}")
    ax.set_xticks(x, list(df["method"]))
    positive = scr[np.isfinite(scr) & (scr > 0)]
    if len(positive) and positive.max() / positive.min() > 30:  # SCRs of different methods differ by orders of magnitude
        ax.set_yscale("log")
    ax.set_ylabel("SCR" + (" (log scale)" if ax.get_yscale() == "log" else ""))
    ax.set_title("SCR by method" + ("" if math.isfinite(bound) else " (no proven bound: run method 'global')"),
                 fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def _table_html(df: pd.DataFrame) -> str:
    def cell(v, fmt):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return ""
        return html.escape(format(v, fmt) if fmt else str(v))

    head = "".join(f'<th class="{"text" if fmt is None else "num"}">{html.escape(h)}</th>'
                   for h, fmt in TABLE_COLUMNS.values())
    rows = []
    for _, r in df.iterrows():
        ok = pd.notna(r.get("scr"))
        tds = "".join(f'<td class="{"text" if fmt is None else "num"}">{cell(r.get(c), fmt)}</td>'
                      for c, (_h, fmt) in TABLE_COLUMNS.items())
        rows.append(f'<tr id="row-{html.escape(str(r["method"]))}" class="{"ok" if ok else "failed"}">{tds}</tr>')
    return f'<table id="compare"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _frame_html(df: pd.DataFrame, table_id: str) -> str:
    return df.to_html(index=False, border=0, table_id=table_id, float_format=lambda v: f"{v:.6g}", escape=True)


def scenario_summary(scenario) -> pd.DataFrame:
    """Key facts of the scenario: sizes, whether it has positions, totals and ranges of the budgets."""
    rows = [
        ("name", scenario.name), ("users N", scenario.n_users), ("servers M", scenario.n_servers),
        ("positions (x_m, y_m)", "yes" if scenario.user_xy is not None and scenario.server_xy is not None else "no"),
        ("adapter parameters d_n", f"{scenario.adapter_params.min():.4g} .. {scenario.adapter_params.max():.4g}"),
        ("channel gains g_nm", f"{scenario.gain.min():.4g} .. {scenario.gain.max():.4g}"),
        ("total bandwidth (Hz)", f"{scenario.bandwidth_hz.sum():.6g}"),
        ("total server power (W)", f"{scenario.server_p_max_w.sum():.6g}"),
        ("total server compute (FLOP/s)", f"{scenario.server_f_max_flops.sum():.6g}"),
    ]
    return pd.DataFrame(rows, columns=["item", "value"])


def build_html_report(df: pd.DataFrame, sols: dict, scenario, *, title: str | None = None, source: str | None = None) -> str:
    """The report as one HTML string (see the module docstring).

    Parameters
    ----------
    df : pandas.DataFrame
        The table of :func:`pyomo_llmmec.compare.compare` (one row per method).
    sols : dict
        Method name → evaluated :class:`~pyomo_llmmec.Solution` (the methods that succeeded).
    scenario : Scenario
        The scenario that was solved.
    title : str, optional
        Page title (default: names the scenario).
    source : str, optional
        Where the scenario came from (e.g. its file name), shown under the title.

    Returns
    -------
    str
        A complete HTML document with every figure embedded.
    """
    from .plot import history_scr, plot_solution

    title = title or f"llmmec compare: {scenario.name} ({scenario.n_users} users, {scenario.n_servers} servers)"
    esc = html.escape
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>", f"<style>{_STYLE}</style>", "</head>", "<body>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="small">{esc(source) + " — " if source else ""}generated {esc(now)} by pyomo_llmmec. '
        "SCR = service / (ω_t T_total + ω_e E_total), eq. (2); every solution was re-evaluated from the definitions "
        "(feasible for (3)). gap = (best proven bound − SCR) / SCR.</p>",
        '<h2 id="comparison">Comparison</h2>', _table_html(df),
    ]
    b = df["bound"].iloc[0] if len(df) else math.nan
    src, note = df.attrs.get("bound_method"), df.attrs.get("bound_note")
    how = f" ({src}{'; ' + note if note else ''})" if src else (f" ({note})" if note else "")
    parts.append(f'<p class="small">best proven SCR bound: {esc(f"{b:.8g}" + how)}</p>' if pd.notna(b) and math.isfinite(b)
                 else f'<p class="small">best proven SCR bound: none{esc(how or " (not computed)")}</p>')
    parts += ['<figure id="fig-scr">', f'<img alt="SCR by method" src="{figure_data_uri(scr_bar_chart(df))}">',
              "<figcaption>SCR of each method; the dashed line is the best proven upper bound.</figcaption>", "</figure>"]
    parts.append('<h2 id="methods">Each method: network map and SCR trace</h2>')
    for name, sol in sols.items():
        has_trace = len(history_scr(sol.history)) > 0
        fig = plot_solution(sol, scenario, ("map", "trace") if has_trace else ("map",))
        parts += [f'<figure id="fig-{esc(name)}">', f'<img alt="{esc(name)}: map and trace" src="{figure_data_uri(fig)}">',
                  f"<figcaption>{esc(name)}: SCR {sol.scr:.6g}, users per server {esc(' '.join(map(str, sol.loads)))}"
                  "</figcaption>", "</figure>"]
    if not sols:
        parts.append("<p>No method delivered a solution.</p>")
    parts += ['<h2 id="scenario">Scenario</h2>', _frame_html(scenario_summary(scenario), "scenario-summary"),
              "<h3>Servers</h3>", _frame_html(scenario.servers_frame(), "servers"),
              "<h3>System constants</h3>", _frame_html(scenario.system_frame(), "system")]
    parts += ['<h2 id="versions">Versions</h2>',
              _frame_html(pd.DataFrame(list(versions().items()), columns=["package or solver", "version"]), "versions")]
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def write_html_report(df: pd.DataFrame, sols: dict, scenario, path, *, inputs=(), **kw):
    """Write :func:`build_html_report` to ``path`` (.html), atomically; returns the path.

    Raises
    ------
    pyomo_llmmec.errors.OutputError
        When ``path`` is not an .html file, cannot be written, or is one of ``inputs``.
    """
    path = check_output_path(path, inputs=inputs, suffixes=HTML_SUFFIXES)
    text = build_html_report(df, sols, scenario, **kw)
    with atomic_path(path, suffix=path.suffix) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path

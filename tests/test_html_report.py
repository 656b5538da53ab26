"""Issue 15 item 2: `llmmec compare --html` writes one self-contained HTML report."""

import base64
import io
import os
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from pyomo_llmmec.cli import main
from pyomo_llmmec.compare import compare
from pyomo_llmmec.report_html import build_html_report, scr_bar_chart, write_html_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
METHODS = ["aauco", "gucaa", "rucaa"]  # fast; aauco records a history (a trace), the baselines none


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []  # (tag, attrs dict)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def tags(text):
    p = _Tags()
    p.feed(text)
    return p.tags


@pytest.fixture(scope="module")
def compared(toy):
    df, sols = compare(toy, METHODS, seed=0, bound_time_limit=5)
    return df, sols


@pytest.fixture(scope="module")
def report(compared, toy):
    df, sols = compared
    return build_html_report(df, sols, toy, source="toy_3x2.xlsx")


def test_report_is_self_contained(report):
    found = tags(report)
    for tag, attrs in found:
        for key in ("src", "href", "data", "srcset", "poster", "action"):
            if attrs.get(key):
                assert attrs[key].startswith(("data:", "#")), f"<{tag} {key}={attrs[key][:60]!r}> is external"
        assert tag not in ("link", "script", "iframe", "object", "embed"), f"external or active element <{tag}>"
    assert "url(" not in report.split("<body>")[0]  # the inline style sheet loads nothing


def test_report_has_every_method_and_its_figures(report, compared):
    df, sols = compared
    found = tags(report)
    rows = {a.get("id") for t, a in found if t == "tr" and a.get("id")}
    assert rows == {f"row-{m}" for m in METHODS}
    imgs = [a for t, a in found if t == "img"]
    assert len(imgs) == 1 + len(sols)  # the SCR chart, one map (+ trace) per solved method
    for a in imgs:
        assert base64.b64decode(a["src"].split(",", 1)[1])[:8] == PNG_MAGIC
    figures = {a.get("id") for t, a in found if t == "figure"}
    assert figures == {"fig-scr", *(f"fig-{m}" for m in sols)}
    for m, sol in sols.items():  # the table shows the evaluator's SCR of each solution
        assert f"{sol.scr:.6g}" in report
    for section in ("comparison", "methods", "scenario", "versions"):
        assert f'id="{section}"' in report
    assert "best proven SCR bound" in report and f"{df['bound'].iloc[0]:.8g}" in report
    assert "pyomo-llmmec" in report and "Ipopt" in report and "HiGHS".lower() in report.lower()


def test_scr_chart_bars_and_bound_line(compared):
    df, _ = compared
    ax = scr_bar_chart(df).axes[0]
    bars = {p.get_gid(): p.get_height() for p in ax.patches if (p.get_gid() or "").startswith("scr:")}
    assert bars == pytest.approx({f"scr:{m}": s for m, s in zip(df["method"], df["scr"])})
    assert [ln for ln in ax.get_lines() if "bound" in ln.get_label()]  # the Lagrangian bound of compare: a line
    ax = scr_bar_chart(df.assign(bound=np.nan)).axes[0]
    assert not [ln for ln in ax.get_lines() if "bound" in ln.get_label()]  # no proven bound: no line
    with_bound = df.assign(bound=2.5)  # the line is drawn at the table's best proven bound
    ax = scr_bar_chart(with_bound).axes[0]
    (line,) = [ln for ln in ax.get_lines() if "bound" in ln.get_label()]
    assert np.all(np.asarray(line.get_ydata()) == 2.5)


def test_a_failed_method_is_a_row_without_figures(toy, monkeypatch):
    import pyomo_llmmec.compare as cmp
    from pyomo_llmmec.errors import SolverUnavailable

    real = cmp.solve

    def solve(sc, method, **kw):
        if method == "global":
            raise SolverUnavailable("Gurobi is not licensed here")
        return real(sc, method=method, **kw)

    monkeypatch.setattr(cmp, "solve", solve)
    df, sols = compare(toy, ["gucaa", "global"], bound=False)
    text = build_html_report(df, sols, toy)
    found = tags(text)
    assert {a.get("id") for t, a in found if t == "tr" and a.get("id")} == {"row-gucaa", "row-global"}
    assert [a["class"] for t, a in found if t == "tr" and a.get("id") == "row-global"] == ["failed"]
    assert "unavailable" in text and "Gurobi is not licensed here" in text
    assert {a.get("id") for t, a in found if t == "figure"} == {"fig-scr", "fig-gucaa"}
    assert "best proven SCR bound: none" in text


def test_write_html_report_refuses_bad_paths(compared, toy, tmp_path):
    df, sols = compared
    from pyomo_llmmec.errors import OutputError

    with pytest.raises(OutputError, match="must be a .html or .htm"):
        write_html_report(df, sols, toy, tmp_path / "r.pdf")
    with pytest.raises(OutputError, match="does not exist"):
        write_html_report(df, sols, toy, tmp_path / "missing" / "r.html")
    assert os.listdir(tmp_path) == []


def test_cli_compare_html(tmp_path, monkeypatch, data_dir, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copy(data_dir / "toy_3x2.xlsx", "sc.xlsx")
    assert main(["compare", "sc.xlsx", "--methods", "gucaa,rucaa", "--seed", "0", "--html", "r.pdf"]) == 2
    assert "must be a .html" in capsys.readouterr().err and sorted(os.listdir()) == ["sc.xlsx"]
    assert main(["compare", "sc.xlsx", "--methods", "gucaa,rucaa", "--seed", "0", "--bound-time-limit", "5", "--html", "r.html"]) == 0
    assert "wrote r.html" in capsys.readouterr().out
    text = Path("r.html").read_text(encoding="utf-8")
    assert 'id="row-gucaa"' in text and 'id="row-rucaa"' in text and text.rstrip().endswith("</html>")


# ------------------------------------------------------------------------------------------
# slow: the report in a real headless Chromium (Debian's chromium + chromium-driver)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1200,1600"]


@pytest.mark.slow
def test_report_in_headless_chromium(report, tmp_path):
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("chromium and chromium-driver are not installed (make setup-slow installs them)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (make setup-slow)")
    from selenium.webdriver.chrome.service import Service

    page = tmp_path / "report.html"
    page.write_text(report, encoding="utf-8")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        opts.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="llmmec-chromium-", dir=tmp_path)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    try:
        driver.get(page.as_uri())
        assert driver.title.startswith("llmmec compare")
        # every image decoded (naturalWidth > 0): the embedded figures are valid
        widths = driver.execute_script("return Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)")
        assert len(widths) >= 2 and all(w > 0 for w in widths)
        rows = driver.execute_script("return document.querySelectorAll('#compare tbody tr').length")
        assert rows == len(METHODS)
        errors = [e for e in driver.get_log("browser") if e.get("level") in ("SEVERE", "ERROR")]
        assert errors == [], errors
        png = driver.get_screenshot_as_png()
    finally:
        driver.quit()
    from matplotlib.image import imread

    img = imread(io.BytesIO(png), format="png")[..., :3]
    assert img.shape[0] > 500 and img.shape[1] > 500
    dark = (img.mean(axis=2) < 0.9).mean()  # fraction of pixels that are not (near) white
    assert dark > 0.02 and img.std() > 0.05, f"screenshot looks blank ({dark:.3%} non-white pixels)"


@pytest.mark.slow
def test_chromium_dump_dom_loads_the_report(report, tmp_path):
    """The same file through chromium's own --dump-dom (no WebDriver): the DOM has the table and the figures."""
    if not CHROMIUM:
        pytest.skip("chromium is not installed (make setup-slow installs it)")
    page = tmp_path / "report.html"
    page.write_text(report, encoding="utf-8")
    r = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count('<tr id="row-') == len(METHODS) and r.stdout.count("<img") >= 2


# ------------------------------------------------------------------------------------------
# issue 15 item 4: compare names the running method on a terminal, silent when piped or with --quiet


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("tty, extra, shown", [(True, [], True), (True, ["--quiet"], False), (False, [], False)])
def test_compare_status_line(tmp_path, monkeypatch, data_dir, capsys, tty, extra, shown):
    monkeypatch.chdir(tmp_path)
    shutil.copy(data_dir / "toy_3x2.xlsx", "sc.xlsx")
    err = _Terminal() if tty else io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    assert main(["compare", "sc.xlsx", "--methods", "gucaa,rucaa", "--seed", "0", "--bound-time-limit", "2", *extra]) == 0
    text = err.getvalue()
    if shown:
        assert "compare: running gucaa (1/2)" in text and "compare: running rucaa (2/2)" in text
        assert "compare: computing the SCR bound" in text
        assert text.endswith("\r\033[K")  # the line is cleared before the table
    else:
        assert "running" not in text and "\033" not in text
    assert "gucaa" in capsys.readouterr().out

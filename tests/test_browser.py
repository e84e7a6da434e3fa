"""report.html in a real headless Chromium: it loads with no console error, fetches nothing, and every
chart draws the marks its data calls for. A screenshot goes to $EDGEBENCH_SCREENSHOT_DIR (CI) or the
run folder."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from browser import Chromium, find_chromium
from conftest import ZOO, edgebench, need
from reportkit import copy_run, digits_run, tiny_twin

pytestmark = pytest.mark.browser

COUNTS = {
    "boxes": "document.querySelectorAll('svg[data-chart=latency] g.box').length",
    "pair_points": "document.querySelectorAll('svg[data-chart=speedup] circle.pair-point').length",
    "acc_points": "document.querySelectorAll('svg[data-chart=accuracy] circle.acc-point').length",
    "share_bars_time": "document.querySelectorAll('svg[data-chart=opshare] rect.share-bar[data-series=time]').length",
    "share_bars_macs": "document.querySelectorAll('svg[data-chart=opshare] rect.share-bar[data-series=macs]').length",
    "opshare_rows": "document.querySelectorAll('svg[data-chart=opshare] g.opshare').length",
    "charts": "[...document.querySelectorAll('svg.chart-svg')].map(s => s.dataset.chart)",
    # rendered, not just present: every chart has a real box on the page and its marks have size
    "chart_sizes": "[...document.querySelectorAll('svg.chart-svg')].map(s => {const r = s.getBoundingClientRect();"
                   " return [r.width, r.height];})",
    "empty_marks": "[...document.querySelectorAll('g.box rect, circle.pair-point, circle.acc-point, rect.share-bar')]"
                   ".filter(e => {const r = e.getBoundingClientRect(); return !(r.width > 0 && r.height > 0);}).length",
    "pair_rows": "document.querySelectorAll('table.pairs tbody tr').length",
    "summary_rows": "document.querySelectorAll('table.summary tbody tr').length",
    "title": "document.title",
}


def chromium() -> str:
    return find_chromium() or need("chromium")


def screenshot_path(run_dir: Path, name: str) -> Path:
    folder = Path(os.environ.get("EDGEBENCH_SCREENSHOT_DIR") or run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


@pytest.fixture(scope="module")
def digits_report(tmp_path_factory):
    run = copy_run(digits_run(tmp_path_factory.getbasetemp()), tmp_path_factory.mktemp("web") / "run")
    proc = edgebench("report", str(run), env={"EDGEBENCH_ZOO": str(ZOO)})
    assert proc.returncode == 0, proc.stderr
    return run


def test_report_loads_without_errors_and_draws_every_chart(digits_report):
    run = digits_report
    with Chromium(chromium()) as browser:
        page = browser.load_page(run / "report.html", COUNTS)
    assert page.errors == []
    assert [u for u in page.requests if not u.startswith(("file:", "data:", "about:"))] == []
    v = page.values
    summary = pd.read_csv(run / "summary.csv")
    pairs = pd.read_csv(run / "pairs.csv")
    profiled = pd.read_csv(run / "opbreakdown.csv")
    assert v["charts"] == ["speedup", "accuracy", "latency", "opshare"]
    assert all(w > 100 and h > 100 for w, h in v["chart_sizes"]), v["chart_sizes"]
    assert v["boxes"] == len(summary) == 4
    assert v["pair_points"] == len(pairs) == 2
    assert v["acc_points"] == summary["accuracy_pct"].notna().sum() == 4
    assert v["opshare_rows"] == profiled["config_id"].nunique() == 2
    # one bar per kind with a share: MACs from the graph, time from the profile
    assert v["share_bars_macs"] == (profiled["mac_pct"] > 0).sum()
    assert v["share_bars_time"] == (profiled["time_pct"] > 0).sum()
    assert v["empty_marks"] == 0
    assert v["pair_rows"] == 2 and v["summary_rows"] == 4 and "edgebench report" in v["title"]
    shot = screenshot_path(run, "report.png")
    shot.write_bytes(page.screenshot)
    assert page.screenshot[:8] == b"\x89PNG\r\n\x1a\n" and len(page.screenshot) > 50_000


def test_a_run_without_twins_or_profile_renders_its_empty_states(tmp_path):
    model = tiny_twin(tmp_path / "lonely.onnx", "separable")
    prof = tmp_path / "p.toml"
    prof.write_text(f'[device]\nname = "local"\nkind = "local"\n[matrix]\nmodels = ["{model}"]\n'
                    'runtimes = ["onnxruntime"]\nprecisions = ["fp32"]\nthreads = [1]\nmodes = ["perf"]\n'
                    'trials = 1\nwarmup_runs = 2\nwarmup_time_s = 0.0\nmin_runs = 20\nmin_time_s = 0.02\n'
                    'max_time_s = 0.5\n')
    proc = edgebench("run", str(prof), "--out", str(tmp_path / "res"), "--run-id", "lonely")
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "res" / "lonely"
    with Chromium(chromium()) as browser:
        page = browser.load_page(run / "report.html", {
            **COUNTS, "no_data": "[...document.querySelectorAll('.no-data')].map(e => e.textContent)"})
    assert page.errors == []
    v = page.values
    assert v["charts"] == ["latency"] and v["boxes"] == 1 and v["pair_points"] == 0
    assert any("No twin pairs" in t for t in v["no_data"]) and any("profile" in t for t in v["no_data"])
    screenshot_path(run, "report-no-pairs.png").write_bytes(page.screenshot)


def test_the_browser_helper_reports_console_errors_and_exceptions(tmp_path):
    """The check above means something: a page that logs an error and throws is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>console.error('boom'); throw new Error('kaput');</script></body></html>")
    with Chromium(chromium()) as browser:
        page = browser.load_page(bad, screenshot=False)
    text = " ".join(page.errors)
    assert "boom" in text and "kaput" in text


FIRST_SCREEN = {
    "viewport": "[innerWidth, innerHeight]",
    "page_width": "document.documentElement.scrollWidth",
    # every pair's headline speedup and accuracy gap, with their boxes on the page
    "headlines": "[...document.querySelectorAll('li.pair-headline')].map(li => ["
                 "li.dataset.pair, ...['.speedup', '.gap'].map(c => {const e = li.querySelector(c);"
                 " const r = e.getBoundingClientRect(); return [e.textContent, r.top, r.bottom, r.right];})])",
    # a table outside a collapsed, scrolling section must fit the page
    "tables": "[...document.querySelectorAll('table')].map(t => [t.className, t.getBoundingClientRect().right,"
              " !!t.closest('details')])",
}


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    """`edgebench demo --quick`: every runtime, precision and thread count of the digits twins (8 pairs,
    one trial each, accuracy measured), as a new user first sees it."""
    out = tmp_path_factory.mktemp("demo")
    proc = edgebench("demo", "--quick", "--out", str(out),
                     env={"EDGEBENCH_ZOO": str(ZOO), "EDGEBENCH_HISTORY": str(out / "history.sqlite")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "twin pairs:" in proc.stdout and "warnings:" in proc.stdout and "report.html" in proc.stdout
    return next(p.parent for p in out.glob("*/report.html"))


def test_the_answer_is_on_the_first_screen_at_1280x800(demo_report):
    run = demo_report
    with Chromium(chromium()) as browser:
        page = browser.load_page(run / "report.html", FIRST_SCREEN, height=800, full_page=False,
                                 shots={"speedup": "svg[data-chart=speedup]"})
    assert page.errors == []
    v = page.values
    width, height = v["viewport"]
    assert width == 1280 and height == 800
    assert v["page_width"] <= width  # no horizontal scrollbar on the page
    pairs = pd.read_csv(run / "pairs.csv")
    assert len(v["headlines"]) == len(pairs) > 0
    for (name, speed, gap), p in zip(v["headlines"], pairs.to_dict("records")):
        text, top, bottom, right = speed
        said = f"{p['speedup']:.2f}x faster" if p["speedup"] >= 1 else f"{1 / p['speedup']:.2f}x slower"
        assert said in text and bottom <= height and right <= width, (name, speed)
        text, top, bottom, right = gap
        assert f"{abs(p['accuracy_gap_pts']):.2f} points" in text and bottom <= height and right <= width
        assert p["accuracy_gap_label"] in text  # the gap says where it comes from
        assert "within-process only" in speed[0]  # one trial per twin: no 95% CI, and it says so
    for cls, right, collapsed in v["tables"]:
        assert collapsed or right <= width, cls
    first = screenshot_path(run, "report-first-screen.png")
    first.write_bytes(page.screenshot)
    screenshot_path(run, "report-speedup-chart.png").write_bytes(page.shots["speedup"])
    assert page.screenshot[:8] == b"\x89PNG\r\n\x1a\n" and page.shots["speedup"][:4] == b"\x89PNG"

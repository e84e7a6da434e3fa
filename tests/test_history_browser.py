"""history.html in a real headless Chromium: it loads with no console error, fetches nothing, and draws
one plot per series with a point per run, the step in red and the version change as a boundary.
A screenshot goes to $EDGEBENCH_SCREENSHOT_DIR (CI) or beside the page."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from browser import Chromium, find_chromium
from conftest import need
from historykit import N_RUNS, STEP_AT, history_cli, real_run, synthetic_runs

pytestmark = pytest.mark.browser

COUNTS = {
    "plots": "[...document.querySelectorAll('svg.trend')].map(s => s.dataset.series)",
    "points": "[...document.querySelectorAll('svg.trend')].map(s => s.querySelectorAll('circle.point').length)",
    "steps": "[...document.querySelectorAll('svg.trend line.step')].map(l => l.closest('svg').dataset.series)",
    "boundaries": "document.querySelectorAll('svg.trend line.boundary').length",
    "boundary_labels": "[...document.querySelectorAll('text.boundary-label')].map(t => t.textContent)",
    "step_rows": "document.querySelectorAll('table.steps tr.step-row').length",
    "sizes": "[...document.querySelectorAll('svg.trend')].map(s => {const r = s.getBoundingClientRect();"
             " return [r.width, r.height];})",
    "empty_points": "[...document.querySelectorAll('circle.point')].filter(e => {const r = e.getBoundingClientRect();"
                    " return !(r.width > 0 && r.height > 0);}).length",
    "scripts": "document.scripts.length",
}


def test_history_page_draws_every_series_with_its_step_and_boundary(tmp_path):
    chromium = find_chromium() or need("chromium")
    template = real_run(tmp_path / "real", "template", trials=1)
    runs = synthetic_runs(template, tmp_path / "runs")
    store = tmp_path / "history.sqlite"
    proc = history_cli("history", "add", *map(str, runs), "--store", str(store))
    assert proc.returncode == 0, proc.stderr
    page_path = tmp_path / "history.html"
    proc = history_cli("history", "show", "--store", str(store), "--html", str(page_path))
    assert proc.returncode == 0 and str(page_path) in proc.stdout, proc.stderr
    with Chromium(chromium) as browser:
        page = browser.load_page(page_path, COUNTS)
    assert page.errors == []
    assert [u for u in page.requests if not u.startswith(("file:", "data:", "about:"))] == []
    v = page.values
    assert len(v["plots"]) == 3 and v["plots"][0].endswith("speedup")  # series with a step come first
    assert v["points"] == [N_RUNS] * 3
    assert sorted(v["steps"]) == sorted(["local/digits-separable/onnxruntime/fp32/t1",
                                         "local/digits/onnxruntime/fp32/t1 speedup"])
    assert v["boundaries"] == 3 and all("9.9.9" in t for t in v["boundary_labels"]), v["boundary_labels"]
    assert v["step_rows"] == 2 and v["empty_points"] == 0 and v["scripts"] == 0
    assert all(w > 300 and h > 100 for w, h in v["sizes"]), v["sizes"]
    assert f"seq-{STEP_AT}" in page_path.read_text()
    folder = Path(os.environ.get("EDGEBENCH_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "history.png").write_bytes(page.screenshot)
    assert page.screenshot[:8] == b"\x89PNG\r\n\x1a\n" and len(page.screenshot) > 30_000

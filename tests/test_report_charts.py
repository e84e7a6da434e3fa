"""The inline SVG charts: well-formed for any data (one point, equal values, hostile names), and
marks where the data says."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from harness.report import svg
from harness.report.html import render

NS = {"s": "http://www.w3.org/2000/svg"}
HOSTILE = 'm<script>alert("x")</script>&"\'/t1'


def parse(text: str) -> ET.Element:
    return ET.fromstring(text)  # raises on malformed XML (an unescaped name, a broken tag)


def test_latency_boxes_one_per_config_even_with_constant_or_single_samples():
    root = parse(svg.latency_boxes([("a", "separable", [1.0] * 10), ("b", "standard", [2.0]),
                                    (HOSTILE, None, list(np.linspace(0.5, 400, 200)))]))
    boxes = root.findall(".//s:g[@class='box']", NS)
    assert [b.get("data-config") for b in boxes] == ["a", "b", HOSTILE]


def test_log_scale_only_when_the_configs_span_a_wide_range():
    narrow = svg.latency_boxes([("a", None, [1.0, 1.1, 1.2]), ("b", None, [2.0, 2.2])])
    wide = svg.latency_boxes([("a", None, [0.05, 0.06]), ("b", None, [90.0, 100.0])])
    assert "log scale" not in narrow and "log scale" in wide


def test_speedup_chart_puts_each_pair_on_its_own_labelled_row_at_its_theory_and_measurement():
    pts = [{"label": "x fp32", "family": "x", "setting": "ort fp32 t1", "theory": 8.0, "speedup": 4.0,
            "lo": 3.5, "hi": 4.5},
           {"label": "x fp32 t2", "family": "x", "setting": "ort fp32 t2", "theory": 8.0, "speedup": 2.0,
            "lo": None, "hi": None},
           {"label": HOSTILE, "family": HOSTILE, "setting": "", "theory": 8.0, "speedup": 0.8, "lo": None, "hi": None}]
    root = parse(svg.speedup_vs_theory(pts))
    circles = root.findall(".//s:circle[@class='pair-point']", NS)
    diamonds = root.findall(".//s:path[@class='theory']", NS)
    assert len(circles) == len(diamonds) == 3
    cx = [float(c.get("cx")) for c in circles]
    cy = [float(c.get("cy")) for c in circles]
    # a row each (no two marks on one line), in the order given, grouped under two family headings
    assert cy == sorted(cy) and len(set(cy)) == 3 and min(b - a for a, b in zip(cy, cy[1:])) >= 18
    assert [t.text for t in root.findall(".//s:text[@class='group']", NS)] == ["x", HOSTILE]
    labels = [t.text for t in root.findall(".//s:text[@class='row-label']", NS)]
    assert labels[:2] == ["ort fp32 t1", "ort fp32 t2"] and labels[2] == HOSTILE
    # on the log axis, 4x sits halfway between 2x and the 8x prediction, 0.8x left of them all
    theory_x = float(diamonds[0].get("d").split()[0][1:])
    assert cx[0] - cx[1] == pytest.approx(theory_x - cx[0], rel=0.01)
    assert cx[2] < cx[1] < cx[0] < theory_x
    assert len(root.findall(".//s:line[@class='ci']", NS)) == 1  # only the pair with an interval


def test_accuracy_chart_with_a_single_point():
    root = parse(svg.accuracy_vs_latency([{"label": "a", "twin": "separable", "latency_ms": 1.0,
                                           "accuracy_pct": 97.0, "short": "ort fp32 t1"}]))
    assert len(root.findall(".//s:circle[@class='acc-point']", NS)) == 1


def test_op_share_bars_are_as_long_as_their_share():
    root = parse(svg.op_shares([{"label": HOSTILE, "time_pct": {"depthwise conv": 60.0, "pointwise conv": 40.0},
                                 "mac_pct": {"depthwise conv": 5.0, "pointwise conv": 95.0}}]))
    bars = {(b.get("data-series"), b.get("data-kind")): float(b.get("width"))
            for b in root.findall(".//s:rect[@class='share-bar']", NS)}
    assert set(bars) == {("time", "depthwise conv"), ("time", "pointwise conv"), ("macs", "depthwise conv"),
                         ("macs", "pointwise conv")}
    assert bars[("time", "depthwise conv")] / bars[("time", "pointwise conv")] == pytest.approx(1.5, rel=0.01)
    assert bars[("macs", "pointwise conv")] / bars[("macs", "depthwise conv")] == pytest.approx(19, rel=0.02)


def test_the_page_escapes_every_name_it_shows():
    summary = [{"config_id": f"dev/{HOSTILE}", "device": "dev", "model": HOSTILE, "twin": None, "status": "failed",
                "error": "<b>boom</b>", "median_ms": None, "warning_text": "high-cv: <i>x</i>"}]
    page = render({"run_id": "<r>", "command": "edgebench run '<x>'"}, summary, [], [], {}, ["<note>"])
    assert "<script>" not in page and "<b>boom</b>" not in page and "<note>" not in page
    assert "&lt;script&gt;" in page and "&lt;b&gt;boom&lt;/b&gt;" in page

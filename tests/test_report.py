"""`edgebench report`: summary.csv, pairs.csv (theory beside measurement), opbreakdown.csv and
report.html from a real quick run of the digits pair; bad run folders read what is valid."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import ZOO, assert_clean_error, edgebench
from reportkit import copy_run, digits_run, rewrite_records


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    run = copy_run(digits_run(tmp_path_factory.getbasetemp()), tmp_path_factory.mktemp("rep") / "run")
    proc = edgebench("report", str(run), env={"EDGEBENCH_ZOO": str(ZOO)})
    assert proc.returncode == 0, proc.stderr
    return run, proc


def test_report_writes_summary_pairs_breakdown_and_html(reported):
    run, proc = reported
    for name in ("summary.csv", "pairs.csv", "opbreakdown.csv", "report.html"):
        assert (run / name).stat().st_size > 0, name
        assert name in proc.stdout  # the command lists what it wrote
    summary = pd.read_csv(run / "summary.csv")
    assert len(summary) == 4 and set(summary["status"]) == {"ok"}
    assert {"warnings", "warning_text"} <= set(summary.columns)


def test_digits_pair_shows_mac_ratio_speedup_with_interval_efficiency_and_accuracy_gap(reported):
    run, proc = reported
    pairs = pd.read_csv(run / "pairs.csv")
    assert sorted(pairs["runtime"]) == ["onnxruntime", "tflite"]
    manifest = json.loads((ZOO / "manifest.json").read_text())
    macs = {a["model"]: a["macs"] for a in manifest["artifacts"]}
    summary = pd.read_csv(run / "summary.csv").set_index("config_id")
    for p in pairs.to_dict("records"):
        assert p["family"] == "digits" and p["precision"] == "fp32" and p["threads"] == 1
        assert p["mac_ratio"] == pytest.approx(macs["digits-separable"] / macs["digits-standard"])
        assert p["theoretical_speedup"] == pytest.approx(1 / p["mac_ratio"])
        # the paper's formula over the blocks (from the ONNX graph), a little below the whole-graph ratio
        assert p["formula_source"] == "graph" and p["formula_dk"] == 3
        assert (p["formula_n_min"], p["formula_n_max"]) == (32, 128)
        assert 0.8 * p["mac_ratio"] < p["formula_ratio"] < p["mac_ratio"]
        sep, std = summary.loc[p["separable_config"]], summary.loc[p["standard_config"]]
        assert p["pooled_speedup"] == pytest.approx(std["median_ms"] / sep["median_ms"])
        assert p["pooled_speedup_ci_low"] <= p["pooled_speedup"] <= p["pooled_speedup_ci_high"]
        assert p["pooled_speedup_ci_high"] - p["pooled_speedup_ci_low"] < p["pooled_speedup"]
        if pd.isna(p["speedup_ci_low"]):  # the headline has no interval only when it says why
            assert "no 95% CI" in p["speedup_ci_note"]
        else:
            assert p["speedup_ci_low"] <= p["speedup"] <= p["speedup_ci_high"]
        assert p["speedup_method"] == "fast-state geometric mean of trial medians"
        assert p["trials_paired"] == 2 and p["trial_speedup_min"] <= p["trial_speedup"] <= p["trial_speedup_max"]
        assert p["efficiency"] == pytest.approx(p["speedup"] * p["mac_ratio"])
        assert p["pooled_efficiency"] == pytest.approx(p["pooled_speedup"] * p["mac_ratio"])
        assert p["accuracy_source"] == "measured"
        assert p["accuracy_gap_pts"] == pytest.approx(std["accuracy_pct"] - sep["accuracy_pct"])
        assert p["params_ratio"] < 0.5 and p["model_bytes_ratio"] < 0.5 and p["peak_rss_ratio"] > 0
    ort = pairs[pairs.runtime == "onnxruntime"].iloc[0]
    # the profiling pass: depthwise takes a larger share of time than of MACs (memory-bound)
    assert ort["separable_depthwise_mac_pct"] > 0 and ort["separable_depthwise_time_pct"] > 0
    assert ort["separable_depthwise_time_pct"] > ort["separable_depthwise_mac_pct"]
    assert "twin pairs" in proc.stdout and "efficiency" in proc.stdout


def test_opbreakdown_csv_has_every_kind_of_the_profiled_configs(reported):
    run, _ = reported
    bd = pd.read_csv(run / "opbreakdown.csv")
    sep = bd[bd.model == "digits-separable"].set_index("kind")
    std = bd[bd.model == "digits-standard"].set_index("kind")
    assert {"depthwise conv", "pointwise conv", "standard conv", "dense"} <= set(sep.index)
    assert sep.loc["depthwise conv", "nodes"] == 5 and sep.loc["pointwise conv", "nodes"] == 5
    assert "depthwise conv" not in std.index and std.loc["standard conv", "nodes"] == 6
    for part in (sep, std):
        assert part["time_pct"].sum() == pytest.approx(100.0)
        assert part["mac_pct"].sum() == pytest.approx(100.0)
        assert (part["coverage_pct"] == 100.0).all()


def test_report_on_a_folder_that_is_not_a_run_says_what_to_give(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    proc = edgebench("report", str(tmp_path))
    assert_clean_error(proc, str(tmp_path), "not a run folder", "edgebench run")
    proc = edgebench("report", str(tmp_path / "missing"))
    assert_clean_error(proc, "not a folder")


def test_report_on_a_run_with_no_records_says_so(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"run_id": "x", "status": "running"}))
    assert_clean_error(edgebench("report", str(tmp_path)), "no readable records")


def test_report_on_records_cut_off_by_a_crash_reads_the_rest_and_names_the_skipped_line(tmp_path_factory):
    run = copy_run(digits_run(tmp_path_factory.getbasetemp()), tmp_path_factory.mktemp("cut") / "run")
    path = run / "records.jsonl"
    lines = path.read_text().splitlines()
    # the crash came while writing the last record: half of it is there, with no newline
    kept = lines[:-1]
    path.write_text("\n".join(kept) + "\n" + lines[-1][: len(lines[-1]) // 2])
    proc = edgebench("report", str(run), env={"EDGEBENCH_ZOO": str(ZOO)})
    assert proc.returncode == 0, proc.stderr
    assert f"records.jsonl:{len(lines)}: skipped a line: cut off" in proc.stderr
    assert "Traceback" not in proc.stderr
    summary = pd.read_csv(run / "summary.csv")
    assert len(summary) == 4  # every config is still there (the cut record was one profiling pass)
    html = (run / "report.html").read_text()
    assert f"line {len(lines)} was skipped" in html
    # and a line of garbage in the middle is skipped and named too
    text = path.read_text().splitlines()
    text.insert(2, "{not json")
    path.write_text("\n".join(text) + "\n")
    proc = edgebench("report", str(run), "--no-html", env={"EDGEBENCH_ZOO": str(ZOO)})
    assert proc.returncode == 0 and "records.jsonl:3: skipped a line: not valid JSON" in proc.stderr


def test_an_interrupted_run_is_reported_as_such(tmp_path_factory):
    run = copy_run(digits_run(tmp_path_factory.getbasetemp()), tmp_path_factory.mktemp("intr") / "run")
    meta = json.loads((run / "run.json").read_text())
    meta["status"] = "interrupted"
    (run / "run.json").write_text(json.dumps(meta))
    proc = edgebench("report", str(run), env={"EDGEBENCH_ZOO": str(ZOO)})
    assert proc.returncode == 0, proc.stderr
    assert "this run is interrupted" in (run / "report.html").read_text()
    assert f"edgebench run --resume {run}" in (run / "report.html").read_text()


def test_report_html_is_self_contained(reported):
    run, _ = reported
    html = (run / "report.html").read_text()
    assert "<script" not in html.lower()
    for bad in ("http://", "https://", "//cdn", "<link", "@import", "url("):
        assert bad not in html.replace('xmlns="http://www.w3.org/2000/svg"', ""), bad
    assert html.count('<svg class="chart-svg"') == 4


def test_report_away_from_the_model_files_takes_the_formula_from_the_family_and_says_why(tmp_path_factory):
    run = copy_run(digits_run(tmp_path_factory.getbasetemp()), tmp_path_factory.mktemp("away") / "run")
    rewrite_records(run, lambda r: {**r, "model_file": "/nonexistent/" + r["model_file"].split("/")[-1]})
    proc = edgebench("report", str(run), env={"EDGEBENCH_ZOO": str(ZOO)})
    assert proc.returncode == 0, proc.stderr
    pairs = pd.read_csv(run / "pairs.csv")
    assert set(pairs["formula_source"]) == {"family config"}
    from harness.report.graph import formula_from_graph, load_graph

    from_graph = formula_from_graph(load_graph(ZOO / "digits" / "digits-separable-onnx-fp32.onnx"))
    assert pairs["formula_ratio"].iloc[0] == pytest.approx(from_graph["formula_ratio"])  # the plan = the graph
    assert not (run / "opbreakdown.csv").exists()
    assert "is not on this machine" in proc.stderr and "is not on this machine" in (run / "report.html").read_text()

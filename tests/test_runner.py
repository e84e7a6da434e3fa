"""The on-device runner: real ONNX Runtime and LiteRT on the shipped digits pair, in fresh processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO
from harness.runner.measure import StopRule, measure, median_ci_rel


def run_runner(job: dict, tmp_path: Path, extra_code: str = "") -> dict:
    job_path = tmp_path / "job.json"
    out_path = tmp_path / "out.json"
    job_path.write_text(json.dumps(job))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "harness.runner", str(job_path), str(out_path)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode in (0, 3), proc.stderr
    return json.loads(out_path.read_text())


def artifact(zoo_manifest, model: str, fmt: str, precision: str):
    a = zoo_manifest.find(model, fmt, precision)
    assert a is not None and a.built, f"{model} {fmt} {precision} missing from the shipped zoo"
    return a


QUICK = {"warmup": {"min_runs": 2, "min_time_s": 0.0}, "measure": {"min_runs": 30, "min_time_s": 0.05,
                                                                   "max_time_s": 2.0}}


@pytest.mark.parametrize("runtime,fmt", [("onnxruntime", "onnx"), ("tflite", "tflite")])
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_perf_mode_keeps_every_latency_and_memory(zoo_manifest, tmp_path, runtime, fmt, precision):
    a = artifact(zoo_manifest, "digits-separable", fmt, precision)
    res = run_runner({"model_path": str(a.path), "runtime": runtime, "threads": 1, "mode": "perf",
                      "eval_path": str(a.eval_path), **QUICK}, tmp_path)
    assert res["status"] == "ok", res.get("error")
    lat = res["latency_ns"]
    assert len(lat) >= 30 and all(isinstance(v, int) and v > 0 for v in lat)
    assert res["init_ns"] > 0 and res["first_inference_ns"] > 0
    for key in ("rss_after_imports_bytes", "rss_after_load_bytes", "rss_after_first_bytes", "peak_rss_bytes"):
        assert res[key] > 10 * 2**20, key
    assert res["peak_rss_bytes"] >= res["rss_after_first_bytes"] >= res["rss_after_imports_bytes"] * 0.9
    assert res["runtime_impl"] == ("onnxruntime" if runtime == "onnxruntime" else "ai_edge_litert")
    assert res["runtime_version"]


@pytest.mark.parametrize("runtime,fmt", [("onnxruntime", "onnx"), ("tflite", "tflite")])
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_accuracy_mode_matches_the_keras_reference(zoo_manifest, tmp_path, runtime, fmt, precision):
    a = artifact(zoo_manifest, "digits-standard", fmt, precision)
    res = run_runner({"model_path": str(a.path), "runtime": runtime, "threads": 1, "mode": "accuracy",
                      "eval_path": str(a.eval_path)}, tmp_path)
    assert res["status"] == "ok", res.get("error")
    with np.load(a.eval_path) as d:
        y = d["y"]
    assert res["n_eval"] == len(y) == len(res["predictions"])
    assert res["accuracy"] == pytest.approx(np.mean(np.asarray(res["predictions"]) == y))
    limit = 0.01 if precision == "fp32" else 0.02
    assert abs(res["accuracy"] - a["reference_accuracy"]) <= limit


def test_tflite_xnnpack_off_leaves_no_delegate_kernels(zoo_manifest, tmp_path):
    a = artifact(zoo_manifest, "digits-separable", "tflite", "fp32")
    on = run_runner({"model_path": str(a.path), "runtime": "tflite", "mode": "perf", "xnnpack": True, **QUICK},
                    tmp_path)
    off = run_runner({"model_path": str(a.path), "runtime": "tflite", "mode": "perf", "xnnpack": False, **QUICK},
                     tmp_path)
    assert on["delegation"]["delegate_kernels"] >= 1
    assert off["delegation"]["delegate_kernels"] == 0
    assert off["delegation"]["ops_on_cpu"] == off["delegation"]["model_ops"] == on["delegation"]["model_ops"]
    # XNNPACK takes the convolutions: most ops leave the CPU kernels
    assert on["delegation"]["ops_delegated"] >= on["delegation"]["model_ops"] - 2
    assert on["delegation"]["ops_on_cpu"] < off["delegation"]["ops_on_cpu"]


def test_profile_mode_returns_per_node_times_and_model_run(zoo_manifest, tmp_path):
    a = artifact(zoo_manifest, "digits-separable", "onnx", "fp32")
    res = run_runner({"model_path": str(a.path), "runtime": "onnxruntime", "mode": "profile", **QUICK}, tmp_path)
    assert res["status"] == "ok", res.get("error")
    ops = {r["op_type"] for r in res["op_profile"]}
    assert "Conv" in ops or "FusedConv" in ops
    assert len(res["model_run_us"]) == len(res["latency_ns"])
    assert res["delegation"]["nodes_by_provider"]["CPUExecutionProvider"] >= 5


def test_wrong_input_shape_is_a_failed_result_naming_the_model(zoo_manifest, tmp_path):
    a = artifact(zoo_manifest, "digits-separable", "onnx", "fp32")
    np.savez(tmp_path / "bad.npz", x=np.zeros((4, 28, 28, 1), np.float32), y=np.zeros(4, np.int64))
    res = run_runner({"model_path": str(a.path), "runtime": "onnxruntime", "mode": "accuracy",
                      "eval_path": str(tmp_path / "bad.npz")}, tmp_path)
    assert res["status"] == "failed"
    assert str(a.path) in res["error"] and "[1, 28, 28, 1]" in res["error"]


def test_missing_model_is_a_failed_result(tmp_path):
    res = run_runner({"model_path": str(tmp_path / "none.onnx"), "runtime": "onnxruntime", "mode": "perf"},
                     tmp_path)
    assert res["status"] == "failed" and "none.onnx" in res["error"]


PURITY = r"""
import json, sys
before = set(sys.modules)
sys.argv = ["runner", sys.argv[1], sys.argv[2]]
import runpy
try:
    runpy.run_module("harness.runner", run_name="__main__")
except SystemExit:
    pass
print(json.dumps(sorted(set(sys.modules) - before)))
"""

BASELINE = r"""
import json, sys, importlib
before = set(sys.modules)
import numpy
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(set(sys.modules) - before)))
"""


@pytest.mark.parametrize("runtime,fmt,module,forbidden", [
    ("onnxruntime", "onnx", "onnxruntime", "ai_edge_litert"),
    ("tflite", "tflite", "ai_edge_litert.interpreter", "onnxruntime"),
])
def test_runner_imports_only_stdlib_numpy_and_the_runtime_asked_for(zoo_manifest, tmp_path, runtime, fmt,
                                                                      module, forbidden):
    a = artifact(zoo_manifest, "digits-separable", fmt, "int8")
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"model_path": str(a.path), "runtime": runtime, "mode": "accuracy",
                               "eval_path": str(a.eval_path)}))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-c", PURITY, str(job), str(tmp_path / "o.json")], env=env,
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    imported = json.loads(run.stdout.strip().splitlines()[-1])
    base = subprocess.run([sys.executable, "-c", BASELINE, module], capture_output=True, text=True,
                          timeout=300, env=env)
    allowed = set(json.loads(base.stdout.strip().splitlines()[-1]))
    stdlib = set(sys.stdlib_module_names)
    extra = [m for m in imported
             if m not in allowed and m.split(".")[0] not in stdlib
             and not (m == "harness" or m.startswith("harness.runner"))]
    assert extra == [], f"the runner imported more than stdlib + numpy + {module}: {extra}"
    assert not any(m.split(".")[0] == forbidden for m in imported)
    assert not any(m.split(".")[0] in ("pandas", "psutil", "onnx", "tensorflow") for m in imported)


def test_median_ci_shrinks_with_more_samples():
    rng = np.random.default_rng(1)
    small = sorted(int(v) for v in rng.normal(1e6, 5e4, 50))
    big = sorted(int(v) for v in rng.normal(1e6, 5e4, 5000))
    assert median_ci_rel(big) < median_ci_rel(small) < 0.05
    assert median_ci_rel([1, 2, 3]) == float("inf")


def test_stopping_rule_stops_on_ci_before_max_time():
    calls = []
    samples, reason = measure(lambda: calls.append(1), StopRule(min_runs=20, min_time_s=0.0, max_time_s=5.0,
                                                                target_rel_ci=0.5))
    assert reason == "ci_reached" and len(samples) >= 20


def test_stopping_rule_needs_runs_and_time():
    samples, reason = measure(lambda: None, StopRule(min_runs=10, min_time_s=0.05, max_time_s=5.0))
    assert reason == "min_runs_and_time" and len(samples) >= 10
    assert sum(samples) > 0

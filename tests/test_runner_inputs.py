"""Every input of a user's model reaches the real runtime: the job's resolved `inputs` (host side:
plan/signatures.py) drive the real runner (`python -m harness.runner JOB OUT`) under ONNX Runtime and
LiteRT, for dynamic shapes, several inputs and every common dtype."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import pytest

from conftest import ZOO
from harness.plan.signatures import read_signature, resolve_inputs
from harness.zoo.analyze import analyze
from test_runner import QUICK, run_runner
from usermodels import (ALL_DTYPES, every_dtype_net, log_net, token_classifier, torch_dynamic_convnet,
                        torch_dynamic_macs, two_input_net, two_input_tflite)

DIGITS = ZOO / "digits"


def job(model: Path, runtime: str = "onnxruntime", input_shapes: dict | None = None, mode: str = "perf",
        **extra) -> dict:
    """A job as the planner writes it: inputs resolved from the file's signature."""
    resolved = resolve_inputs(model, read_signature(model), input_shapes, None)
    return {"model_path": str(model), "runtime": runtime, "threads": 1, "mode": mode,
            "inputs": [r.job_entry() for r in resolved], **QUICK, **extra}


def test_a_dynamic_hw_model_is_timed_at_the_given_shape_and_latency_grows_with_it(tmp_path):
    model = torch_dynamic_convnet(tmp_path / "dyn.onnx")
    small = run_runner(job(model, input_shapes={"input": [1, 3, 16, 16]}), tmp_path)
    large = run_runner(job(model, input_shapes={"input": [1, 3, 96, 96]}), tmp_path)
    for res, hw in ((small, 16), (large, 96)):
        assert res["status"] == "ok", res.get("error")
        assert res["inputs"] == [{"name": "input", "shape": [1, 3, hw, hw], "dtype": "float32"}]
    # 36x the multiply-adds: the larger shape must take clearly longer (not 1x1 pixels either time)
    assert statistics.median(large["latency_ns"]) > 5 * statistics.median(small["latency_ns"])
    assert analyze(model, input_shapes={"input": [1, 3, 96, 96]})["total"]["macs"] == torch_dynamic_macs(96, 96)


def test_a_symbolic_height_without_inputs_fails_the_job_instead_of_becoming_one(tmp_path):
    model = torch_dynamic_convnet(tmp_path / "dyn.onnx")
    res = run_runner({"model_path": str(model), "runtime": "onnxruntime", "mode": "perf", **QUICK}, tmp_path)
    assert res["status"] == "failed"
    assert "'input'" in res["error"] and "symbolic dimension 2 (height)" in res["error"]
    assert "input_shapes" in res["error"] and "latency_ns" not in res


def test_a_two_input_model_runs_with_both_inputs_fed(tmp_path):
    model = two_input_net(tmp_path / "two.onnx")
    res = run_runner(job(model), tmp_path)
    assert res["status"] == "ok", res.get("error")
    assert [i["name"] for i in res["inputs"]] == ["image", "side"]
    assert len(res["latency_ns"]) >= 30
    assert analyze(model)["total"] == {"macs": 16 * 16 * 8 * 3 * 9 + 8 * 4, "params": 8 * 27 + 8 + 32 + 4}


def test_a_two_input_model_without_inputs_fails_naming_both(tmp_path):
    res = run_runner({"model_path": str(two_input_net(tmp_path / "two.onnx")), "runtime": "onnxruntime",
                      "mode": "perf", **QUICK}, tmp_path)
    assert res["status"] == "failed" and "2 inputs (image, side)" in res["error"]


def test_int64_token_ids_are_fed_within_their_range(tmp_path):
    model = token_classifier(tmp_path / "tok.onnx", vocab=100)
    spec = job(model)
    assert spec["inputs"] == [{"name": "ids", "shape": [1, 12], "dtype": "int64", "low": 0, "high": 100}]
    res = run_runner(spec, tmp_path)
    assert res["status"] == "ok", res.get("error")
    assert res["inputs"] == [{"name": "ids", "shape": [1, 12], "dtype": "int64"}]
    # ids at or past the vocabulary make Gather fail: a range the profile sets is what is fed
    bad = run_runner({**spec, "inputs": [{**spec["inputs"][0], "low": 100, "high": 200}]}, tmp_path)
    assert bad["status"] == "failed" and "indices" in bad["error"], bad.get("error")
    assert analyze(model)["total"] == {"macs": 16 * 5, "params": 100 * 16 + 16 * 5 + 5}


def test_every_common_dtype_is_fed_under_onnx_runtime(tmp_path):
    res = run_runner(job(every_dtype_net(tmp_path / "dtypes.onnx")), tmp_path)
    assert res["status"] == "ok", res.get("error")
    assert {i["name"]: i["dtype"] for i in res["inputs"]} == {
        "f32": "float32", "f16": "float16", "i8": "int8", "u8": "uint8", "i32": "int32", "i64": "int64",
        "flag": "bool"}
    assert set(ALL_DTYPES) == {i["name"] for i in res["inputs"]}


def test_accuracy_reads_one_array_per_input_name(tmp_path):
    model = two_input_net(tmp_path / "two.onnx")
    rng = np.random.default_rng(3)
    eval_path = tmp_path / "eval.npz"
    np.savez(eval_path, image=rng.standard_normal((6, 3, 16, 16)).astype(np.float32),
             side=rng.standard_normal((6, 8)).astype(np.float32), y=np.arange(6) % 4)
    res = run_runner({**job(model, mode="accuracy"), "eval_path": str(eval_path)}, tmp_path)
    assert res["status"] == "ok", res.get("error")
    assert res["n_eval"] == 6 and 0.0 <= res["accuracy"] <= 1.0
    np.savez(eval_path, image=np.zeros((6, 3, 16, 16), np.float32), y=np.arange(6) % 4)
    missing = run_runner({**job(model, mode="accuracy"), "eval_path": str(eval_path)}, tmp_path)
    assert missing["status"] == "failed" and "'side'" in missing["error"] and "eval data" in missing["error"]


def test_nan_in_the_first_inference_fails_the_job(tmp_path):
    res = run_runner(job(log_net(tmp_path / "log.onnx")), tmp_path)
    assert res["status"] == "failed"
    assert "non-finite" in res["error"] and "first inference" in res["error"]
    assert "latency_ns" not in res


def test_nan_in_accuracy_mode_fails_the_job(tmp_path):
    eval_path = tmp_path / "eval.npz"
    x = np.ones((4, 8), np.float32) * np.array([1, 1, 1, -1], np.float32)[:, None]  # log(-1) in sample 3
    np.savez(eval_path, x=x, y=np.zeros(4, np.int64))
    res = run_runner({"model_path": str(log_net(tmp_path / "log.onnx")), "runtime": "onnxruntime",
                      "mode": "accuracy", "eval_path": str(eval_path)}, tmp_path)
    assert res["status"] == "failed" and "eval sample 3" in res["error"]


@pytest.mark.parametrize("name", ["digits-separable-tflite-fp32.tflite", "digits-standard-tflite-int8.tflite",
                                  "digits-separable-onnx-int8.onnx"])
def test_shipped_models_run_through_the_inputs_path(tmp_path, name):
    model = DIGITS / name
    runtime = "tflite" if name.endswith(".tflite") else "onnxruntime"
    spec = job(model, runtime)
    res = run_runner(spec, tmp_path)
    assert res["status"] == "ok", res.get("error")
    assert [i["shape"] for i in res["inputs"]] == [[1, 32, 32, 1]]
    assert res["inputs"][0]["dtype"] == ("int8" if "int8" in name and runtime == "tflite" else "float32")
    # accuracy with the eval set saved under the model's own input name
    with np.load(DIGITS / "digits-eval.npz") as d:
        x, y = d["x"][:50], d["y"][:50]
    eval_path = tmp_path / "named.npz"
    np.savez(eval_path, **{spec["inputs"][0]["name"]: x, "y": y})
    acc = run_runner({**spec, "mode": "accuracy", "eval_path": str(eval_path)}, tmp_path)
    assert acc["status"] == "ok", acc.get("error")
    assert acc["n_eval"] == 50 and acc["accuracy"] > 0.9


def test_a_two_input_tflite_with_a_dynamic_dim_is_resized_and_fed_by_name(tmp_path):
    model = two_input_tflite(tmp_path / "two.tflite")
    specs = read_signature(model)
    assert [s.dims for s in specs] == [(1, None), (1, None)]
    shapes = {"serving_default_a:0": [1, 64], "serving_default_b:0": [1, 64]}
    res = run_runner(job(model, "tflite", input_shapes=shapes), tmp_path)
    assert res["status"] == "ok", res.get("error")
    assert [(i["name"], i["shape"]) for i in res["inputs"]] == [("serving_default_a:0", [1, 64]),
                                                                 ("serving_default_b:0", [1, 64])]
    # the signature's own names ('a', 'b') reach the same tensors
    by_sig = run_runner({**job(model, "tflite", input_shapes=shapes),
                         "inputs": [{"name": n, "shape": [1, 8], "dtype": "float32"} for n in ("a", "b")]}, tmp_path)
    assert by_sig["status"] == "ok", by_sig.get("error")
    assert [(i["name"], i["shape"]) for i in by_sig["inputs"]] == [("a", [1, 8]), ("b", [1, 8])]
    eval_path = tmp_path / "named.npz"
    np.savez(eval_path, **{"serving_default_a:0": np.ones((3, 64), np.float32),
                           "serving_default_b:0": -np.ones((3, 64), np.float32), "y": np.zeros(3, np.int64)})
    acc = run_runner({"model_path": str(model), "runtime": "tflite", "mode": "accuracy",
                      "eval_path": str(eval_path)}, tmp_path)
    assert acc["status"] == "ok", acc.get("error")
    assert acc["inputs"][0]["shape"] == [1, 64] and acc["accuracy"] == 1.0  # a + b == 0 everywhere: argmax 0


def test_outputs_with_symbolic_dims_are_bound_after_the_first_inference(tmp_path):
    from harness.runner.backends import OrtBackend

    backend = OrtBackend(str(token_classifier(tmp_path / "tok.onnx")), 1)
    backend.set_inputs({"ids": np.arange(12, dtype=np.int64)[None]})
    assert backend._io is None  # the first inference runs unbound: it is timed as the first
    backend.invoke()
    first = backend.outputs()
    backend.bind_after_first()
    assert backend._io is not None  # the timed loop runs on IOBinding
    backend.invoke()
    np.testing.assert_allclose(backend.outputs(), first, rtol=1e-6)


def test_job_inputs_that_name_no_model_input_fail_naming_both_sides(tmp_path):
    spec = job(two_input_net(tmp_path / "two.onnx"))
    spec["inputs"][1] = {**spec["inputs"][1], "name": "extra"}
    res = run_runner(spec, tmp_path)
    assert res["status"] == "failed"
    assert "['image', 'side']" in res["error"] and "lacks ['side']" in res["error"] and "'extra'" in res["error"]

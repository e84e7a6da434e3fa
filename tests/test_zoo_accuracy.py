"""Every shipped digits artifact, run under its real runtime (onnxruntime or LiteRT) on the eval set,
scores within 1.0 point of its Keras fp32 reference (int8: within 2.0 points)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
ZOO = REPO / "models" / "zoo"
MANIFEST = json.loads((ZOO / "manifest.json").read_text())
ARTIFACTS = {a["name"]: a for a in MANIFEST["artifacts"]}
TOLERANCE_POINTS = {"fp32": 1.0, "fp16": 1.0, "int8": 2.0}


def _eval_set() -> tuple[np.ndarray, np.ndarray]:
    with np.load(ZOO / MANIFEST["families"]["digits"]["eval"]["path"]) as data:
        return data["x"], data["y"]


def _predict_onnx(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.array([np.argmax(sess.run(None, {name: x[i:i + 1]})[0]) for i in range(len(x))])


def _litert_interpreter(path: Path):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        (pytest.fail if os.environ.get("CI") else pytest.skip)("ai-edge-litert is not installed")
    return Interpreter(model_path=str(path), num_threads=1)


def _predict_tflite(path: Path, x: np.ndarray) -> np.ndarray:
    interp = _litert_interpreter(path)
    interp.allocate_tensors()
    (inp,), (out,) = interp.get_input_details(), interp.get_output_details()
    preds = []
    for i in range(len(x)):
        xi = x[i:i + 1]
        if inp["dtype"] == np.int8:  # full-integer model: quantize with the model's own parameters
            scale, zero_point = inp["quantization"]
            xi = np.clip(np.round(xi / scale) + zero_point, -128, 127).astype(np.int8)
        interp.set_tensor(inp["index"], xi)
        interp.invoke()
        preds.append(np.argmax(interp.get_tensor(out["index"])))
    return np.array(preds)


@pytest.fixture(scope="module")
def accuracy_table() -> dict[str, float]:
    x, y = _eval_set()
    table = {}
    for name, a in ARTIFACTS.items():
        predict = _predict_onnx if a["format"] == "onnx" else _predict_tflite
        table[name] = float(np.mean(predict(ZOO / a["path"], x) == y))
    print(f"\n{'artifact':32} {'Keras fp32':>10} {'runtime':>8} {'diff':>6}")  # shown with pytest -s
    for name, acc in table.items():
        ref = ARTIFACTS[name]["reference_accuracy"]
        print(f"{name:32} {ref * 100:9.2f}% {acc * 100:7.2f}% {(acc - ref) * 100:+6.2f}")
    return table


@pytest.mark.parametrize("name", sorted(ARTIFACTS))
def test_artifact_accuracy_under_its_runtime_is_within_tolerance_of_keras(accuracy_table, name):
    a = ARTIFACTS[name]
    got, ref = accuracy_table[name] * 100, a["reference_accuracy"] * 100
    assert abs(got - ref) <= TOLERANCE_POINTS[a["precision"]], f"{name}: {got:.2f}% vs Keras {ref:.2f}%"


def test_fp32_exports_agree_exactly_with_keras_on_the_eval_set(accuracy_table):
    for name, a in ARTIFACTS.items():
        if a["precision"] == "fp32":
            assert accuracy_table[name] == pytest.approx(a["reference_accuracy"], abs=1 / 450), name


def test_separable_twin_scores_below_standard_twin_in_every_format(accuracy_table):
    refs = MANIFEST["families"]["digits"]["reference_accuracy"]
    assert refs["separable"] < refs["standard"]
    for fmt, precision in {(a["format"], a["precision"]) for a in ARTIFACTS.values()}:
        sep = accuracy_table[f"digits-separable-{fmt}-{precision}"]
        std = accuracy_table[f"digits-standard-{fmt}-{precision}"]
        assert sep < std, (fmt, precision, sep, std)

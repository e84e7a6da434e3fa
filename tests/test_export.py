"""The export stack for real (tox -e export): train and export a small family from scratch, and build
the MobileNetV1 1.0-224 twins to check the analyzer against the paper on real Keras exports.

Needs the export extra (TensorFlow, tf2onnx, scikit-learn); the default suite never imports them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.manifest import load_manifest
from harness.util import sha256_file
from harness.zoo.analyze import analyze
from harness.zoo.config import FORMATS, TWINS

pytestmark = pytest.mark.export

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="module")
def _need_export_stack() -> None:
    """These tests need the export extra: skipped without it locally, a failure in CI (tox -e export)."""
    missing = [m for m in ("tensorflow", "tf2onnx", "sklearn", "ai_edge_litert") if importlib.util.find_spec(m) is None]
    if missing:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(
            f"needs {', '.join(missing)}: pip install -e .[export,dev] (or run tox -e export)")

TINY = """
[bodies.tiny]
stem = [8, 2]
blocks = [[16, 1], [32, 2], [32, 1]]

[families.tiny]
body = "tiny"
width = 1.0
resolution = 16
channels = 1
classes = 10
dataset = "sklearn-digits"
ship = true
seed = 3
epochs = 2
batch_size = 32
learning_rate = 0.003
bn_momentum = 0.9
calibration_samples = 64

[families.tiny_random]
body = "tiny"
width = 0.5
resolution = 16
channels = 3
classes = 5
dataset = "none"
calibration_samples = 4
"""


def _build(zoo_toml: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "harness.cli", "models", "build", "--zoo-toml", str(zoo_toml),
                        "--out", str(out), *args], check=False, capture_output=True, text=True, timeout=1200, cwd=REPO)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    """Class predictions of one artifact under its real runtime, batch 1."""
    if path.suffix == ".onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        return np.array([np.argmax(sess.run(None, {name: x[i:i + 1]})[0]) for i in range(len(x))])
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    (inp,), (out,) = interp.get_input_details(), interp.get_output_details()
    preds = []
    for i in range(len(x)):
        xi = x[i:i + 1]
        if inp["dtype"] == np.int8:
            scale, zero_point = inp["quantization"]
            xi = np.clip(np.round(xi / scale) + zero_point, -128, 127).astype(np.int8)
        interp.set_tensor(inp["index"], xi)
        interp.invoke()
        preds.append(np.argmax(interp.get_tensor(out["index"])))
    return np.array(preds)


def _tiny_counts(width: float, channels: int, classes: int, twin: str) -> tuple[int, int]:
    """MACs and params of the tiny body by hand (weights + one bias per output channel)."""
    c = int(8 * width)
    macs, params, size = 8 * 8 * c * channels * 9, 9 * channels * c + c, 8
    for filters, stride in [(16, 1), (32, 2), (32, 1)]:
        f, size = int(filters * width), size // stride
        if twin == "separable":
            macs += size * size * c * 9 + size * size * c * f
            params += 9 * c + c + c * f + f
        else:
            macs += size * size * f * c * 9
            params += 9 * c * f + f
        c = f
    return macs + c * classes, params + c * classes + classes


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    d = tmp_path_factory.mktemp("export")
    zoo_toml = d / "zoo.toml"
    zoo_toml.write_text(TINY)
    out = d / "zoo"
    return zoo_toml, out, _build(zoo_toml, out)


def test_build_prints_progress_for_every_step(tiny_zoo):
    _, _, p = tiny_zoo
    for step in ("[tiny] building", "[tiny] separable: training 2 epochs", "epoch 2/2",
                 "[tiny] standard: Keras fp32 test accuracy", "onnx int8 (static QDQ", "tflite fp16",
                 "[tiny_random] building", "2 built, 0 up to date"):
        assert step in p.stdout, step


def test_every_format_of_both_twins_is_built_and_listed_with_its_sha256(tiny_zoo):
    _, out, _ = tiny_zoo
    manifest = load_manifest(out)
    names = {a.name for a in manifest.artifacts}
    for family in ("tiny", "tiny_random"):
        assert names >= {f"{family}-{t}-{f}-{p}" for t in TWINS for f, p in FORMATS}
    for a in manifest.artifacts:
        a.verify()
        assert a.path.parent == out / a["family"]
    shipped = json.loads((out / "manifest.json").read_text())
    local = json.loads((out / "manifest.local.json").read_text())
    assert {a["family"] for a in shipped["artifacts"]} == {"tiny"}
    assert {a["family"] for a in local["artifacts"]} == {"tiny_random"}
    assert shipped["families"]["tiny"]["shipped"] and not local["families"]["tiny_random"]["shipped"]


def test_every_artifact_loads_in_its_runtime_and_scores_near_the_keras_reference(tiny_zoo):
    _, out, _ = tiny_zoo
    manifest = load_manifest(out)
    fam = manifest.families["tiny"]
    with np.load(out / fam["eval"]["path"]) as data:
        x, y = data["x"], data["y"]
    assert x.shape == (fam["eval"]["n"], 16, 16, 1) and x.dtype == np.float32 and y.dtype == np.int64
    for a in manifest.artifacts:
        if a["family"] != "tiny":
            continue
        acc = float(np.mean(_run(a.path, x) == y))
        ref = a["reference_accuracy"]
        assert ref == fam["reference_accuracy"][a["twin"]] and ref > 0.5
        tolerance = 0.03 if a["precision"] == "int8" else 0.01
        assert abs(acc - ref) <= tolerance, (a.name, acc, ref)


def test_random_init_family_runs_and_has_no_eval_set(tiny_zoo):
    _, out, _ = tiny_zoo
    manifest = load_manifest(out)
    assert manifest.families["tiny_random"]["eval"] is None
    x = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
    for a in manifest.artifacts:
        if a["family"] == "tiny_random":
            assert a["eval"] is None and a["reference_accuracy"] is None
            assert a["inputs"][0]["shape"] == [1, 16, 16, 3] and a["outputs"][0]["shape"] == [1, 5]
            assert _run(a.path, x).shape == (2,)


def test_inputs_and_outputs_record_layout_dtype_and_quantization(tiny_zoo):
    _, out, _ = tiny_zoo
    for a in load_manifest(out).artifacts:
        (inp,), (outp,) = a["inputs"], a["outputs"]
        assert inp["layout"] == "NHWC" and inp["shape"][0] == 1 and outp["layout"] == "NC"
        if a["format"] == "tflite" and a["precision"] == "int8":
            assert inp["dtype"] == outp["dtype"] == "int8" and inp["scale"] > 0 and outp["scale"] > 0
        else:
            assert inp["dtype"] == "float32" and inp["scale"] is None


def test_params_and_macs_match_the_layer_plan_in_every_format(tiny_zoo):
    _, out, _ = tiny_zoo
    for a in load_manifest(out).artifacts:
        width, channels, classes = (1.0, 1, 10) if a["family"] == "tiny" else (0.5, 3, 5)
        expected = _tiny_counts(width, channels, classes, a["twin"])
        assert (a["macs"], a["params"]) == expected, a.name
        counted = analyze(a.path)
        assert (counted["total"]["macs"], counted["total"]["params"]) == expected, a.name


def test_second_build_is_skipped_and_forced_rebuild_is_byte_identical(tiny_zoo):
    zoo_toml, out, _ = tiny_zoo
    before = (out / "manifest.json").read_bytes()
    p = _build(zoo_toml, out, "--family", "tiny")
    assert "[tiny] up to date" in p.stdout and "0 built, 1 up to date" in p.stdout
    assert (out / "manifest.json").read_bytes() == before
    digests = {a.name: sha256_file(a.path) for a in load_manifest(out).artifacts if a["family"] == "tiny"}
    p = _build(zoo_toml, out, "--family", "tiny", "--force")
    assert "1 built" in p.stdout
    assert {a.name: sha256_file(a.path) for a in load_manifest(out).artifacts if a["family"] == "tiny"} == digests
    assert (out / "manifest.json").read_bytes() == before


def test_mobilenet_v1_1_0_224_keras_exports_reproduce_the_paper(tmp_path):
    from harness.zoo.build import build

    build(REPO / "models" / "zoo.toml", tmp_path, families=["mobilenet_v1_1.0_224"],
          formats=[("onnx", "fp32")], log=lambda msg: print(msg, flush=True))
    sep = analyze(tmp_path / "mobilenet_v1_1.0_224" / "mobilenet_v1_1.0_224-separable-onnx-fp32.onnx")
    std = analyze(tmp_path / "mobilenet_v1_1.0_224" / "mobilenet_v1_1.0_224-standard-onnx-fp32.onnx")
    assert abs(sep["total"]["macs"] / 569e6 - 1) < 0.01 and abs(sep["total"]["params"] / 4.2e6 - 1) < 0.01
    assert abs(std["total"]["macs"] / 4866e6 - 1) < 0.01 and abs(std["total"]["params"] / 29.3e6 - 1) < 0.01
    assert sep["kinds"]["depthwise conv"]["layers"] == sep["kinds"]["pointwise conv"]["layers"] == 13
    assert std["kinds"]["standard conv"]["layers"] == 14
    assert not sep["warnings"] and not std["warnings"]
    local = json.loads((tmp_path / "manifest.local.json").read_text())
    assert {a["name"] for a in local["artifacts"]} == {
        "mobilenet_v1_1.0_224-separable-onnx-fp32", "mobilenet_v1_1.0_224-standard-onnx-fp32"}
    assert local["families"]["mobilenet_v1_1.0_224"]["reference_accuracy"] is None


def test_family_that_changes_its_ship_flag_moves_to_the_other_manifest(tiny_zoo, tmp_path):
    _, out, _ = tiny_zoo
    shipped = tmp_path / "zoo.toml"
    shipped.write_text(TINY.replace('dataset = "none"', 'dataset = "none"\nship = true'))
    _build(shipped, out, "--family", "tiny_random", "--formats", "onnx-fp32")
    main = json.loads((out / "manifest.json").read_text())
    local = json.loads((out / "manifest.local.json").read_text())
    assert "tiny_random" in main["families"] and "tiny_random" not in local["families"]
    assert {a["name"] for a in main["artifacts"] if a["family"] == "tiny_random"} == {
        "tiny_random-separable-onnx-fp32", "tiny_random-standard-onnx-fp32"}
    assert not any(a["family"] == "tiny_random" for a in local["artifacts"])
    # the formats no longer built are gone from disk too, and the manifest still verifies
    assert not (out / "tiny_random" / "tiny_random-separable-tflite-int8.tflite").exists()
    for a in load_manifest(out).artifacts:
        a.verify()

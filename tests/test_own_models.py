"""Users' own model files end to end: every input resolved before any job (input_shapes, eval data),
counts and precision for every file, declared [[pairs]], paths relative to the profile's folder, and
the bad inputs refused in one line each before any job."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from onnx import TensorProto, helper

from conftest import REPO, assert_clean_error, edgebench
from harness.records import read_records
from usermodels import _save, _w, token_classifier, torch_dynamic_convnet, torch_dynamic_macs, two_input_net

FAST = """trials = {trials}
warmup_runs = 2
warmup_time_s = 0.0
min_runs = {runs}
min_time_s = 0.05
max_time_s = 1.0
target_rel_ci = 0
pair_target = 0
"""
ENV = {"PYTHONPATH": str(REPO)}


def _profile(folder: Path, body: str, name: str = "own", modes: str = '["perf"]', trials: int = 1,
             runs: int = 10, runtimes: str = '["onnxruntime"]') -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / f"{name}.toml"
    head, _, rest = body.partition("\n[")
    p.write_text(f'[device]\nname = "{name}"\nkind = "local"\n\n[matrix]\nruntimes = {runtimes}\n'
                 f'threads = [1]\nmodes = {modes}\n{FAST.format(trials=trials, runs=runs)}{head}\n'
                 + (f"[{rest}" if rest else ""))
    return p


def _run(profile: Path, out: Path, cwd: Path | None = None):
    return edgebench("run", str(profile), "--out", str(out), "--run-id", "r", cwd=cwd, env=ENV)


# -- a separable/standard pair as a user exports it ------------------------------------------------

STEM, WIDE, RES, CLASSES = 16, 32, 32, 4


def _stem(prefix: str) -> tuple[list, list]:
    nodes = [helper.make_node("Conv", ["pixels", "stem.w", "stem.b"], ["s"], name="/stem/Conv",
                              kernel_shape=[3, 3], pads=[1] * 4),
             helper.make_node("Relu", ["s"], ["s_r"], name="/stem/Relu")]
    return nodes, [_w("stem.w", (STEM, 3, 3, 3), 1), _w("stem.b", (STEM,), 2)]


def _head(x: str) -> tuple[list, list]:
    nodes = [helper.make_node("GlobalAveragePool", [x], ["p"], name="/pool"),
             helper.make_node("Flatten", ["p"], ["f"], name="/flatten"),
             helper.make_node("Gemm", ["f", "fc.w", "fc.b"], ["logits"], name="/fc/Gemm", transB=1)]
    return nodes, [_w("fc.w", (CLASSES, WIDE), 7), _w("fc.b", (CLASSES,), 8)]


def _io() -> tuple[list, list]:
    return ([helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 3, RES, RES])],
            [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", CLASSES])])


def separable_net(path: Path) -> Path:
    """stem conv 3x3 -> depthwise 3x3 -> pointwise 1x1 (16 -> 32) -> pool -> Gemm."""
    n1, i1 = _stem("sep")
    body = [helper.make_node("Conv", ["s_r", "dw.w"], ["d"], name="/dw/Conv", kernel_shape=[3, 3], pads=[1] * 4,
                             group=STEM),
            helper.make_node("Conv", ["d", "pw.w", "pw.b"], ["c"], name="/pw/Conv", kernel_shape=[1, 1]),
            helper.make_node("Relu", ["c"], ["c_r"], name="/pw/Relu")]
    n2, i2 = _head("c_r")
    return _save(path, n1 + body + n2, *_io(),
                 i1 + [_w("dw.w", (STEM, 1, 3, 3), 3), _w("pw.w", (WIDE, STEM, 1, 1), 4), _w("pw.b", (WIDE,), 5)] + i2)


def standard_net(path: Path) -> Path:
    """stem conv 3x3 -> conv 3x3 (16 -> 32) -> pool -> Gemm."""
    n1, i1 = _stem("std")
    body = [helper.make_node("Conv", ["s_r", "c.w", "c.b"], ["c"], name="/conv/Conv", kernel_shape=[3, 3],
                             pads=[1] * 4),
            helper.make_node("Relu", ["c"], ["c_r"], name="/conv/Relu")]
    n2, i2 = _head("c_r")
    return _save(path, n1 + body + n2, *_io(), i1 + [_w("c.w", (WIDE, STEM, 3, 3), 3), _w("c.b", (WIDE,), 5)] + i2)


def _macs(sep: bool) -> int:
    hw = RES * RES
    stem = hw * STEM * 27
    body = hw * STEM * 9 + hw * STEM * WIDE if sep else hw * STEM * WIDE * 9
    return stem + body + WIDE * CLASSES


def _eval(path: Path, arrays: dict[str, np.ndarray], n: int = 24) -> Path:
    rng = np.random.default_rng(0)
    np.savez(path, y=rng.integers(0, CLASSES, n), **arrays)
    return path


# -- the dynamic H/W model ---------------------------------------------------------------------------

def test_a_dynamic_hw_model_is_timed_at_the_shapes_the_profile_gives(tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    torch_dynamic_convnet(proj / "small.onnx")
    torch_dynamic_convnet(proj / "big.onnx")
    prof = _profile(proj, 'models = ["small.onnx", "big.onnx"]\n'
                          '[matrix.input_shapes."small.onnx"]\ninput = [1, 3, 16, 16]\n'
                          '[matrix.input_shapes.big]\ninput = [1, 3, 96, 96]\n', trials=2, runs=20)
    proc = _run(prof, tmp_path / "res")
    assert proc.returncode == 0, proc.stderr
    df = pd.read_csv(tmp_path / "res" / "r" / "summary.csv").set_index("model")
    assert df.loc["small", "macs"] == torch_dynamic_macs(16, 16)
    assert df.loc["big", "macs"] == torch_dynamic_macs(96, 96)
    assert set(df["precision"]) == {"fp32"} and (df["params"] > 0).all()
    assert df.loc["big", "median_ms"] > 2 * df.loc["small", "median_ms"]
    recs = read_records(tmp_path / "res" / "r" / "records.jsonl").records
    big = next(r for r in recs if r["model"] == "big")
    assert big["inputs"] == [{"name": "input", "shape": [1, 3, 96, 96], "dtype": "float32"}]
    assert any("from input_shapes" in n for n in big["input_notes"])
    html = (tmp_path / "res" / "r" / "report.html").read_text()
    assert "input [1, 3, 96, 96] float32" in html


def test_a_dynamic_hw_model_without_input_shapes_is_refused_before_any_job(tmp_path):
    torch_dynamic_convnet(tmp_path / "dyn.onnx")
    prof = _profile(tmp_path, 'models = ["dyn.onnx"]\n')
    err = assert_clean_error(_run(prof, tmp_path / "res"), "dyn.onnx", "'input'", "'height'",
                             "input_shapes = { input = [1, 3, height, width] }")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "res").exists()


# -- several inputs, integer inputs --------------------------------------------------------------

def test_two_input_and_int64_models_run_with_their_multiply_adds(tmp_path):
    two_input_net(tmp_path / "two.onnx")
    token_classifier(tmp_path / "tokens.onnx")
    prof = _profile(tmp_path, 'models = ["two.onnx", "tokens.onnx"]\ninput_ranges = { ids = [0, 100] }\n')
    proc = _run(prof, tmp_path / "res")
    assert proc.returncode == 0, proc.stderr
    df = pd.read_csv(tmp_path / "res" / "r" / "summary.csv").set_index("model")
    assert set(df["status"]) == {"ok"}
    assert df.loc["two", "macs"] == 16 * 16 * 8 * 3 * 9 + 8 * 4
    assert df.loc["two", "params"] == 8 * 27 + 8 + 32 + 4
    assert df.loc["tokens", "macs"] == 16 * 5
    recs = read_records(tmp_path / "res" / "r" / "records.jsonl").records
    tok = next(r for r in recs if r["model"] == "tokens")
    assert tok["inputs"][0]["dtype"] == "int64" and tok["inputs"][0]["shape"] == [1, 12]
    assert any("batch dimension" in n for n in tok["input_notes"])


# -- declared pairs ----------------------------------------------------------------------------------

def test_a_declared_pair_of_two_files_gets_speedup_mac_ratio_and_accuracy_gap(tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    separable_net(proj / "mynet-separable.onnx")
    standard_net(proj / "mynet-standard.onnx")
    rng = np.random.default_rng(1)
    _eval(proj / "eval.npz", {"pixels": rng.standard_normal((24, 3, RES, RES)).astype(np.float32)})
    prof = _profile(proj, 'models = ["mynet-separable.onnx", "mynet-standard.onnx"]\neval_data = "eval.npz"\n'
                          '[[pairs]]\nname = "mynet"\nseparable = "mynet-separable.onnx"\n'
                          'standard = "mynet-standard"\n', modes='["perf", "accuracy"]', trials=2)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = _run(prof, tmp_path / "res", cwd=elsewhere)  # relative paths: against the profile's folder
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"mynet onnxruntime fp32 t1 +\d+\.\d+x", proc.stdout), proc.stdout
    pairs = pd.read_csv(tmp_path / "res" / "r" / "pairs.csv")
    assert len(pairs) == 1
    p = pairs.iloc[0]
    assert p["family"] == "mynet" and p["speedup"] > 0
    assert p["pooled_speedup_ci_low"] <= p["pooled_speedup"] <= p["pooled_speedup_ci_high"]
    if pd.isna(p["speedup_ci_low"]):  # 1 fast-state trial on a side: no interval, and it says so
        assert p["speedup_ci_note"].startswith("no 95% CI")
    else:
        assert p["speedup_ci_low"] <= p["speedup"] <= p["speedup_ci_high"]
    assert p["separable_macs"] == _macs(True) and p["standard_macs"] == _macs(False)
    assert p["mac_ratio"] == pytest.approx(_macs(True) / _macs(False))
    assert p["formula_ratio"] == pytest.approx(1 / WIDE + 1 / 9)
    assert not np.isnan(p["accuracy_gap_pts"]) and p["accuracy_source"] == "measured"
    assert p["params_ratio"] > 0 and p["model_bytes_ratio"] > 0 and p["trials_paired"] == 2
    html = (tmp_path / "res" / "r" / "report.html").read_text()
    assert "mynet" in html and "No twin pairs" not in html


def test_without_a_pair_the_report_says_how_to_declare_one(tmp_path):
    two_input_net(tmp_path / "two.onnx")
    token_classifier(tmp_path / "tokens.onnx")
    proc = _run(_profile(tmp_path, 'models = ["two.onnx", "tokens.onnx"]\n'), tmp_path / "res")
    assert proc.returncode == 0, proc.stderr
    assert "[[pairs]]" in proc.stdout
    assert "[[pairs]]" in (tmp_path / "res" / "r" / "report.html").read_text()


# -- bad input: one line each, before any job, nothing written ---------------------------------------

def _refused(tmp_path: Path, body: str, *needles: str) -> list[str]:
    prof = _profile(tmp_path, body)
    err = assert_clean_error(_run(prof, tmp_path / "res"), *needles)
    assert not (tmp_path / "res").exists()
    check = edgebench("devices", "check", str(prof), env=ENV)
    assert check.returncode != 0 and all(n in check.stderr for n in needles), check.stderr
    return [line for line in err.strip().splitlines() if line.strip()]


def test_an_npz_missing_an_input_is_one_line_before_any_job(tmp_path):
    two_input_net(tmp_path / "two.onnx")
    np.savez(tmp_path / "ev.npz", image=np.zeros((4, 3, 16, 16), np.float32), y=np.zeros(4, np.int64))
    lines = _refused(tmp_path, 'models = ["two.onnx"]\neval_data = "ev.npz"\n', "ev.npz", "'side'")
    assert len(lines) == 1


def test_a_pair_naming_an_unknown_model_is_one_line_before_any_job(tmp_path):
    two_input_net(tmp_path / "two.onnx")
    lines = _refused(tmp_path, 'models = ["two.onnx"]\n[[pairs]]\nname = "p"\nseparable = "two.onnx"\n'
                               'standard = "nonet.onnx"\n', "[[pairs]] 'p'", "standard", "nonet.onnx")
    assert len(lines) == 1


def test_every_problem_is_reported_together(tmp_path):
    torch_dynamic_convnet(tmp_path / "dyn.onnx")
    two_input_net(tmp_path / "two.onnx")
    body = ('models = ["dyn.onnx", "two.onnx"]\n[[pairs]]\nname = "same"\nseparable = "two.onnx"\n'
            'standard = "two"\n[[pairs]]\nname = "ghost"\nseparable = "ghost.onnx"\nstandard = "dyn.onnx"\n')
    lines = _refused(tmp_path, body, "3 problems", "'height'", "same model", "ghost.onnx")
    assert len(lines) == 4


def test_a_missing_model_file_names_the_resolved_path(tmp_path):
    err = _refused(tmp_path, 'models = ["sub/none.onnx"]\n', str(tmp_path / "sub" / "none.onnx"))
    assert len(err) == 1


def test_input_shapes_for_a_model_not_in_the_matrix_is_a_problem(tmp_path):
    two_input_net(tmp_path / "two.onnx")
    _refused(tmp_path, 'models = ["two.onnx"]\n[matrix.input_shapes.other]\nx = [1, 2]\n', "input_shapes",
             "'other'")


def test_job_dicts_carry_the_resolved_inputs_of_zoo_models_too(tmp_path):
    from harness.plan import job_dict, plan
    from harness.profiles import load_profiles

    prof = _profile(tmp_path, 'models = ["digits-separable"]\nprecisions = ["fp32"]\n')
    configs, jobs = plan(load_profiles([str(prof)]), seed=0)
    job = job_dict(jobs["own"][0], load_profiles([str(prof)])[0].matrix, "m.onnx", None, None)
    assert job["inputs"] and job["inputs"][0]["shape"][0] == 1
    assert job["inputs"][0]["dtype"] == "float32" and all(isinstance(d, int) for d in job["inputs"][0]["shape"])


# -- models made by the exporters themselves (TensorFlow export stack) -------------------------------

@pytest.mark.export
def test_tf2onnx_and_tflite_converter_models_run_end_to_end(tmp_path):
    tf = pytest.importorskip("tensorflow") if not __import__("os").environ.get("CI") else __import__("tensorflow")
    import tf2onnx

    inp = tf.keras.Input((24, 24, 3), name="image")
    x = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = tf.keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = tf.keras.layers.Conv2D(16, 1, activation="relu")(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    model = tf.keras.Model(inp, tf.keras.layers.Dense(4)(x))
    spec = (tf.TensorSpec((None, 24, 24, 3), tf.float32, name="image"),)
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=13, output_path=str(tmp_path / "keras.onnx"))
    (tmp_path / "keras.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    macs = 24 * 24 * 8 * 27 + 24 * 24 * 8 * 9 + 24 * 24 * 8 * 16 + 16 * 4
    prof = _profile(tmp_path, 'models = ["keras.onnx", "keras.tflite"]\n', runtimes='["onnxruntime", "tflite"]')
    proc = _run(prof, tmp_path / "res")
    assert proc.returncode == 0, proc.stderr
    df = pd.read_csv(tmp_path / "res" / "r" / "summary.csv")
    assert set(df["status"]) == {"ok"} and len(df) == 2
    assert list(df["macs"]) == [macs, macs]
    assert set(df["precision"]) == {"fp32"}
    recs = read_records(tmp_path / "res" / "r" / "records.jsonl").records
    assert {json.dumps(r["inputs"][0]["shape"]) for r in recs} == {"[1, 24, 24, 3]"}
    onnx.checker.check_model(onnx.load(str(tmp_path / "keras.onnx")))


def test_pair_jobs_feed_each_twin_its_own_inputs_for_a_declared_pair_of_dynamic_models(tmp_path):
    """A user's twins from another exporter: symbolic height and width, and different input names.
    The pair rule's pair jobs load both in one process and feed each its own resolved input."""
    import onnx

    proj = tmp_path / "proj"
    proj.mkdir()
    torch_dynamic_convnet(proj / "light.onnx", channels=8)
    model = onnx.load(str(proj / "light.onnx"))
    model.graph.input[0].name = "image"
    for node in model.graph.node:
        node.input[:] = ["image" if i == "input" else i for i in node.input]
    onnx.save(model, str(proj / "light.onnx"))
    torch_dynamic_convnet(proj / "heavy.onnx", channels=32)
    prof = _profile(proj, 'models = ["light.onnx", "heavy.onnx"]\n'
                          '[matrix.input_shapes."light.onnx"]\nimage = [1, 3, 24, 24]\n'
                          '[matrix.input_shapes."heavy.onnx"]\ninput = [1, 3, 24, 24]\n'
                          '[[pairs]]\nname = "mine"\nseparable = "light.onnx"\nstandard = "heavy.onnx"\n', trials=3)
    prof.write_text(prof.read_text().replace("pair_target = 0\n", "pair_target = 0.2\n"))
    proc = _run(prof, tmp_path / "res")
    assert proc.returncode == 0, proc.stderr
    recs = read_records(tmp_path / "res" / "r" / "records.jsonl").records
    pair = [r for r in recs if r["mode"] == "pair"]
    assert len(pair) >= 3 and all(r["status"] == "ok" for r in pair), [r.get("error") for r in pair]
    assert pair[0]["inputs"] == [{"name": "image", "shape": [1, 3, 24, 24], "dtype": "float32"}]
    assert pair[0]["partner"]["inputs"] == [{"name": "input", "shape": [1, 3, 24, 24], "dtype": "float32"}]
    row = pd.read_csv(tmp_path / "res" / "r" / "pairs.csv").iloc[0]
    assert row["family"] == "mine" and row["pair_jobs"] == len(pair) and row["speedup"] > 1.5
    assert row["mac_ratio"] == pytest.approx(torch_dynamic_macs(24, 24, 8) / torch_dynamic_macs(24, 24, 32))

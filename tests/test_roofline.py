"""The roofline: bytes and arithmetic intensity of known layers counted by hand, the prediction on
synthetic ceilings, and the ceiling models run as ordinary jobs under real ONNX Runtime and LiteRT."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, edgebench
from onnx import TensorProto, helper, numpy_helper

from harness.records import read_records
from harness.roofline.bytes import intensity, row_bytes
from harness.roofline.ceilings import CEILINGS, CeilingSpec, model_file
from harness.roofline.predict import (ROOFLINE_COLUMNS, Ceilings, ceilings_from_summary, derive, layer_time,
                                      predict_model)
from harness.zoo.analyze import analyze

C, HW = 32, 16


def conv_model(path, kind: str, int8: bool):
    """One convolution on [1, 32, 16, 16]: a 3x3 depthwise, a 1x1 pointwise to 64 or a 3x3 standard
    to 64; int8 as QDQ (int8 activations and weights, int32 bias), as quantize_static writes it."""
    cout, k, group = {"depthwise": (C, 3, C), "pointwise": (64, 1, 1), "standard": (64, 3, 1)}[kind]
    w = np.full((cout, C // group, k, k), 0.01, np.float32)
    inits, nodes, x, wname, bname = [], [], "x", "w", "b"
    if int8:
        inits += [numpy_helper.from_array(np.array(0.1, np.float32), "s"),
                  numpy_helper.from_array(np.array(0, np.int8), "z"),
                  numpy_helper.from_array(np.ones_like(w, np.int8), "wq"),
                  numpy_helper.from_array(np.zeros(cout, np.int32), "bq"),
                  numpy_helper.from_array(np.array(0.001, np.float32), "bs"),
                  numpy_helper.from_array(np.array(0, np.int32), "bz")]
        nodes += [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
                  helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
                  helper.make_node("DequantizeLinear", ["wq", "s", "z"], ["w"]),
                  helper.make_node("DequantizeLinear", ["bq", "bs", "bz"], ["b"])]
        x = "xd"
    else:
        inits += [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.zeros(cout, np.float32), "b")]
    out = "c" if int8 else "y"
    nodes.append(helper.make_node("Conv", [x, wname, bname], [out], name="layer", kernel_shape=[k, k],
                                  pads=[k // 2] * 4, group=group))
    if int8:
        nodes += [helper.make_node("QuantizeLinear", ["c", "s", "z"], ["cq"]),
                  helper.make_node("DequantizeLinear", ["cq", "s", "z"], ["y"])]
    graph = helper.make_graph(nodes, kind, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, C, HW, HW])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cout, HW, HW])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path.write_bytes(model.SerializeToString())
    return path


# (kind, int8) -> (MACs, in, out, weights + bias), by hand: 16x16 positions, 32 channels in
BY_HAND = {
    ("depthwise", False): (16 * 16 * 32 * 9, 8192 * 4, 8192 * 4, 32 * 9 * 4 + 32 * 4),
    ("depthwise", True): (16 * 16 * 32 * 9, 8192, 8192, 32 * 9 + 32 * 4),
    ("pointwise", False): (16 * 16 * 64 * 32, 8192 * 4, 16384 * 4, 64 * 32 * 4 + 64 * 4),
    ("pointwise", True): (16 * 16 * 64 * 32, 8192, 16384, 64 * 32 + 64 * 4),
    ("standard", False): (16 * 16 * 64 * 32 * 9, 8192 * 4, 16384 * 4, 64 * 32 * 9 * 4 + 64 * 4),
    ("standard", True): (16 * 16 * 64 * 32 * 9, 8192, 16384, 64 * 32 * 9 + 64 * 4),
}


@pytest.mark.parametrize("kind,int8", sorted(BY_HAND))
def test_a_layer_moves_the_bytes_counted_by_hand_at_the_dtype_the_runtime_moves(tmp_path, kind, int8):
    macs, in_b, out_b, w_b = BY_HAND[(kind, int8)]
    result = analyze(conv_model(tmp_path / f"{kind}.onnx", kind, int8))
    (layer,) = [r for r in result["nodes"] if r["name"] == "layer"]
    assert layer["kind"] == f"{kind} conv"
    assert (layer["macs"], layer["in_bytes"], layer["out_bytes"], layer["weight_bytes"]) == (macs, in_b, out_b, w_b)
    assert layer["act_dtype"] == ("int8" if int8 else "float32")
    assert intensity(layer["macs"], row_bytes(layer)) == pytest.approx(macs / (in_b + out_b + w_b))


def test_depthwise_does_fewer_macs_per_byte_than_pointwise_and_standard_at_either_precision():
    for int8 in (False, True):
        i = {k: BY_HAND[(k, int8)][0] / sum(BY_HAND[(k, int8)][1:]) for k in ("depthwise", "pointwise", "standard")}
        assert i["depthwise"] < 1.2 * (4 if int8 else 1) < i["pointwise"] < i["standard"]


# ceiling -> (op types, H = W, channels, weight elements per op), by hand
CEILING_LAYERS = {"compute": ({"CONV_2D", "Conv"}, 14, 256, 256 * 256),
                  "depthwise": ({"DEPTHWISE_CONV_2D", "Conv"}, 28, 128, 128 * 9)}


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
@pytest.mark.parametrize("precision", ["fp32", "int8"])
@pytest.mark.parametrize("kind", sorted(CEILING_LAYERS))
def test_the_generated_ceiling_models_count_as_their_spec_and_the_hand_say(tmp_path, kind, precision, fmt):
    spec = CeilingSpec(kind, CEILING_LAYERS[kind][2], precision)
    ops, hw, ch, w = CEILING_LAYERS[kind]
    result = analyze(model_file(spec, fmt, tmp_path))
    convs = [r for r in result["nodes"] if r["op_type"] in ops]
    e = 4 if precision == "fp32" else 1
    assert len(convs) == spec.ops and sum(r["macs"] for r in convs) == spec.macs
    for r in convs:
        assert r["kind"] == ("depthwise conv" if kind == "depthwise" else "pointwise conv")
        assert (r["in_bytes"], r["out_bytes"]) == (hw * hw * ch * e, hw * hw * ch * e)
        assert r["weight_bytes"] == w * e + ch * 4  # the bias is fp32 or int32


# -- the prediction on synthetic ceilings -------------------------------------------------------------

SYNTH = Ceilings(peak=10e9, bandwidth=((64 << 10, 40e9), (16 << 20, 4e9)), fixed_s=1e-6, call_s=5e-6)


def test_a_layer_takes_the_higher_roof_plus_the_fixed_cost():
    compute = {"macs": 10_000_000, "in_bytes": 1000, "out_bytes": 1000, "weight_bytes": 0}
    t, bound = layer_time(compute, SYNTH)
    assert t == pytest.approx(1e-3 + 1e-6) and bound == "compute"
    memory = {"macs": 1000, "in_bytes": 8 << 20, "out_bytes": 8 << 20, "weight_bytes": 0}
    t, bound = layer_time(memory, SYNTH)
    assert t == pytest.approx((16 << 20) / 4e9 + 1e-6) and bound == "bandwidth"
    tiny = {"macs": 100, "in_bytes": 32, "out_bytes": 32, "weight_bytes": 0}
    assert layer_time(tiny, SYNTH)[1] == "per-op"
    slow_dw = Ceilings(peak=10e9, bandwidth=SYNTH.bandwidth, fixed_s=1e-6, kernel_peaks=(("depthwise", 1e9),))
    dw = {**compute, "kind": "depthwise conv"}
    assert layer_time(dw, slow_dw) == (pytest.approx(1e-2 + 1e-6), "compute")  # the depthwise kernel's roof
    assert layer_time({**compute, "kind": "pointwise conv"}, slow_dw)[0] == pytest.approx(1e-3 + 1e-6)
    mid = math.sqrt((64 << 10) * (16 << 20))  # halfway in log size: halfway in bandwidth
    assert SYNTH.bandwidth_at(mid) == pytest.approx(22e9)
    assert SYNTH.bandwidth_at(1) == 40e9 and SYNTH.bandwidth_at(1 << 40) == 4e9


def _ceiling_latency(spec: CeilingSpec, c: Ceilings) -> float:
    """What a device with ceilings c would measure for one ceiling model."""
    per_op_bytes = spec.size if spec.kind == "bandwidth" else spec.bytes / spec.ops
    roof = max(spec.macs / c.peak, spec.bytes / c.bandwidth_at(per_op_bytes)) if spec.kind != "perop" else 0.0
    return c.call_s + spec.total_ops * c.fixed_s + roof


def test_the_ceilings_derived_from_ceiling_latencies_are_the_ones_that_made_them():
    truth = Ceilings(peak=50e9, bandwidth=((64 << 10, 80e9), (1 << 20, 60e9), (16 << 20, 8e9)),
                     fixed_s=0.4e-6, call_s=6e-6)
    for precision in ("fp32", "int8"):
        specs = [CeilingSpec(k, s, precision) for k, s in CEILINGS]
        times = {s: _ceiling_latency(s, truth) for s in specs}
        got = derive(times)
        assert got.fixed_s == pytest.approx(truth.fixed_s) and got.call_s == pytest.approx(truth.call_s)
        assert got.peak == pytest.approx(truth.peak, rel=0.02)  # the compute chain also moves some bytes
        if precision == "fp32":
            for (size, bw), (_, want) in zip(got.bandwidth, truth.bandwidth):
                assert bw == pytest.approx(want, rel=1e-6), size


def test_ceilings_come_from_the_summary_rows_of_one_device_runtime_precision_and_threads():
    rows = []
    for runtime, scale in (("onnxruntime", 1.0), ("tflite", 2.0)):
        for k, s in CEILINGS:
            spec = CeilingSpec(k, s, "fp32")
            rows.append({"device": "d", "runtime": runtime, "precision": "fp32", "threads": 1, "xnnpack": None,
                         "family": "ceilings", "model": spec.name,
                         "median_ms": _ceiling_latency(spec, SYNTH) * 1e3 / scale})
    got = ceilings_from_summary(rows)
    assert set(got) == {("d", "onnxruntime", "fp32", 1, None), ("d", "tflite", "fp32", 1, None)}
    ort, tfl = got[("d", "onnxruntime", "fp32", 1, None)], got[("d", "tflite", "fp32", 1, None)]
    assert tfl.peak == pytest.approx(2 * ort.peak)


def test_a_model_of_depthwise_layers_is_predicted_bandwidth_bound_and_a_standard_one_compute_bound(tmp_path):
    slow_memory = Ceilings(peak=100e9, bandwidth=((1 << 10, 5e9),), fixed_s=1e-8)
    dw = predict_model(analyze(conv_model(tmp_path / "dw.onnx", "depthwise", False)), slow_memory)
    std = predict_model(analyze(conv_model(tmp_path / "std.onnx", "standard", False)), slow_memory)
    assert max(dw["by_bound"], key=dw["by_bound"].get) == "bandwidth"
    assert max(std["by_bound"], key=std["by_bound"].get) == "compute"
    # the standard layer does 64x the MACs, but costs far less than 64x the time on this device
    assert std["seconds"] / dw["seconds"] < 64 / 4


# -- the ceiling jobs, real runtimes ------------------------------------------------------------------

def test_ceiling_jobs_run_under_both_runtimes_and_the_pairs_get_a_roofline_prediction(tmp_path):
    proc = edgebench("run", str(REPO / "devices" / "local.toml"), "--models", "digits",
                     "--runtime", "onnxruntime,tflite", "--precisions", "fp32,int8", "--threads", "1",
                     "--modes", "perf,ceilings", "--trials", "1", "--quick", "--out", str(tmp_path),
                     "--run-id", "r", timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    run = tmp_path / "r"
    records = read_records(run / "records.jsonl").records
    ceilings = [r for r in records if r.get("family") == "ceilings"]
    assert len(ceilings) == 2 * 2 * len(CEILINGS)
    for rec in ceilings:
        assert rec["status"] == "ok", (rec["config_id"], rec.get("error"))
        assert rec["mode"] == "perf" and rec["ceiling_kind"] in {k for k, _ in CEILINGS}
        spec = CeilingSpec(rec["ceiling_kind"], rec["ceiling_size"], rec["precision"])
        assert rec["ceiling_macs"] == spec.macs and rec["ceiling_bytes"] == spec.bytes
        assert rec["ceiling_ops"] == spec.total_ops
    found = ceilings_from_summary(pd.read_csv(run / "summary.csv").to_dict("records"))
    assert len(found) == 4 and all(c.peak > 1e8 and c.fixed_s > 0 for c in found.values())
    pairs = pd.read_csv(run / "pairs.csv")
    assert len(pairs) == 4 and set(ROOFLINE_COLUMNS) <= set(pairs.columns)
    assert pairs["predicted_speedup_roofline"].notna().all() and (pairs["predicted_speedup_roofline"] > 1).all()
    assert set(pairs["bound_separable"]) <= {"compute", "bandwidth", "per-op"}
    html = (run / "report.html").read_text()
    assert html.count('class="roofline"') == 4 and html.count("the roofline predicts") == 4
    meta = json.loads((run / "run.json").read_text())
    assert "ceilings" in json.dumps(meta)

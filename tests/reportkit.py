"""Helpers for the report, compare and browser tests: tiny real ONNX twins, and one real quick run
of the shipped digits pair shared by the whole session (ONNX Runtime and LiteRT, perf + accuracy +
the ORT profiling pass)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from conftest import ZOO, edgebench

DIGITS_MATRIX = """
[matrix]
models = ["digits"]
runtimes = ["onnxruntime", "tflite"]
precisions = ["fp32"]
threads = [1]
modes = ["perf", "accuracy", "profile"]
trials = 2
pair_target = 0
warmup_runs = 3
warmup_time_s = 0.02
min_runs = 40
min_time_s = 0.1
max_time_s = 1.0
"""

_CACHE: dict[str, Path] = {}


def digits_run(root: Path) -> Path:
    """A real run of the digits pair (made once per session; callers copy it before changing it)."""
    if "digits" not in _CACHE:
        prof = root / "local-report.toml"
        prof.write_text(f'[device]\nname = "local"\nkind = "local"\n{DIGITS_MATRIX}')
        proc = edgebench("run", str(prof), "--out", str(root / "results"), "--run-id", "digits",
                         "--no-report", env={"EDGEBENCH_ZOO": str(ZOO)})
        assert proc.returncode == 0, proc.stderr[-3000:]
        _CACHE["digits"] = root / "results" / "digits"
    return _CACHE["digits"]


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    for name in ("summary.csv", "pairs.csv", "opbreakdown.csv", "report.html"):
        (dst / name).unlink(missing_ok=True)
    return dst


def rewrite_records(run_dir: Path, change) -> None:
    """Apply change(record) -> record to every record of a run folder."""
    path = run_dir / "records.jsonl"
    recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    path.write_text("".join(json.dumps(change(r)) + "\n" for r in recs))


TINY_CONFIG = {"width": 1.0, "resolution": 16, "stem": [8, 2], "blocks": [[16, 1], [32, 2]], "channels": 1}


def tiny_twin(path: Path, twin: str, config: dict = TINY_CONFIG, classes: int = 10) -> Path:
    """A real ONNX model in the zoo's shape: NHWC input, a Transpose, a 3x3 stem, blocks (depthwise
    3x3 + ReLU6, pointwise 1x1 + ReLU6, or one 3x3 conv + ReLU6), global pooling, Gemm, Softmax."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, inits = [], []

    def weight(name: str, shape: tuple) -> str:
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) * 0.2).astype(np.float32), name))
        return name

    inits += [numpy_helper.from_array(np.array(0, np.float32), "zero"),
              numpy_helper.from_array(np.array(6, np.float32), "six")]
    res, ch = config["resolution"], config["channels"]
    nodes.append(helper.make_node("Transpose", ["input"], ["x_nchw"], perm=[0, 3, 1, 2], name="to_nchw"))
    stem_f, stem_s = config["stem"]
    nodes.append(helper.make_node("Conv", ["x_nchw", weight("stem_w", (stem_f, ch, 3, 3)), weight("stem_b", (stem_f,))],
                                  ["stem_out"], pads=[1, 1, 1, 1], strides=[stem_s, stem_s], name="stem_conv"))
    nodes.append(helper.make_node("Clip", ["stem_out", "zero", "six"], ["stem_act"], name="stem_relu6"))
    prev, cin = "stem_act", stem_f
    for i, (f, s) in enumerate(config["blocks"]):
        if twin == "separable":
            dw_in = [prev, weight(f"b{i}_dw_w", (cin, 1, 3, 3)), weight(f"b{i}_dw_b", (cin,))]
            nodes.append(helper.make_node("Conv", dw_in, [f"b{i}_dw_out"], pads=[1, 1, 1, 1], strides=[s, s], group=cin,
                                          name=f"block{i}_dw"))
            nodes.append(helper.make_node("Clip", [f"b{i}_dw_out", "zero", "six"], [f"b{i}_dw_act"],
                                          name=f"block{i}_dw_relu6"))
            nodes.append(helper.make_node("Conv", [f"b{i}_dw_act", weight(f"b{i}_pw_w", (f, cin, 1, 1)),
                                                   weight(f"b{i}_pw_b", (f,))], [f"b{i}_out"], name=f"block{i}_pw"))
        else:
            nodes.append(helper.make_node("Conv", [prev, weight(f"b{i}_w", (f, cin, 3, 3)), weight(f"b{i}_b", (f,))],
                                          [f"b{i}_out"], pads=[1, 1, 1, 1], strides=[s, s], name=f"block{i}_conv"))
        nodes.append(helper.make_node("Clip", [f"b{i}_out", "zero", "six"], [f"b{i}_act"], name=f"block{i}_relu6"))
        prev, cin = f"b{i}_act", f
    nodes.append(helper.make_node("GlobalAveragePool", [prev], ["pooled"], name="pool"))
    nodes.append(helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten"))
    nodes.append(helper.make_node("Gemm", ["flat", weight("fc_w", (cin, classes)), weight("fc_b", (classes,))],
                                  ["logits"], name="logits"))
    nodes.append(helper.make_node("Softmax", ["logits"], ["probs"], name="probs"))
    graph = helper.make_graph(nodes, f"tiny_{twin}",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, res, res, ch])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, classes])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def quantize_qdq(src: Path, dst: Path, shape: tuple) -> Path:
    """ONNX Runtime's static QDQ int8 quantization (per-channel), as the zoo's int8 export does."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.data = iter([{"input": np.random.default_rng(i).random(shape, dtype=np.float32)} for i in range(4)])

        def get_next(self):
            return next(self.data, None)

    quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    return dst


def ort_profile(path: Path, level: str = "ORT_ENABLE_ALL", runs: int = 3) -> list[dict]:
    """A real ORT profiling pass, reduced to the runner's op_profile rows."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    so.enable_profiling = True
    so.intra_op_num_threads = 1
    so.profile_file_prefix = str(path.parent / f"prof-{path.stem}-{level}")
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    x = np.random.default_rng(0).random(inp.shape, dtype=np.float32)
    for _ in range(runs):
        sess.run(None, {inp.name: x})
    events = json.loads(Path(sess.end_profiling()).read_text())
    rows: dict[str, dict] = {}
    for ev in events:
        if ev.get("cat") == "Node" and ev["name"].endswith("_kernel_time"):
            name = ev["name"][: -len("_kernel_time")]
            row = rows.setdefault(name, {"node": name, "op_type": ev["args"].get("op_name"),
                                         "provider": ev["args"].get("provider"), "dur_us_total": 0.0, "count": 0})
            row["dur_us_total"] += float(ev["dur"])
            row["count"] += 1
    return list(rows.values())


OLD_RUN = Path(__file__).parent / "data" / "run-v1"  # written by an earlier edgebench; see test_backward_compat


def copy_old_run(dst: Path) -> Path:
    """The checked-in v1 run's run.json and records.jsonl in a fresh folder (the tables are rebuilt)."""
    dst.mkdir(parents=True)
    for name in ("run.json", "records.jsonl"):
        shutil.copy(OLD_RUN / name, dst / name)
    return dst

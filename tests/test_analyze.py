"""The graph analyzer counts what the MobileNet paper counts, on any ONNX graph.

The MobileNetV1 graphs here are built with onnx.helper (no TensorFlow), in the three shapes exporters
produce: BN folded into conv biases, BN left as BatchNormalization nodes, and int8 QDQ graphs whose
weights sit behind DequantizeLinear. The real Keras exports are checked in tests/test_export.py.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from harness.errors import ModelFileError
from harness.zoo.analyze import analyze

REPO = Path(__file__).resolve().parent.parent
DIGITS = REPO / "models" / "zoo" / "digits"

MOBILENET_V1 = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]


class GraphBuilder:
    """A tiny ONNX graph writer: NCHW conv layers in one of three export styles."""

    def __init__(self, style: str = "folded"):
        self.style = style
        self.nodes: list = []
        self.inits: list = []
        self.n = 0

    def _name(self, base: str) -> str:
        self.n += 1
        return f"{base}_{self.n}"

    def const(self, base: str, shape: tuple[int, ...], quantize: bool = False, axis: int = 0) -> str:
        """A weight; in the qdq style an int8 tensor behind a per-channel DequantizeLinear."""
        name = self._name(base)
        if self.style == "qdq" and quantize:
            self.inits.append(numpy_helper.from_array(np.zeros(shape, np.int8), name + "_q"))
            ch = shape[axis]
            self.inits.append(numpy_helper.from_array(np.full(ch, 0.01, np.float32), name + "_scale"))
            self.inits.append(numpy_helper.from_array(np.zeros(ch, np.int8), name + "_zp"))
            self.nodes.append(helper.make_node("DequantizeLinear", [name + "_q", name + "_scale", name + "_zp"],
                                               [name], name=name + "_dq", axis=axis))
        else:
            self.inits.append(numpy_helper.from_array(np.zeros(shape, np.float32), name))
        return name

    def qdq(self, x: str) -> str:
        if self.style != "qdq":
            return x
        s = self._name("act_scale")
        z = self._name("act_zp")
        self.inits += [numpy_helper.from_array(np.array(0.05, np.float32), s),
                       numpy_helper.from_array(np.array(0, np.int8), z)]
        q, dq = self._name("q"), self._name("dq")
        self.nodes += [helper.make_node("QuantizeLinear", [x, s, z], [q], name=q),
                       helper.make_node("DequantizeLinear", [q, s, z], [dq], name=dq)]
        return dq

    def conv(self, x: str, cin: int, cout: int, k: int, stride: int, group: int = 1) -> str:
        name = self._name("conv")
        w = self.const("w", (cout, cin // group, k, k), quantize=True)
        pad = k // 2
        inputs = [self.qdq(x), w]
        if self.style in ("folded", "qdq"):
            inputs.append(self.const("b", (cout,)))
        self.nodes.append(helper.make_node("Conv", inputs, [name], name=name, group=group,
                                           kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4))
        y = name
        if self.style == "bn":
            bn = self._name("bn")
            params = [self.const(p, (cout,)) for p in ("gamma", "beta", "mean", "var")]
            self.nodes.append(helper.make_node("BatchNormalization", [y, *params], [bn], name=bn))
            y = bn
        relu = self._name("relu6")
        lo, hi = self._name("lo"), self._name("hi")
        self.inits += [numpy_helper.from_array(np.array(0, np.float32), lo),
                       numpy_helper.from_array(np.array(6, np.float32), hi)]
        self.nodes.append(helper.make_node("Clip", [y, lo, hi], [relu], name=relu))
        return relu

    def head(self, x: str, cin: int, classes: int, dense: str = "gemm") -> str:
        pool, flat = self._name("pool"), self._name("flatten")
        self.nodes += [helper.make_node("GlobalAveragePool", [x], [pool], name=pool),
                       helper.make_node("Flatten", [pool], [flat], name=flat)]
        fc = self._name("fc")
        if dense == "gemm":
            w = self.const("fc_w", (classes, cin), quantize=True)
            self.nodes.append(helper.make_node("Gemm", [self.qdq(flat), w, self.const("fc_b", (classes,))], [fc],
                                               name=fc, transB=1))
        else:  # MatMul + bias Add, as some exporters write a dense layer
            w = self.const("fc_w", (cin, classes), quantize=True, axis=1)
            mm = self._name("matmul")
            self.nodes += [helper.make_node("MatMul", [self.qdq(flat), w], [mm], name=mm),
                           helper.make_node("Add", [mm, self.const("fc_b", (classes,))], [fc], name=fc)]
        self.nodes.append(helper.make_node("Softmax", [fc], ["probs"], name="softmax"))
        return "probs"

    def save(self, path: Path, input_shape: list, classes: int) -> Path:
        graph = helper.make_graph(
            self.nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, input_shape)],
            [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [input_shape[0], classes])],
            initializer=self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        onnx.save(model, str(path))
        return path


def mobilenet_v1(path: Path, twin: str, style: str = "folded", width: float = 1.0, res: int = 224,
                 batch: int | str = 1, dense: str = "gemm") -> Path:
    b = GraphBuilder(style)
    c = int(32 * width)
    x = b.conv("input", 3, c, 3, 2)
    for filters, stride in MOBILENET_V1:
        f = int(filters * width)
        if twin == "separable":
            x = b.conv(x, c, c, 3, stride, group=c)
            x = b.conv(x, c, f, 1, 1)
        else:
            x = b.conv(x, c, f, 3, stride)
        c = f
    b.head(x, c, 1000, dense)
    return b.save(path, [batch, 3, res, res], 1000)


def paper_arithmetic(twin: str, width: float = 1.0, res: int = 224) -> tuple[int, int]:
    """MACs and params of MobileNetV1 straight from the paper's Table 1 (weights + BN-folded biases)."""
    macs = params = 0
    size = res // 2
    c = int(32 * width)
    macs += size * size * c * 3 * 9
    params += 27 * c + c
    for filters, stride in MOBILENET_V1:
        f = int(filters * width)
        out = size // stride
        if twin == "separable":
            macs += out * out * c * 9 + out * out * c * f
            params += 9 * c + c + c * f + f
        else:
            macs += out * out * f * c * 9
            params += 9 * c * f + f
        size, c = out, f
    return macs + c * 1000, params + c * 1000 + 1000


def learned(kinds: dict) -> dict:
    """Per-kind counts an export cannot change: the 'other' row's node count depends on the exporter
    (BN nodes, Q/DQ pairs, layout transposes), its MACs and params do not."""
    return {k: (v if k != "other" else {"macs": v["macs"], "params": v["params"]}) for k, v in kinds.items()}


@pytest.fixture(scope="module")
def mobilenet_graphs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    d = tmp_path_factory.mktemp("mobilenet")
    graphs = {}
    for twin in ("separable", "standard"):
        for style in ("folded", "bn", "qdq"):
            graphs[twin, style] = mobilenet_v1(d / f"{twin}-{style}.onnx", twin, style)
    return graphs


@pytest.mark.parametrize("style", ["folded", "bn", "qdq"])
def test_mobilenet_v1_separable_reproduces_the_paper_569M_mult_adds_and_4_2M_params(mobilenet_graphs, style):
    r = analyze(mobilenet_graphs["separable", style])
    assert abs(r["total"]["macs"] / 569e6 - 1) < 0.01, r["total"]
    assert abs(r["total"]["params"] / 4.2e6 - 1) < 0.01, r["total"]
    assert (r["total"]["macs"], r["total"]["params"]) == paper_arithmetic("separable")
    assert r["kinds"]["depthwise conv"]["layers"] == 13
    assert r["kinds"]["pointwise conv"]["layers"] == 13
    assert r["kinds"]["standard conv"]["layers"] == 1  # the stem
    assert r["kinds"]["dense"] == {"layers": 1, "macs": 1024 * 1000, "params": 1024 * 1000 + 1000}
    # the paper's Table 2: 1x1 convolutions hold ~95% of the mult-adds
    assert 0.94 < r["kinds"]["pointwise conv"]["macs"] / r["total"]["macs"] < 0.96


@pytest.mark.parametrize("style", ["folded", "bn", "qdq"])
def test_mobilenet_v1_standard_twin_reproduces_the_paper_4866M_mult_adds_and_29_3M_params(mobilenet_graphs, style):
    r = analyze(mobilenet_graphs["standard", style])
    assert abs(r["total"]["macs"] / 4866e6 - 1) < 0.01, r["total"]
    assert abs(r["total"]["params"] / 29.3e6 - 1) < 0.01, r["total"]
    assert (r["total"]["macs"], r["total"]["params"]) == paper_arithmetic("standard")
    assert r["kinds"]["standard conv"]["layers"] == 14
    assert r["kinds"]["depthwise conv"]["layers"] == r["kinds"]["pointwise conv"]["layers"] == 0


def test_width_and_resolution_multipliers_scale_mult_adds_as_the_paper_says(tmp_path):
    half = analyze(mobilenet_v1(tmp_path / "w05.onnx", "separable", width=0.5))
    r128 = analyze(mobilenet_v1(tmp_path / "r128.onnx", "separable", res=128))
    assert (half["total"]["macs"], half["total"]["params"]) == paper_arithmetic("separable", width=0.5)
    assert (r128["total"]["macs"], r128["total"]["params"]) == paper_arithmetic("separable", res=128)
    # Table 6/7 of the paper: 0.5 MobileNet-224 149M / 1.3M; 1.0 MobileNet-128 186M / 4.2M
    # (the paper rounds params to 0.1M)
    assert abs(half["total"]["macs"] / 149e6 - 1) < 0.01 and round(half["total"]["params"] / 1e6, 1) == 1.3
    assert abs(r128["total"]["macs"] / 186e6 - 1) < 0.01


def test_every_node_has_a_row_with_name_kind_macs_and_params(mobilenet_graphs):
    r = analyze(mobilenet_graphs["separable", "bn"])
    model = onnx.load(str(mobilenet_graphs["separable", "bn"]), load_external_data=False)
    assert [row["name"] for row in r["nodes"]] == [n.name for n in model.graph.node]
    assert sum(row["macs"] for row in r["nodes"]) == r["total"]["macs"]
    assert sum(row["params"] for row in r["nodes"]) == r["total"]["params"]
    bn_rows = [row for row in r["nodes"] if row["op_type"] == "BatchNormalization"]
    assert len(bn_rows) == 27 and all(row["folded_into"] and row["macs"] == 0 for row in bn_rows)


def test_dense_layer_written_as_matmul_plus_add_counts_like_gemm(tmp_path):
    r = analyze(mobilenet_v1(tmp_path / "mm.onnx", "separable", dense="matmul"))
    assert (r["total"]["macs"], r["total"]["params"]) == paper_arithmetic("separable")
    assert r["kinds"]["dense"] == {"layers": 1, "macs": 1024 * 1000, "params": 1024 * 1000 + 1000}


def test_symbolic_batch_is_counted_as_one_and_said_so(tmp_path):
    r = analyze(mobilenet_v1(tmp_path / "dyn.onnx", "separable", batch="N", res=128))
    assert r["total"]["macs"] == paper_arithmetic("separable", res=128)[0]
    assert any("batch dimension 'N' taken as 1" in w for w in r["warnings"])


def _single_conv(path: Path, cin: int, cout: int, k: int, group: int, hw: int = 10) -> Path:
    b = GraphBuilder("folded")
    w = b.const("w", (cout, cin // group, k, k))
    b.nodes.append(helper.make_node("Conv", ["input", w], ["probs"], name="conv", group=group,
                                    kernel_shape=[k, k], pads=[k // 2] * 4))
    graph = helper.make_graph(b.nodes, "g",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, cin, hw, hw])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, None)], initializer=b.inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


@pytest.mark.parametrize("cin,cout,k,group,kind", [
    (8, 16, 3, 1, "standard conv"),
    (8, 16, 3, 4, "standard conv"),    # grouped: each output sees cin/group channels
    (8, 8, 3, 8, "depthwise conv"),
    (8, 16, 3, 8, "depthwise conv"),   # depth multiplier 2
    (8, 16, 1, 1, "pointwise conv"),
    (8, 16, 1, 2, "pointwise conv"),   # grouped 1x1 (ShuffleNet style)
])
def test_convolutions_are_classified_and_counted_with_their_groups(tmp_path, cin, cout, k, group, kind):
    r = analyze(_single_conv(tmp_path / "c.onnx", cin, cout, k, group))
    (row,) = r["nodes"]
    assert row["kind"] == kind
    assert row["macs"] == 10 * 10 * cout * (cin // group) * k * k
    assert row["params"] == cout * (cin // group) * k * k + cout  # weights + a bias per output channel


def test_bias_counts_the_same_whether_stored_or_dropped_by_the_exporter(tmp_path):
    # a random-init BN folds to an all-zero shift, which some exporters drop: the count must not move
    assert analyze(_single_conv(tmp_path / "nobias.onnx", 8, 16, 3, 1))["total"]["params"] == 16 * 8 * 9 + 16
    folded = analyze(mobilenet_v1(tmp_path / "folded.onnx", "separable", res=128))
    unfolded = analyze(mobilenet_v1(tmp_path / "bn.onnx", "separable", "bn", res=128))
    assert learned(folded["kinds"]) == learned(unfolded["kinds"])


def test_conv_output_size_is_computed_when_shape_inference_has_none(tmp_path):
    path = _single_conv(tmp_path / "c.onnx", 4, 4, 3, 1, hw=9)
    model = onnx.load(str(path))
    model.graph.node[0].attribute.append(helper.make_attribute("strides", [2, 2]))
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_value = 9
    onnx.save(model, str(path))
    assert analyze(path)["total"]["macs"] == 5 * 5 * 4 * 4 * 9


def test_truncated_onnx_file_is_a_clear_model_file_error(tmp_path):
    data = (DIGITS / "digits-separable-onnx-fp32.onnx").read_bytes()
    for cut in (len(data) // 3, len(data) - 100, 40):
        bad = tmp_path / f"cut{cut}.onnx"
        bad.write_bytes(data[:cut])
        with pytest.raises(ModelFileError, match=str(bad).replace(".", r"\.")):
            analyze(bad)


def test_truncated_tflite_file_is_a_clear_model_file_error(tmp_path):
    bad = tmp_path / "cut.tflite"
    bad.write_bytes((DIGITS / "digits-standard-tflite-fp32.tflite").read_bytes()[:5000])
    with pytest.raises(ModelFileError, match="truncated"):
        analyze(bad)


def test_missing_file_and_unknown_suffix_are_model_file_errors(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        analyze(tmp_path / "absent.onnx")
    other = tmp_path / "model.pt"
    other.write_bytes(b"x")
    with pytest.raises(ModelFileError, match=r"\.onnx or \.tflite"):
        analyze(other)


@pytest.mark.parametrize("name", [
    "digits-separable-onnx-fp32.onnx", "digits-separable-onnx-int8.onnx", "digits-separable-tflite-fp32.tflite",
    "digits-separable-tflite-fp16.tflite", "digits-separable-tflite-int8.tflite",
    "digits-standard-onnx-fp32.onnx", "digits-standard-onnx-int8.onnx", "digits-standard-tflite-fp32.tflite",
    "digits-standard-tflite-fp16.tflite", "digits-standard-tflite-int8.tflite",
])
def test_every_format_of_a_shipped_model_gives_the_same_counts_per_kind(name):
    twin = name.split("-")[1]
    ref = analyze(DIGITS / f"digits-{twin}-onnx-fp32.onnx")
    r = analyze(DIGITS / name)
    assert learned(r["kinds"]) == learned(ref["kinds"])
    assert r["total"] == ref["total"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], check=False, capture_output=True, text=True,
                          timeout=120, cwd=REPO)


def test_inspect_truncated_model_prints_one_line_naming_the_file_and_exits_nonzero(tmp_path):
    bad = tmp_path / "cut.onnx"
    bad.write_bytes((DIGITS / "digits-standard-onnx-fp32.onnx").read_bytes()[:70000])
    p = _cli("models", "inspect", str(bad))
    assert p.returncode != 0
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and "truncated" in lines[0]


def test_inspect_two_files_prints_both_tables_and_the_ratio():
    sep, std = DIGITS / "digits-separable-onnx-fp32.onnx", DIGITS / "digits-standard-onnx-fp32.onnx"
    p = _cli("models", "inspect", str(sep), str(std))
    assert p.returncode == 0, p.stderr
    a, b = analyze(sep), analyze(std)
    assert f"{a['total']['macs']:,}" in p.stdout and f"{b['total']['macs']:,}" in p.stdout
    for kind in ("standard conv", "depthwise conv", "pointwise conv", "dense", "other", "total"):
        assert kind in p.stdout
    ratio = a["total"]["macs"] / b["total"]["macs"]
    assert f"ratio FILE/FILE2: mult-adds {ratio:.3f}" in p.stdout


def test_inspect_json_carries_kinds_totals_nodes_and_ratio():
    sep, std = DIGITS / "digits-separable-tflite-int8.tflite", DIGITS / "digits-standard-onnx-int8.onnx"
    p = _cli("models", "inspect", str(sep), str(std), "--json")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    a, b = data["files"]
    assert data["ratio"]["macs"] == pytest.approx(a["total"]["macs"] / b["total"]["macs"])
    assert {"name", "op_type", "kind", "macs", "params"} <= set(a["nodes"][0])
    assert a["format"] == "tflite" and b["format"] == "onnx"


def test_inspect_prints_paper_style_totals_for_mobilenet(mobilenet_graphs):
    p = _cli("models", "inspect", str(mobilenet_graphs["separable", "qdq"]),
             str(mobilenet_graphs["standard", "folded"]))
    assert p.returncode == 0, p.stderr
    totals = [line.split()[2:4] for line in p.stdout.splitlines() if line.startswith("total")]
    # printed as the paper prints them; the standard twin shows 4867M: the paper's 4866M leaves out
    # the 1.02M mult-adds of the classifier that its separable figure (569M) includes
    assert totals == [["569M", "4.2M"], ["4867M", "29.3M"]]


def test_analyzer_and_inspect_never_import_tensorflow():
    code = ("import sys; from harness.zoo.analyze import analyze; from harness.cli import main; "
            f"analyze({str(DIGITS / 'digits-separable-tflite-int8.tflite')!r}); "
            f"main(['models', 'inspect', {str(DIGITS / 'digits-separable-onnx-int8.onnx')!r}]); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'imported'")
    p = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert p.returncode == 0, p.stderr


def test_paper_arithmetic_helper_matches_the_published_table():
    # a guard on the test's own arithmetic: Table 1 of the paper, layer by layer
    macs, params = paper_arithmetic("separable")
    assert math.isclose(macs, 569e6, rel_tol=0.01) and math.isclose(params, 4.2e6, rel_tol=0.01)

"""The analyzer counts what the usual exporters write, checked against hand counts: residual adds,
convolutions without bias, grouped / dilated / strided convolutions, squeeze-excitation blocks,
Gemm/MatMul behind Transpose-wrapped layouts (tf2onnx, the TFLite converter), pooling and resize,
and dynamic dimensions sized by a given input shape."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from harness.errors import ModelFileError
from harness.report.graph import load_graph
from harness.zoo.analyze import analyze
from usermodels import torch_dynamic_convnet, torch_dynamic_macs


def _model(path: Path, nodes: list, inputs: dict, output: str, inits: dict) -> Path:
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(s if isinstance(s, np.ndarray) else np.full(s, 0.1, np.float32), n)
                     for n, s in inits.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _se_residual(path: Path, head: str) -> Path:
    """conv 3x3 16->16 without bias -> ReLU -> SE (GlobalAveragePool -> squeeze 16->4 -> ReLU ->
    excite 4->16 -> Sigmoid -> Mul) -> residual Add with the block input."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1] * 4),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("GlobalAveragePool", ["r"], ["p"], name="se_pool")]
    inits = {"w": (16, 16, 3, 3)}
    if head == "conv":  # 1x1 convolutions, as Keras/torch SE modules export
        nodes += [helper.make_node("Conv", ["p", "sq_w", "sq_b"], ["sq"], name="se_squeeze", kernel_shape=[1, 1]),
                  helper.make_node("Relu", ["sq"], ["sqr"], name="se_relu"),
                  helper.make_node("Conv", ["sqr", "ex_w", "ex_b"], ["ex"], name="se_excite", kernel_shape=[1, 1]),
                  helper.make_node("Sigmoid", ["ex"], ["s"], name="se_sigmoid")]
        inits.update({"sq_w": (4, 16, 1, 1), "sq_b": (4,), "ex_w": (16, 4, 1, 1), "ex_b": (16,)})
    else:  # dense layers on the pooled vector (timm/tf2onnx style), reshaped back to broadcast
        nodes += [helper.make_node("Flatten", ["p"], ["pf"], name="se_flatten"),
                  helper.make_node("Gemm", ["pf", "sq_w", "sq_b"], ["sq"], name="se_squeeze", transB=1),
                  helper.make_node("Relu", ["sq"], ["sqr"], name="se_relu"),
                  helper.make_node("Gemm", ["sqr", "ex_w", "ex_b"], ["ex"], name="se_excite", transB=1),
                  helper.make_node("Sigmoid", ["ex"], ["sg"], name="se_sigmoid"),
                  helper.make_node("Reshape", ["sg", "shape"], ["s"], name="se_reshape")]
        inits.update({"sq_w": (4, 16), "sq_b": (4,), "ex_w": (16, 4), "ex_b": (16,),
                      "shape": np.array([1, 16, 1, 1], np.int64)})
    nodes += [helper.make_node("Mul", ["r", "s"], ["scaled"], name="se_mul"),
              helper.make_node("Add", ["scaled", "x"], ["y"], name="residual")]
    return _model(path, nodes, {"x": [1, 16, 8, 8]}, "y", inits)


@pytest.mark.parametrize("head", ["conv", "gemm"])
def test_squeeze_excitation_and_residual_count_by_hand(tmp_path, head):
    r = analyze(_se_residual(tmp_path / f"se-{head}.onnx", head))
    conv_macs, conv_params = 8 * 8 * 16 * 16 * 9, 16 * 16 * 9 + 16  # no stored bias: one per channel anyway
    se_macs, se_params = 16 * 4 + 4 * 16, (16 * 4 + 4) + (4 * 16 + 16)
    assert r["total"] == {"macs": conv_macs + se_macs, "params": conv_params + se_params}, r["warnings"]
    assert r["kinds"]["standard conv"] == {"layers": 1, "macs": conv_macs, "params": conv_params}
    se_kind = "pointwise conv" if head == "conv" else "dense"
    assert r["kinds"][se_kind] == {"layers": 2, "macs": se_macs, "params": se_params}
    others = [n["name"] for n in r["nodes"] if n["kind"] == "other"]
    assert r["kinds"]["other"] == {"layers": len(others), "macs": 0, "params": 0}
    assert {"se_mul", "residual", "se_pool", "se_sigmoid"} <= set(others)  # elementwise: not counted


@pytest.mark.parametrize("group,stride,dilation,kind", [
    (1, 1, 1, "standard conv"),
    (4, 2, 1, "standard conv"),     # grouped: each output sees cin / groups channels
    (1, 2, 2, "standard conv"),     # strided and dilated: the output shrinks, the kernel stays 3x3
    (16, 1, 2, "depthwise conv"),
])
def test_grouped_dilated_strided_convolutions(tmp_path, group, stride, dilation, kind):
    cout = 32 if group != 16 else 16
    pad = dilation
    path = _model(tmp_path / "c.onnx", [helper.make_node(
        "Conv", ["x", "w"], ["y"], name="conv", group=group, kernel_shape=[3, 3], strides=[stride] * 2,
        dilations=[dilation] * 2, pads=[pad] * 4)], {"x": [1, 16, 16, 16]}, "y", {"w": (cout, 16 // group, 3, 3)})
    out = (16 + 2 * pad - dilation * 2 - 1) // stride + 1
    r = analyze(path)
    (node,) = r["nodes"]
    assert (node["kind"], node["macs"], node["params"]) == (kind, out * out * cout * (16 // group) * 9,
                                                           cout * (16 // group) * 9 + cout)
    assert (node["group"], node["kernel"], node["out_hw"]) == (group, (3, 3), (out, out))


def test_tf2onnx_nhwc_transposes_and_transposed_dense_weights(tmp_path):
    """tf2onnx wraps NCHW convs in Transposes; the TFLite converter (and tf2onnx from it) stores dense
    weights as [out, in] behind a Transpose feeding MatMul, with the bias in an Add."""
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], name="to_nchw", perm=[0, 3, 1, 2]),
             helper.make_node("Conv", ["xt", "w", "b"], ["c"], name="conv", kernel_shape=[1, 1]),
             helper.make_node("Transpose", ["c"], ["ct"], name="to_nhwc", perm=[0, 2, 3, 1]),
             helper.make_node("Reshape", ["ct", "flat"], ["f"], name="flatten"),
             helper.make_node("Transpose", ["fc_w"], ["fc_wt"], name="fc_w_t", perm=[1, 0]),
             helper.make_node("MatMul", ["f", "fc_wt"], ["mm"], name="dense"),
             helper.make_node("Add", ["mm", "fc_b"], ["y"], name="dense_bias")]
    path = _model(tmp_path / "tf.onnx", nodes, {"x": [1, 8, 8, 3]}, "y",
                  {"w": (8, 3, 1, 1), "b": (8,), "fc_w": (10, 512), "fc_b": (10,),
                   "flat": np.array([1, 512], np.int64)})
    r = analyze(path)
    assert r["total"] == {"macs": 64 * 8 * 3 + 512 * 10, "params": 24 + 8 + 5120 + 10}, r["warnings"]
    assert r["kinds"]["dense"] == {"layers": 1, "macs": 5120, "params": 5130}
    assert r["kinds"]["other"]["layers"] == 5  # 3 transposes, the reshape, the folded bias add


def test_pooling_and_resize_cost_nothing_and_size_what_follows(tmp_path):
    nodes = [helper.make_node("MaxPool", ["x"], ["p"], name="maxpool", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("AveragePool", ["p"], ["a"], name="avgpool", kernel_shape=[3, 3], pads=[1] * 4),
             helper.make_node("Resize", ["a", "", "scales"], ["u"], name="upsample", mode="nearest"),
             helper.make_node("Conv", ["u", "w"], ["y"], name="conv", kernel_shape=[3, 3], pads=[1] * 4)]
    path = _model(tmp_path / "pool.onnx", nodes, {"x": [1, 4, 16, 16]}, "y",
                  {"w": (8, 4, 3, 3), "scales": np.array([1, 1, 4, 4], np.float32)})
    r = analyze(path)
    assert r["total"]["macs"] == 32 * 32 * 8 * 4 * 9, r["warnings"]  # 16 -> 8 -> 8 -> 32
    assert r["kinds"]["other"] == {"layers": 3, "macs": 0, "params": 0}


def test_dynamic_dims_are_sized_by_a_given_input_shape(tmp_path):
    model = torch_dynamic_convnet(tmp_path / "dyn.onnx")
    unsized = analyze(model)
    assert any("/conv1/Conv" in w and "MACs not counted" in w for w in unsized["warnings"])
    assert unsized["total"]["macs"] < torch_dynamic_macs(1, 1)
    for h, w in ((32, 32), (64, 48)):
        r = analyze(model, input_shapes={"input": [1, 3, h, w]})
        assert r["total"]["macs"] == torch_dynamic_macs(h, w), r["warnings"]
        assert not any("not counted" in x for x in r["warnings"])
    assert r["total"]["params"] == unsized["total"]["params"] == 16 * 27 + 16 + 16 * 16 * 9 + 16 + 160 + 10
    g = load_graph(model)  # the report reads the same rows
    assert [layer.kind for layer in g.layers if layer.op_type == "Conv"] == ["standard conv"] * 2


def test_a_given_shape_that_contradicts_the_model_is_one_line(tmp_path):
    model = torch_dynamic_convnet(tmp_path / "dyn.onnx")
    with pytest.raises(ModelFileError, match="dimension 3 is fixed in the model.*give 3"):
        analyze(model, input_shapes={"input": [1, 4, 32, 32]})


def test_a_tflite_dynamic_batch_is_sized_by_a_given_shape():
    from conftest import ZOO

    model = ZOO / "digits" / "digits-separable-tflite-fp32.tflite"
    one = analyze(model)
    two = analyze(model, input_shapes={"serving_default_input:0": [2, 32, 32, 1]})
    assert two["total"]["macs"] == 2 * one["total"]["macs"] > 0
    assert two["total"]["params"] == one["total"]["params"]
    with pytest.raises(ModelFileError, match="serving_default_input:0"):
        analyze(model, input_shapes={"serving_default_input:0": [1, 16, 16, 1]})

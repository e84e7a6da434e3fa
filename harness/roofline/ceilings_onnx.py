"""The ONNX ceiling models, written with onnx.helper (see ceilings.py for what each measures)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .spec import SCALE, CeilingSpec, weights


def _shape(spec: CeilingSpec) -> list[int]:
    _, h, w, c = spec.shape_nhwc if spec.conv else (0, 0, 0, 0)
    return [1, c, h, w] if spec.conv else [1, spec.elems]


def onnx_bytes(spec: CeilingSpec) -> bytes:
    """The serialized model: opset 17, batch 1, one input 'x' and one output 'y'."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    int8 = spec.precision == "int8"
    etype = TensorProto.FLOAT
    inits: list[Any] = []
    nodes: list[Any] = []
    if int8:  # float in and out, as the zoo's int8 exports: ONNX Runtime fuses the QDQ inside
        # ONNX Runtime fuses QDQ Add into QLinearAdd for uint8 activations only; convs take int8
        zero = np.array(0, np.int8) if spec.conv else np.array(128, np.uint8)
        inits += [numpy_helper.from_array(np.array(SCALE, np.float32), "s"), numpy_helper.from_array(zero, "z")]
        if spec.conv:
            inits.append(numpy_helper.from_array(np.array(0, np.int8), "zw"))
        nodes += [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"], name="q_in"),
                  helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["a0"], name="dq_in")]
    cur = "a0" if int8 else "x"
    for i in range(spec.ops):
        out = f"t{i}"
        if spec.conv:
            nodes += _conv(spec, i, cur, out, int8, inits)
        else:
            nodes += _add(i, cur, out, int8, inits)
        last = i == spec.ops - 1
        if int8:
            nodes += [helper.make_node("QuantizeLinear", [out, "s", "z"], [f"q{i}"], name=f"q{i}"),
                      helper.make_node("DequantizeLinear", [f"q{i}", "s", "z"], ["y" if last else f"a{i + 1}"],
                                       name=f"dq{i}")]
            out = f"a{i + 1}"
        elif last:
            nodes[-1].output[0] = "y"
        cur = out
    graph = helper.make_graph(nodes, spec.name, [helper.make_tensor_value_info("x", etype, _shape(spec))],
                              [helper.make_tensor_value_info("y", etype, _shape(spec))], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="edgebench")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _conv(spec: CeilingSpec, i: int, x: str, out: str, int8: bool, inits: list[Any]) -> list[Any]:
    from onnx import helper, numpy_helper

    _, k, dw, _ = spec.conv
    w = weights(spec).transpose(0, 3, 1, 2)  # OIHW
    ch = spec.size
    attrs = {"kernel_shape": [k, k], "pads": [k // 2] * 4, "group": ch if dw else 1}
    if not int8:
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(np.zeros(ch, np.float32), f"b{i}")]
        return [helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [out], name=f"conv{i}", **attrs)]
    ws = float(np.abs(w).max() / 127)
    inits += [numpy_helper.from_array(np.round(w / ws).astype(np.int8), f"wq{i}"),
              numpy_helper.from_array(np.array(ws, np.float32), f"ws{i}"),
              numpy_helper.from_array(np.zeros(ch, np.int32), f"bq{i}"),
              numpy_helper.from_array(np.array(ws * SCALE, np.float32), f"bs{i}"),
              numpy_helper.from_array(np.array(0, np.int32), f"bz{i}")]
    return [helper.make_node("DequantizeLinear", [f"wq{i}", f"ws{i}", "zw"], [f"w{i}"], name=f"dqw{i}"),
            helper.make_node("DequantizeLinear", [f"bq{i}", f"bs{i}", f"bz{i}"], [f"b{i}"], name=f"dqb{i}"),
            helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [out], name=f"conv{i}", **attrs)]


def _add(i: int, x: str, out: str, int8: bool, inits: list[Any]) -> list[Any]:
    from onnx import helper, numpy_helper

    c = 0.001 * (i % 7 - 3)  # a different small constant per op: nothing folds the chain away
    if not int8:
        inits.append(numpy_helper.from_array(np.array([c], np.float32), f"c{i}"))
        return [helper.make_node("Add", [x, f"c{i}"], [out], name=f"add{i}")]
    inits.append(numpy_helper.from_array(np.array([129 if i % 2 else 127], np.uint8), f"cq{i}"))
    return [helper.make_node("DequantizeLinear", [f"cq{i}", "s", "z"], [f"c{i}"], name=f"dqc{i}"),
            helper.make_node("Add", [x, f"c{i}"], [out], name=f"add{i}")]

"""Models as users bring them, written with onnx.helper (and LiteRT's flatbuffer schema) in the forms
the usual exporters write: torch.onnx.export's dynamic axes and '/layer/Op' names, tf2onnx's NHWC
transposes, several inputs, integer token ids. Each builder returns the path and documents the
multiply-adds and params a hand count gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 17)]


def _w(name: str, shape: tuple[int, ...], seed: int = 0, scale: float = 0.1) -> onnx.TensorProto:
    return numpy_helper.from_array((np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32),
                                   name)


def _save(path: Path, nodes: list, inputs: list, outputs: list, inits: list) -> Path:
    model = helper.make_model(helper.make_graph(nodes, "main_graph", inputs, outputs, initializer=inits),
                              opset_imports=OPSET, producer_name="pytorch", producer_version="2.5.0")
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def torch_dynamic_convnet(path: Path, channels: int = 16, classes: int = 10) -> Path:
    """[batch_size, 3, height, width] as torch.onnx.export writes with dynamic_axes: conv 3x3 (bias) ->
    ReLU -> conv 3x3 (no bias) -> ReLU -> GlobalAveragePool -> Flatten -> Gemm.
    MACs at H x W: H W (3 C 9 + C C 9) + C classes; params 27C + C + 9C^2 + C + C classes + classes."""
    c = channels
    nodes = [helper.make_node("Conv", ["input", "conv1.weight", "conv1.bias"], ["/conv1/Conv_output_0"],
                              name="/conv1/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["/conv1/Conv_output_0"], ["/relu/Relu_output_0"], name="/relu/Relu"),
             helper.make_node("Conv", ["/relu/Relu_output_0", "conv2.weight"], ["/conv2/Conv_output_0"],
                              name="/conv2/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["/conv2/Conv_output_0"], ["/relu_1/Relu_output_0"], name="/relu_1/Relu"),
             helper.make_node("GlobalAveragePool", ["/relu_1/Relu_output_0"], ["/pool/GlobalAveragePool_output_0"],
                              name="/pool/GlobalAveragePool"),
             helper.make_node("Flatten", ["/pool/GlobalAveragePool_output_0"], ["/Flatten_output_0"], name="/Flatten"),
             helper.make_node("Gemm", ["/Flatten_output_0", "fc.weight", "fc.bias"], ["logits"], name="/fc/Gemm",
                              transB=1)]
    inits = [_w("conv1.weight", (c, 3, 3, 3), 1), _w("conv1.bias", (c,), 2), _w("conv2.weight", (c, c, 3, 3), 3),
             _w("fc.weight", (classes, c), 4), _w("fc.bias", (classes,), 5)]
    return _save(path, nodes,
                 [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch_size", 3, "height", "width"])],
                 [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch_size", classes])], inits)


def torch_dynamic_macs(h: int, w: int, channels: int = 16, classes: int = 10) -> int:
    return h * w * (3 * channels * 9 + channels * channels * 9) + channels * classes


def two_input_net(path: Path) -> Path:
    """An image [1, 3, 16, 16] through conv 3x3 (3->8) and global pooling, plus a side input [1, 8],
    added, then Gemm 8->4. MACs 16*16*8*3*9 + 8*4; params 8*27 + 8 + 32 + 4."""
    nodes = [helper.make_node("Conv", ["image", "w", "b"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1] * 4),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("GlobalAveragePool", ["r"], ["p"], name="pool"),
             helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
             helper.make_node("Add", ["f", "side"], ["s"], name="add_side"),
             helper.make_node("Gemm", ["s", "fc_w", "fc_b"], ["out"], name="fc", transB=1)]
    inits = [_w("w", (8, 3, 3, 3), 1), _w("b", (8,), 2), _w("fc_w", (4, 8), 3), _w("fc_b", (4,), 4)]
    return _save(path, nodes,
                 [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 16, 16]),
                  helper.make_tensor_value_info("side", TensorProto.FLOAT, [1, 8])],
                 [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4])], inits)


def token_classifier(path: Path, vocab: int = 100, dim: int = 16, seq: int = 12, classes: int = 5) -> Path:
    """int64 token ids ['batch', seq] -> embedding Gather [vocab, dim] -> mean over the sequence ->
    MatMul [dim, classes] + bias. MACs dim*classes; params vocab*dim + dim*classes + classes."""
    nodes = [helper.make_node("Gather", ["embed.weight", "ids"], ["e"], name="/embed/Gather"),
             helper.make_node("ReduceMean", ["e"], ["m"], name="/ReduceMean", axes=[1], keepdims=0),
             helper.make_node("MatMul", ["m", "head.weight_t"], ["mm"], name="/head/MatMul"),
             helper.make_node("Add", ["mm", "head.bias"], ["logits"], name="/head/Add")]
    inits = [_w("embed.weight", (vocab, dim), 1), _w("head.weight_t", (dim, classes), 2),
             _w("head.bias", (classes,), 3)]
    model = helper.make_model(helper.make_graph(
        nodes, "main_graph", [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", seq])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])], initializer=inits),
        opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


ALL_DTYPES = {"f32": TensorProto.FLOAT, "f16": TensorProto.FLOAT16, "i8": TensorProto.INT8,
              "u8": TensorProto.UINT8, "i32": TensorProto.INT32, "i64": TensorProto.INT64, "flag": TensorProto.BOOL}


def every_dtype_net(path: Path) -> Path:
    """One [1, 4] input of each dtype the runner feeds, each cast to float and summed."""
    nodes = [helper.make_node("Cast", [n], [n + "_f"], name="cast_" + n, to=TensorProto.FLOAT) for n in ALL_DTYPES]
    nodes.append(helper.make_node("Sum", [n + "_f" for n in ALL_DTYPES], ["out"], name="sum"))
    return _save(path, nodes, [helper.make_tensor_value_info(n, t, [1, 4]) for n, t in ALL_DTYPES.items()],
                 [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4])], [])


def log_net(path: Path) -> Path:
    """log(x): NaN for the negative half of standard-normal data."""
    return _save(path, [helper.make_node("Log", ["x"], ["y"], name="log")],
                 [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])], [])


def two_input_tflite(path: Path) -> Path:
    """A .tflite with two float inputs 'a' and 'b' ([1, n], n dynamic) added, and a serving_default
    signature naming them, written with LiteRT's own flatbuffer schema (no TensorFlow)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    def tensor(name: str, buf: int) -> s.TensorT:
        t = s.TensorT()
        t.name, t.shape, t.shapeSignature, t.type, t.buffer = name, [1, 4], [1, -1], s.TensorType.FLOAT32, buf
        return t

    sub = s.SubGraphT()
    sub.tensors = [tensor("serving_default_a:0", 1), tensor("serving_default_b:0", 2), tensor("PartitionedCall:0", 3)]
    sub.inputs, sub.outputs, sub.name = [0, 1], [2], "main"
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1], [2]
    op.builtinOptionsType, op.builtinOptions = s.BuiltinOptions.AddOptions, s.AddOptionsT()
    sub.operators = [op]
    code = s.OperatorCodeT()
    code.builtinCode, code.deprecatedBuiltinCode, code.version = s.BuiltinOperator.ADD, s.BuiltinOperator.ADD, 1
    sig = s.SignatureDefT()
    sig.signatureKey, sig.subgraphIndex = "serving_default", 0
    sig.inputs = [s.TensorMapT(), s.TensorMapT()]
    sig.inputs[0].name, sig.inputs[0].tensorIndex = "a", 0
    sig.inputs[1].name, sig.inputs[1].tensorIndex = "b", 1
    sig.outputs = [s.TensorMapT()]
    sig.outputs[0].name, sig.outputs[0].tensorIndex = "out", 2
    model = s.ModelT()
    model.version, model.description = 3, "two inputs"
    model.operatorCodes, model.subgraphs, model.signatureDefs = [code], [sub], [sig]
    model.buffers = [s.BufferT() for _ in range(4)]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path.write_bytes(bytes(builder.Output()))
    return path

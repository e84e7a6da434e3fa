"""The .tflite ceiling models, written with LiteRT's own flatbuffer schema (no TensorFlow); see
ceilings.py for what each measures. NHWC, batch 1, one input and one output, a serving_default
signature."""

from __future__ import annotations

from typing import Any

import numpy as np

from .spec import SCALE, CeilingSpec, weights


class _Builder:
    """Tensors, buffers and ops of one subgraph."""

    def __init__(self, s: Any, int8: bool):
        self.s, self.int8 = s, int8
        self.tensors: list[Any] = []
        self.buffers: list[Any] = [s.BufferT()]  # buffer 0 is the empty sentinel
        self.ops: list[Any] = []
        self.codes: list[int] = []

    def tensor(self, name: str, shape: list[int], data: np.ndarray | None = None, ttype: int | None = None,
               scale: float | None = None) -> int:
        s = self.s
        t = s.TensorT()
        t.name, t.shape = name, list(shape)
        t.type = ttype if ttype is not None else (s.TensorType.INT8 if self.int8 else s.TensorType.FLOAT32)
        buf = s.BufferT()
        if data is not None:
            buf.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8).tolist()
        self.buffers.append(buf)
        t.buffer = len(self.buffers) - 1
        if self.int8 and t.type != s.TensorType.FLOAT32:
            q = s.QuantizationParametersT()
            q.scale, q.zeroPoint = [float(scale if scale is not None else SCALE)], [0]
            t.quantization = q
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, code: int, inputs: list[int], outputs: list[int], opt_type: int, opts: Any) -> None:
        if code not in self.codes:
            self.codes.append(code)
        o = self.s.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = self.codes.index(code), inputs, outputs
        o.builtinOptionsType, o.builtinOptions = opt_type, opts
        self.ops.append(o)


def tflite_bytes(spec: CeilingSpec) -> bytes:
    """The serialized model (file identifier TFL3)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    b = _Builder(s, spec.precision == "int8")
    shape = spec.shape_nhwc
    first = cur = b.tensor("serving_default_x:0", shape, ttype=s.TensorType.FLOAT32)
    if b.int8:  # float in and out, as the zoo's int8 exports
        cur = b.tensor("xq", shape)
        b.op(s.BuiltinOperator.QUANTIZE, [first], [cur], s.BuiltinOptions.QuantizeOptions, s.QuantizeOptionsT())
    for i in range(spec.ops):
        out = b.tensor("PartitionedCall:0" if i == spec.ops - 1 and not b.int8 else f"t{i}", shape)
        if spec.conv:
            _conv(b, spec, i, cur, out)
        else:
            _add(b, i, cur, out)
        cur = out
    if b.int8:
        out = b.tensor("PartitionedCall:0", shape, ttype=s.TensorType.FLOAT32)
        b.op(s.BuiltinOperator.DEQUANTIZE, [cur], [out], s.BuiltinOptions.DequantizeOptions, s.DequantizeOptionsT())
        cur = out
    sub = s.SubGraphT()
    sub.tensors, sub.inputs, sub.outputs, sub.operators, sub.name = b.tensors, [first], [cur], b.ops, "main"
    codes = []
    for c in b.codes:
        oc = s.OperatorCodeT()
        oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = c, min(c, 127), 1
        codes.append(oc)
    sig = s.SignatureDefT()
    sig.signatureKey, sig.subgraphIndex = "serving_default", 0
    sig.inputs, sig.outputs = [s.TensorMapT()], [s.TensorMapT()]
    sig.inputs[0].name, sig.inputs[0].tensorIndex = "x", first
    sig.outputs[0].name, sig.outputs[0].tensorIndex = "y", cur
    model = s.ModelT()
    model.version, model.description = 3, spec.name
    model.operatorCodes, model.subgraphs, model.signatureDefs, model.buffers = codes, [sub], [sig], b.buffers
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _conv(b: _Builder, spec: CeilingSpec, i: int, x: int, out: int) -> None:
    s = b.s
    _, k, dw, _ = spec.conv
    ch = spec.size
    w = weights(spec)  # OHWI; a depthwise kernel is stored [1, kh, kw, channels]
    if dw:
        w = w.transpose(3, 1, 2, 0)
    if b.int8:
        ws = float(np.abs(w).max() / 127)
        wt = b.tensor(f"w{i}", list(w.shape), np.round(w / ws).astype(np.int8), scale=ws)
        bt = b.tensor(f"b{i}", [ch], np.zeros(ch, np.int32), s.TensorType.INT32, scale=ws * SCALE)
    else:
        wt = b.tensor(f"w{i}", list(w.shape), w)
        bt = b.tensor(f"b{i}", [ch], np.zeros(ch, np.float32))
    opts = s.DepthwiseConv2DOptionsT() if dw else s.Conv2DOptionsT()
    opts.padding = s.Padding.SAME if k > 1 else s.Padding.VALID
    opts.strideW, opts.strideH, opts.dilationWFactor, opts.dilationHFactor = 1, 1, 1, 1
    if dw:
        opts.depthMultiplier = 1
        b.op(s.BuiltinOperator.DEPTHWISE_CONV_2D, [x, wt, bt], [out], s.BuiltinOptions.DepthwiseConv2DOptions, opts)
    else:
        b.op(s.BuiltinOperator.CONV_2D, [x, wt, bt], [out], s.BuiltinOptions.Conv2DOptions, opts)


def _add(b: _Builder, i: int, x: int, out: int) -> None:
    s = b.s
    if b.int8:
        c = b.tensor(f"c{i}", [1], np.array([1 if i % 2 else -1], np.int8))
    else:
        c = b.tensor(f"c{i}", [1], np.array([0.001 * (i % 7 - 3)], np.float32))
    b.op(s.BuiltinOperator.ADD, [x, c], [out], s.BuiltinOptions.AddOptions, s.AddOptionsT())

"""The TFLite half of the analyzer (see analyze.py for the counting rule): one row per op."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..errors import ModelFileError
from .kinds import DENSE, DEPTHWISE, OTHER, POINTWISE, STANDARD, conv_kind, row as _row

_TFL_LAYERS = {"CONV_2D", "DEPTHWISE_CONV_2D", "CONV_3D", "TRANSPOSE_CONV", "FULLY_CONNECTED", "BATCH_MATMUL"}
_TFL_PARAM_OPS = {"ADD", "SUB", "MUL", "DIV", "PRELU", "EMBEDDING_LOOKUP"}


def interpreter(path: Path) -> Any:
    """A LiteRT interpreter of the file without delegates (ops listed as the model has them)."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
        kwargs = {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter  # type: ignore[no-redef]
            kwargs = {}
        except ImportError:
            raise ModelFileError(f"{path}: reading .tflite files needs LiteRT: pip install ai-edge-litert") from None
    try:
        return Interpreter(model_path=str(path), **kwargs)
    except Exception as exc:  # noqa: BLE001 - whatever LiteRT raises on a cut or foreign file
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelFileError(f"{path}: not a readable TFLite model ({why}); "
                             f"the file is truncated or not TFLite: re-export or re-download it") from None


def _resize(interp: Any, path: Path, input_shapes: dict[str, list[int]] | None) -> None:
    """Size dynamic inputs (shape signature -1) as given, so every op's tensors get their real shapes."""
    if not input_shapes:
        return
    for d in interp.get_input_details():
        if d["name"] in input_shapes:
            try:
                interp.resize_tensor_input(d["index"], [int(v) for v in input_shapes[d["name"]]], strict=True)
            except (ValueError, RuntimeError) as exc:
                raise ModelFileError(f"{path}: input {d['name']!r} cannot take the shape "
                                     f"{list(input_shapes[d['name']])} ({str(exc).splitlines()[0]}); "
                                     f"give its fixed sizes as they are") from None
    interp.allocate_tensors()


class _TfliteGraph:
    """The interpreter's tensors and ops, with constants followed through DEQUANTIZE (fp16 models);
    each constant's elements count once."""

    def __init__(self, interp: Any, ops: list[dict[str, Any]]):
        self.tensors = {t["index"]: t for t in interp.get_tensor_details()}
        self.produced = {int(o): op for op in ops for o in op["outputs"]}
        self.graph_inputs = {d["index"] for d in interp.get_input_details()}
        self.counted: set[int] = set()

    def const(self, idx: int) -> int | None:
        """The constant tensor behind idx (through DEQUANTIZE, as in fp16 models)."""
        for _ in range(4):
            if idx < 0 or idx in self.graph_inputs:
                return None
            op = self.produced.get(idx)
            if op is None:
                return idx
            if op["op_name"] != "DEQUANTIZE":
                return None
            idx = int(op["inputs"][0])
        return None

    def params(self, idx: int) -> int:
        src = self.const(idx)
        if src is None or src in self.counted:
            return 0
        self.counted.add(src)
        return int(math.prod(int(d) for d in self.tensors[src]["shape"]))

    def shape(self, idx: int) -> list[int]:
        return [int(d) for d in self.tensors[idx]["shape"]]


def _layer_row(g: _TfliteGraph, op: dict[str, Any], name: str) -> dict[str, Any]:
    """A convolution or dense op: MACs by its weight layout, params = weights + one bias per output."""
    name_op = op["op_name"]
    ins = [int(i) for i in op["inputs"]]
    out = g.shape(int(op["outputs"][0])) if len(op["outputs"]) else []
    w = g.shape(ins[1])
    p = g.params(ins[1])
    if p:  # a learned layer: weights + one bias per output channel, stored or not
        p += w[0] if name_op in ("CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED") else w[-1]
    for i in ins[3:] if name_op == "TRANSPOSE_CONV" else ins[2:]:
        if i >= 0:
            g.params(i)  # the stored bias is inside that count
    if name_op == "CONV_2D":  # weights [out, kh, kw, in/groups]
        in_ch = g.shape(ins[0])[-1]
        kind = conv_kind(in_ch // w[3], w[3], in_ch, w[1:3])
        macs = math.prod(out) * w[1] * w[2] * w[3]
    elif name_op == "DEPTHWISE_CONV_2D":  # weights [1, kh, kw, out]
        kind, macs = DEPTHWISE, math.prod(out) * w[1] * w[2]
    elif name_op == "CONV_3D":  # weights [kd, kh, kw, in, out]
        kind = POINTWISE if w[:3] == [1, 1, 1] else STANDARD
        macs = math.prod(out) * w[0] * w[1] * w[2] * w[3]
    elif name_op == "TRANSPOSE_CONV":  # inputs: output_shape, weights [out, kh, kw, in], data
        kind = POINTWISE if w[1:3] == [1, 1] else STANDARD
        macs = math.prod(g.shape(ins[2])) * w[0] * w[1] * w[2]
    elif name_op == "FULLY_CONNECTED":  # weights [out, in]
        kind, macs = DENSE, math.prod(out) * w[-1]
    else:  # BATCH_MATMUL
        kind, macs = DENSE, math.prod(out) * g.shape(ins[0])[-1]
    return _row(name, name_op, kind, macs, p, out_channels=out[-1] if out else None)


def _op_row(g: _TfliteGraph, op: dict[str, Any], name: str) -> dict[str, Any]:
    name_op = op["op_name"]
    if name_op in _TFL_LAYERS:
        return _layer_row(g, op, name)
    if name_op in _TFL_PARAM_OPS:
        ins = [int(i) for i in op["inputs"]]
        learned = sum(g.params(i) for i in ins if i >= 0 and g.const(i) is not None
                      and math.prod(g.shape(g.const(i))) > 1)
        return _row(name, name_op, OTHER, 0, learned)
    return _row(name, name_op, OTHER, 0, 0)


def tflite_nodes(path: Path, input_shapes: dict[str, list[int]] | None = None
                 ) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per op of the .tflite at `path` (see analyze.analyze), and the warnings."""
    interp = interpreter(path)
    _resize(interp, path, input_shapes)
    try:
        ops = interp._get_ops_details()
    except Exception as exc:  # noqa: BLE001 - a private API: any failure means "cannot list"
        raise ModelFileError(f"{path}: this LiteRT cannot list the model's ops ({exc}); "
                             f"analyze the .onnx export instead") from None
    g = _TfliteGraph(interp, ops)
    rows, warnings = [], []
    for op in ops:
        outs = [int(o) for o in op["outputs"]]
        name = g.tensors[outs[0]]["name"] if outs else f"{op['op_name']}_{op['index']}"
        try:
            r = _op_row(g, op, name)
            r["inputs"] = [g.tensors[int(i)]["name"] for i in op["inputs"] if int(i) >= 0]
            r["outputs"] = [g.tensors[o]["name"] for o in outs]
            rows.append(r)
        except (IndexError, KeyError, ValueError, ZeroDivisionError) as exc:
            warnings.append(f"op {name!r} ({op['op_name']}): not counted ({type(exc).__name__}: {exc})")
            rows.append(_row(name, op["op_name"], OTHER, 0, 0))
    from ..roofline.bytes import tflite_fill

    tflite_fill(rows, ops, g)
    return rows, warnings

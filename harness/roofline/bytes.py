"""Bytes per layer: what each node of a graph reads and writes, by the dtype the runtime moves.

A row (harness/zoo/analyze.py) gains `in_bytes` (activation inputs), `out_bytes` (outputs),
`weight_bytes` (constant inputs: weights and biases) and `act_dtype`. In a QDQ ONNX model the
runtime fuses QuantizeLinear/DequantizeLinear into the layer, so a tensor that comes out of a
DequantizeLinear, or goes only into a QuantizeLinear, counts at its quantized size (int8 = 1 byte),
and a weight at the dtype it is stored in. In a .tflite model each op's tensors count as typed.
Arithmetic intensity = MACs per byte moved (in + out + weights).
"""

from __future__ import annotations

import math
from typing import Any

# ONNX TensorProto element type -> bytes per element
ONNX_ITEMSIZE = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2}
ONNX_DTYPE_NAME = {1: "float32", 2: "uint8", 3: "int8", 6: "int32", 7: "int64", 10: "float16", 16: "bfloat16"}


def intensity(macs: float, nbytes: float) -> float | None:
    """Multiply-adds per byte moved; None when nothing is moved."""
    return macs / nbytes if nbytes else None


def row_bytes(row: dict[str, Any]) -> int:
    """All bytes one node moves: activations in and out, and its weights."""
    return int(row.get("in_bytes") or 0) + int(row.get("out_bytes") or 0) + int(row.get("weight_bytes") or 0)


# ops a runtime fuses into the layer before or after them (or folds away): no time of their own
FUSED_ONNX = {"Relu", "Clip", "LeakyRelu", "QuantizeLinear", "DequantizeLinear", "Identity", "Constant",
              "BatchNormalization"}


def executed(row: dict[str, Any], fmt: str = "onnx") -> bool:
    """Whether the runtime runs this node as an op of its own at each inference: not one folded into a
    layer, not an activation or QDQ node ONNX Runtime fuses, not one that reads only constants."""
    if row.get("folded_into") or (fmt == "onnx" and row["op_type"] in FUSED_ONNX):
        return False
    return bool(row.get("in_bytes")) or bool(row["macs"])


def _elems(shape: list[int | None] | None) -> int | None:
    if shape is None or any(d is None or d < 0 for d in shape):
        return None
    return int(math.prod(shape))  # a scalar (shape []) is one element


def onnx_fill(rows: list[dict[str, Any]], nodes: list[Any], g: Any, dtypes: dict[str, int]) -> None:
    """Add the byte columns to the ONNX rows (rows[i] describes nodes[i]); `g` is the analyzer's graph
    (producer, consumers, source, shape), `dtypes` tensor name -> ONNX element type."""

    def act_type(name: str, is_output: bool) -> int:
        prod = g.producer.get(name)
        if prod is not None and prod.op_type == "DequantizeLinear" and prod.input:
            return dtypes.get(prod.input[0], 1)
        cons = g.consumers.get(name, [])
        if is_output and cons and all(c.op_type == "QuantizeLinear" for c in cons):
            return dtypes.get(cons[0].output[0], 1)
        return dtypes.get(name, 1)

    def nbytes(name: str, etype: int) -> int:
        n = _elems(g.shape(name))
        return (n or 0) * ONNX_ITEMSIZE.get(etype, 4)

    for r, node in zip(rows, nodes):
        ins = [i for i in node.input if i]
        weights = [i for i in ins if g.source(i) is not None]
        acts = [i for i in ins if g.source(i) is None]
        r["weight_bytes"] = sum(nbytes(g.source(w), dtypes.get(g.source(w), 1)) for w in weights)
        r["in_bytes"] = sum(nbytes(a, act_type(a, False)) for a in acts)
        r["out_bytes"] = sum(nbytes(o, act_type(o, True)) for o in node.output if o)
        first = acts[0] if acts else (node.output[0] if node.output else "")
        r["act_dtype"] = ONNX_DTYPE_NAME.get(act_type(first, first not in node.input), "other") if first else None


def tflite_fill(rows: list[dict[str, Any]], ops: list[dict[str, Any]], g: Any) -> None:
    """Add the byte columns to the TFLite rows (rows[i] describes ops[i]); `g` is the analyzer's graph
    (tensors, const)."""

    def nbytes(idx: int) -> int:
        import numpy as np

        t = g.tensors[idx]
        return (_elems([int(d) for d in t["shape"]]) or 0) * np.dtype(t["dtype"]).itemsize

    for r, op in zip(rows, ops):
        ins = [int(i) for i in op["inputs"] if int(i) >= 0]
        weights = [i for i in ins if g.const(i) is not None]
        acts = [i for i in ins if g.const(i) is None]
        r["weight_bytes"] = sum(nbytes(i) for i in weights)
        r["in_bytes"] = sum(nbytes(i) for i in acts)
        r["out_bytes"] = sum(nbytes(int(o)) for o in op["outputs"])
        first = acts[0] if acts else (int(op["outputs"][0]) if len(op["outputs"]) else None)
        r["act_dtype"] = g.tensors[first]["dtype"].__name__ if first is not None else None


def kind_bytes(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per layer kind of an analyze() result: layers, MACs, bytes moved and MACs per byte (nodes folded
    into a layer and QDQ nodes the runtime fuses are left out: they move no bytes of their own)."""
    out: dict[str, dict[str, Any]] = {}
    for r in result["nodes"]:
        if not executed(r, result.get("format", "onnx")):
            continue
        k = out.setdefault(r["kind"], {"layers": 0, "macs": 0, "bytes": 0, "weight_bytes": 0})
        k["layers"] += 1
        k["macs"] += r["macs"]
        k["bytes"] += row_bytes(r)
        k["weight_bytes"] += int(r.get("weight_bytes") or 0)
    for k in out.values():
        k["intensity"] = intensity(k["macs"], k["bytes"])
    return out

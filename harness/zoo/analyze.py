"""Graph analyzer: multiply-adds and parameters per layer kind of any .onnx (and .tflite) model.
The one multiply-add counter of edgebench: `models inspect`, the zoo manifest and the report's
per-op breakdown and formula (harness/report/graph.py) all read its per-node rows.

Counting rule (the MobileNet paper's):
- One multiply-add counts once (MACs, not FLOPs). A convolution costs
  output elements x (input channels / groups) x kernel area; a dense layer (Gemm, MatMul,
  FULLY_CONNECTED) costs output elements x the reduced dimension.
- BatchNormalization is folded into the preceding convolution: it costs nothing, and its shift lives
  in the conv's bias. Bias adds, residual adds, activations, pooling, resize, softmax and the
  elementwise Mul of a squeeze-excitation block are not counted.
- Params are the elements of learned constant tensors, each counted once: the weights of
  convolutions and dense layers plus one bias per output channel (BN folding gives every conv a bias,
  so it counts whether or not the exporter stored an all-zero one), and constant vectors fed to
  Add/Sub/Mul/Div, PRelu, normalization layers and embedding Gathers. Quantization scales and zero
  points are not params, and an int8 weight counts the same as the fp32 weight it replaced (QDQ
  weights are followed through DequantizeLinear, transposed weights through Transpose). So every
  export of one model gives one count.
- Kinds: `depthwise conv` (groups = input channels, one input channel per group), `pointwise conv`
  (1x1 kernel), `standard conv` (any other convolution, grouped and dilated ones included), `dense`,
  `other` (every other node; its `layers` is the number of such nodes).
- A symbolic batch dimension is taken as 1 (and said so in `warnings`); other symbolic dimensions
  come from `input_shapes`, else the nodes they reach are not counted (and said so).

Needs only the `onnx` package (and ai_edge_litert or tflite_runtime for .tflite files): never
TensorFlow, so `edgebench models inspect` works without the export extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ModelFileError

from .kinds import LAYER_KINDS


def analyze(path: str | Path, input_shapes: dict[str, list[int]] | None = None) -> dict[str, Any]:
    """MACs and params of one model file.

    `input_shapes` (input name -> full shape) fixes symbolic dimensions of inputs before shapes are
    inferred (ONNX) or tensors allocated (TFLite).
    Returns {"path", "format", "kinds": {kind: {"layers", "macs", "params"}},
    "total": {"macs", "params"}, "nodes": [row, ...], "warnings": [...]}; a row is
    {"name", "op_type", "kind", "macs", "params", "folded_into", "inputs", "outputs", "kernel",
    "group", "in_channels", "out_channels", "out_hw", "in_bytes", "out_bytes", "weight_bytes",
    "act_dtype"} (the bytes as harness/roofline/bytes.py counts them). Node names are the graph's
    (ONNX) or the op's first output tensor (TFLite), the names runtime profilers report.
    """
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: no such model file")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        from .analyze_onnx import onnx_nodes

        nodes, warnings = onnx_nodes(path, input_shapes)
        fmt = "onnx"
    elif suffix == ".tflite":
        from .analyze_tflite import tflite_nodes

        nodes, warnings = tflite_nodes(path, input_shapes)
        fmt = "tflite"
    else:
        raise ModelFileError(f"{path}: not a model file the analyzer reads; give a .onnx or .tflite file")
    return _summarise(path, fmt, nodes, warnings)


def _summarise(path: Path, fmt: str, nodes: list[dict[str, Any]], warnings: list[str]) -> dict[str, Any]:
    kinds = {k: {"layers": 0, "macs": 0, "params": 0} for k in LAYER_KINDS}
    for node in nodes:
        k = kinds[node["kind"]]
        k["layers"] += 1
        k["macs"] += node["macs"]
        k["params"] += node["params"]
    total = {"macs": sum(k["macs"] for k in kinds.values()),
             "params": sum(k["params"] for k in kinds.values())}
    return {"path": str(path), "format": fmt, "kinds": kinds, "total": total, "nodes": nodes,
            "warnings": warnings}


# ------------------------------------------------------------------------------------------ model IO

def describe_io(path: str | Path, layout: str = "NHWC") -> dict[str, list[dict[str, Any]]]:
    """Inputs and outputs as the manifest lists them: name, shape, dtype, layout, scale, zero_point.

    Rank-4 tensors get `layout`, rank-2 "NC"; scale and zero_point are null for float tensors.
    """
    path = Path(path)

    def lay(shape: list[int]) -> str | None:
        return {4: layout, 2: "NC"}.get(len(shape))

    if path.suffix.lower() == ".onnx":
        import onnx

        from .analyze_onnx import load_onnx

        model = load_onnx(path)
        inits = {t.name for t in model.graph.initializer}

        def one(vi: Any) -> dict[str, Any]:
            t = vi.type.tensor_type
            shape = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
            dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name
            return {"name": vi.name, "shape": shape, "dtype": dtype, "layout": lay(shape),
                    "scale": None, "zero_point": None}

        return {"inputs": [one(v) for v in model.graph.input if v.name not in inits],
                "outputs": [one(v) for v in model.graph.output]}
    from .analyze_tflite import interpreter

    interp = interpreter(path)

    def tfl(d: dict[str, Any]) -> dict[str, Any]:
        shape = [int(s) for s in d["shape"]]
        scale, zp = d["quantization"]
        quantized = bool(scale)
        return {"name": d["name"], "shape": shape, "dtype": d["dtype"].__name__, "layout": lay(shape),
                "scale": float(scale) if quantized else None, "zero_point": int(zp) if quantized else None}

    return {"inputs": [tfl(d) for d in interp.get_input_details()],
            "outputs": [tfl(d) for d in interp.get_output_details()]}

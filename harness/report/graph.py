"""The layers of an ONNX graph, by kind, with their multiply-adds: what the per-op breakdown joins
ONNX Runtime's profile to, and where the formula 1/N + 1/Dk^2 gets N and Dk.

Counting rule (the same as `edgebench models inspect`): one multiply-add counts once; bias adds,
activations and BatchNorm (folded into the convolution at export) are not counted. Quantized graphs
(QDQ or QOperator) count like their float originals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("depthwise", "pointwise", "standard 3x3", "dense", "other")

CONV_OPS = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3, "FusedConv": 1, "NhwcFusedConv": 1}
DENSE_OPS = {"Gemm": 1, "MatMul": 1, "MatMulInteger": 1, "QLinearMatMul": 3, "QGemm": 3, "FusedMatMul": 1}
# ops between a MAC op and the tensor ORT names a fused node after (activation, BN, Q/DQ, bias add)
PASS_THROUGH = {"Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Elu",
                "BatchNormalization", "Add", "Mul", "QuantizeLinear", "DequantizeLinear", "Identity",
                "Cast", "PRelu"}


@dataclass(frozen=True)
class Layer:
    name: str
    op_type: str
    kind: str
    macs: int
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    kernel: tuple[int, int] | None = None
    group: int = 1
    in_channels: int | None = None
    out_channels: int | None = None
    out_hw: tuple[int, int] | None = None


@dataclass
class Graph:
    """Every node of a graph (in order), with tensor producers, for joining profile names."""

    path: Path
    layers: list[Layer]
    producer: dict[str, str] = field(default_factory=dict)   # tensor -> node name
    by_name: dict[str, Layer] = field(default_factory=dict)

    def macs_by_kind(self) -> dict[str, int]:
        out = {k: 0 for k in KINDS}
        for layer in self.layers:
            out[layer.kind] += layer.macs
        return out

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)


def _shape_of(vi: Any) -> list[int | None]:
    dims = vi.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else None for d in dims]


def conv_kind(kernel: tuple[int, int], group: int, cin: int | None, cout: int | None) -> str:
    if group > 1 and cin is not None and group == cin and cout is not None and cout % cin == 0:
        return "depthwise"
    if group == 1 and kernel == (1, 1):
        return "pointwise"
    if group == 1 and kernel == (3, 3):
        return "standard 3x3"
    return "other"


def load_graph(path: Path | str) -> Graph:
    """Parse an ONNX file (no weights copied) and classify each node."""
    import onnx
    from onnx import numpy_helper

    path = Path(path)
    model = onnx.load(str(path), load_external_data=False)
    try:
        model = onnx.shape_inference.infer_shapes(model)
    except Exception:  # shapes are a nicety: a graph shape inference cannot type still gets kinds
        pass
    g = model.graph
    inits = {i.name: list(i.dims) for i in g.initializer}
    consts: dict[str, list[int]] = {}
    for n in g.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    consts[n.output[0]] = list(numpy_helper.to_array(a.t).shape)
    shapes: dict[str, list[int | None]] = {}
    for vi in list(g.value_info) + list(g.input) + list(g.output):
        shapes[vi.name] = _shape_of(vi)
    producer_node = {out: n for n in g.node for out in n.output}

    def weight_shape(tensor: str, depth: int = 0) -> list[int] | None:
        if tensor in inits:
            return inits[tensor]
        if tensor in consts:
            return consts[tensor]
        if tensor in shapes and all(d is not None for d in shapes[tensor]):
            return shapes[tensor]  # type: ignore[return-value]
        n = producer_node.get(tensor)
        if n is not None and depth < 4 and n.op_type in ("DequantizeLinear", "Identity", "Cast"):
            return weight_shape(n.input[0], depth + 1)
        return None

    layers: list[Layer] = []
    producer: dict[str, str] = {}
    for i, n in enumerate(g.node):
        name = n.name or f"{n.op_type}_{i}"
        for out in n.output:
            producer[out] = name
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        layer = Layer(name, n.op_type, "other", 0, tuple(n.input), tuple(n.output))
        if n.op_type in CONV_OPS:
            w = weight_shape(n.input[CONV_OPS[n.op_type]]) if len(n.input) > CONV_OPS[n.op_type] else None
            out = shapes.get(n.output[0])
            if w is not None and len(w) == 4:
                group = int(attrs.get("group", 1))
                cout, cin_per_group, kh, kw = (int(d) for d in w)
                cin = cin_per_group * group
                macs = 0
                hw = None
                if out and len(out) == 4 and all(d is not None for d in out):
                    hw = (int(out[2]), int(out[3]))
                    macs = int(out[0]) * cout * hw[0] * hw[1] * cin_per_group * kh * kw
                layer = Layer(name, n.op_type, conv_kind((kh, kw), group, cin, cout), macs, tuple(n.input),
                              tuple(n.output), (kh, kw), group, cin, cout, hw)
        elif n.op_type in DENSE_OPS:
            w = weight_shape(n.input[DENSE_OPS[n.op_type]]) if len(n.input) > DENSE_OPS[n.op_type] else None
            a = shapes.get(n.input[0])
            if w is not None and len(w) == 2:
                k, m = (int(d) for d in w)
                if attrs.get("transB"):
                    k, m = m, k
                rows = 1
                if a and all(d is not None for d in a[:-1]):
                    for d in a[:-1]:
                        rows *= int(d)
                layer = Layer(name, n.op_type, "dense", rows * k * m, tuple(n.input), tuple(n.output),
                              None, 1, k, m, None)
        layers.append(layer)
    return Graph(path, layers, producer, {layer.name: layer for layer in layers})


def separable_blocks(graph: Graph) -> list[tuple[Layer, Layer]]:
    """(depthwise, pointwise) pairs: each depthwise conv and the pointwise conv that consumes it."""
    consumers: dict[str, list[Layer]] = {}
    for layer in graph.layers:
        for t in layer.inputs:
            consumers.setdefault(t, []).append(layer)
    pairs = []
    for dw in (layer for layer in graph.layers if layer.kind == "depthwise"):
        frontier, seen = list(dw.outputs), set()
        found = None
        for _ in range(8):  # walk through activations / Q-DQ to the next MAC layer
            nxt = []
            for t in frontier:
                for c in consumers.get(t, []):
                    if c.name in seen:
                        continue
                    seen.add(c.name)
                    if c.kind == "pointwise":
                        found = c
                    elif c.op_type in PASS_THROUGH:
                        nxt.extend(c.outputs)
            if found or not nxt:
                break
            frontier = nxt
        if found is not None:
            pairs.append((dw, found))
    return pairs


def formula_from_graph(graph: Graph) -> dict[str, Any] | None:
    """The paper's cost ratio 1/N + 1/Dk^2, weighted by each block's standard-conv MACs.

    For a block with M input channels, N pointwise outputs, a Dk x Dk depthwise kernel and an output
    of H x W: separable = H W M Dk^2 + H W M N, standard = H W M N Dk^2. The weighted mean over blocks
    is sum(separable) / sum(standard), the MAC ratio the blocks alone would give.
    """
    blocks = separable_blocks(graph)
    if not blocks:
        return None
    sep = std = 0
    for dw, pw in blocks:
        if not dw.macs or not pw.macs or pw.out_channels is None:
            return None
        sep += dw.macs + pw.macs
        std += dw.macs * pw.out_channels  # H W M Dk^2 * N
    ns = [pw.out_channels for _, pw in blocks]
    dks = sorted({dw.kernel[0] for dw, _ in blocks if dw.kernel})
    return {"formula_ratio": sep / std, "blocks": len(blocks), "n_min": min(ns), "n_max": max(ns),
            "dk": dks[0] if len(dks) == 1 else None, "source": "graph"}


def formula_from_config(config: dict[str, Any]) -> dict[str, Any] | None:
    """The same weighted 1/N + 1/Dk^2 from a zoo family's layer plan (stem, blocks, width, resolution)."""
    try:
        width = float(config["width"])
        res = int(config["resolution"])
        stem_filters, stem_stride = config["stem"]
        blocks = config["blocks"]
    except (KeyError, TypeError, ValueError):
        return None

    def filters(n: int) -> int:
        return max(1, int(n * width))

    hw = -(-res // int(stem_stride))
    cin = filters(int(stem_filters))
    dk = 3
    sep = std = 0
    ns = []
    for f, stride in blocks:
        hw = -(-hw // int(stride))
        n = filters(int(f))
        sep += hw * hw * cin * dk * dk + hw * hw * cin * n
        std += hw * hw * cin * n * dk * dk
        ns.append(n)
        cin = n
    return {"formula_ratio": sep / std, "blocks": len(ns), "n_min": min(ns), "n_max": max(ns), "dk": dk,
            "source": "family config"}

"""The layers of an ONNX graph, by kind, with their multiply-adds: what the per-op breakdown joins
ONNX Runtime's profile to, and where the formula 1/N + 1/Dk^2 gets N and Dk.

The layers are the analyzer's per-node rows (harness/zoo/analyze.py, the one multiply-add counter,
with its counting rule and layer-kind names); this module only gives them the shape the report
walks: producers of tensors, layers by name, separable blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..zoo.analyze import analyze
from ..zoo.kinds import DEPTHWISE, LAYER_KINDS, POINTWISE

__all__ = ["PASS_THROUGH", "Graph", "Layer", "load_graph", "separable_blocks", "formula_from_graph",
           "formula_from_config"]

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
    kernel: tuple[int, ...] | None = None
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
        out = {k: 0 for k in LAYER_KINDS}
        for layer in self.layers:
            out[layer.kind] += layer.macs
        return out

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)


def _layer(r: dict[str, Any]) -> Layer:
    return Layer(r["name"], r["op_type"], r["kind"], int(r["macs"]), tuple(r["inputs"]), tuple(r["outputs"]),
                 tuple(r["kernel"]) if r["kernel"] else None, int(r["group"] or 1), r["in_channels"],
                 r["out_channels"], tuple(r["out_hw"]) if r["out_hw"] else None)


def load_graph(path: Path | str, input_shapes: dict[str, list[int]] | None = None) -> Graph:
    """The analyzer's rows of an ONNX file as layers, in graph order (`input_shapes` as in analyze)."""
    path = Path(path)
    layers = [_layer(r) for r in analyze(path, input_shapes)["nodes"]]
    producer = {out: layer.name for layer in layers for out in layer.outputs}
    return Graph(path, layers, producer, {layer.name: layer for layer in layers})


def separable_blocks(graph: Graph) -> list[tuple[Layer, Layer]]:
    """(depthwise, pointwise) pairs: each depthwise conv and the pointwise conv that consumes it."""
    consumers: dict[str, list[Layer]] = {}
    for layer in graph.layers:
        for t in layer.inputs:
            consumers.setdefault(t, []).append(layer)
    pairs = []
    for dw in (layer for layer in graph.layers if layer.kind == DEPTHWISE):
        frontier, seen = list(dw.outputs), set()
        found = None
        for _ in range(8):  # walk through activations / Q-DQ to the next MAC layer
            nxt = []
            for t in frontier:
                for c in consumers.get(t, []):
                    if c.name in seen:
                        continue
                    seen.add(c.name)
                    if c.kind == POINTWISE:
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

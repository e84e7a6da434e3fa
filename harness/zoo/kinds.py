"""The vocabulary of the multiply-add counter (harness/zoo/analyze.py): the layer kinds, how a
convolution's kind is decided, and the shape of one per-node row. The ONNX and TFLite readers build
rows with these, so the three modules agree without importing each other in a loop."""

from __future__ import annotations

from typing import Any

LAYER_KINDS = ("standard conv", "depthwise conv", "pointwise conv", "dense", "other")
# the names of the kinds, for code that asks about one of them
STANDARD, DEPTHWISE, POINTWISE, DENSE, OTHER = LAYER_KINDS

def row(name: str, op_type: str, kind: str, macs: int, params: int, folded_into: str | None = None,
        **shape: Any) -> dict[str, Any]:
    """One node: `folded_into` names the conv/dense layer an exporter's leftover BN/affine op folds
    into; `shape` carries inputs/outputs (tensor names), kernel, group, in/out channels, out_hw."""
    base = {"inputs": [], "outputs": [], "kernel": None, "group": 1, "in_channels": None,
            "out_channels": None, "out_hw": None}
    return {"name": name, "op_type": op_type, "kind": kind, "macs": int(macs), "params": int(params),
            "folded_into": folded_into, **base, **shape}


def conv_kind(groups: int, in_per_group: int, in_channels: int | None, kernel: list[int]) -> str:
    """The kind of a convolution from its groups and kernel (see the module docstring)."""
    if groups > 1 and in_per_group == 1 and (in_channels is None or groups == in_channels):
        return DEPTHWISE
    if kernel and all(k == 1 for k in kernel):
        return POINTWISE
    return STANDARD


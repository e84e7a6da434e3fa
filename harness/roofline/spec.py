"""What each ceiling model is (see ceilings.py): its kind and size, and the ops, multiply-adds and
bytes one inference of it does. The model writers (ceilings_onnx.py, ceilings_tflite.py) and the
prediction read it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

FAMILY = "ceilings"
COMPUTE_CH = 256
PEROP_ELEMS = 8
# the convolution ceilings: kind -> (H = W, kernel, depthwise, chain length); size = channels
# (each inference well under 1 ms, so that a busy machine rarely preempts one in the middle)
CONVS = {"compute": (14, 1, False, 4), "depthwise": (28, 3, True, 16), "standard": (14, 3, False, 2)}
# the layer kinds (harness/zoo/kinds.py) whose compute roof each convolution ceiling measures
ROOF_OF_KIND = {"depthwise conv": "depthwise", "standard conv": "standard"}
# (kind, size): size is channels (convolutions), bytes one op moves (bandwidth) or chain length (perop)
CEILINGS = (("compute", COMPUTE_CH), ("depthwise", 128), ("standard", 128), ("bandwidth", 64 << 10),
            ("bandwidth", 1 << 20), ("bandwidth", 16 << 20), ("perop", 32), ("perop", 256))
ITEMSIZE = {"fp32": 4, "int8": 1}
SCALE = 0.05  # int8 scale of every activation (zero point 0)


@dataclass(frozen=True)
class CeilingSpec:
    """One ceiling model: what it does per inference (ops, MACs, bytes moved by its ops)."""

    kind: str
    size: int
    precision: str

    @property
    def name(self) -> str:
        return f"ceiling-{self.kind}-{self.size}"

    @property
    def conv(self) -> tuple[int, int, bool, int] | None:
        """(H = W, kernel, depthwise, ops) of a convolution ceiling; None for the others."""
        return CONVS.get(self.kind)

    @property
    def ops(self) -> int:
        if self.conv:
            return self.conv[3]
        if self.kind == "perop":
            return self.size
        return max(4, min(128, (32 << 20) // self.size))

    @property
    def shape_nhwc(self) -> list[int]:
        if self.conv:
            return [1, self.conv[0], self.conv[0], self.size]
        return [1, self.elems]

    @property
    def elems(self) -> int:
        """Elements of the tensor each op reads (and writes)."""
        if self.conv:
            return self.conv[0] * self.conv[0] * self.size
        if self.kind == "perop":
            return PEROP_ELEMS
        return self.size // (2 * ITEMSIZE[self.precision])

    @property
    def weight_elems(self) -> int:
        if not self.conv:
            return 0
        _, k, dw, _ = self.conv
        return self.size * k * k * (1 if dw else self.size)

    @property
    def macs(self) -> int:
        return self.ops * self.elems * (self.weight_elems // self.size) if self.conv else 0

    @property
    def total_ops(self) -> int:
        """The chain, and for int8 the quantize at the input and the dequantize at the output."""
        return self.ops + (2 if self.precision == "int8" else 0)

    @property
    def bytes(self) -> int:
        """Bytes the ops move per inference: activations in and out, and weights (int8: and the
        float input and output the boundary ops read and write)."""
        e = ITEMSIZE[self.precision]
        weights = self.weight_elems * e + (self.size * 4 if self.conv else 0)  # fp32 or int32 bias
        boundary = 2 * self.elems * (4 + 1) if self.precision == "int8" else 0
        return self.ops * (2 * self.elems * e + weights) + boundary

    def record(self) -> dict[str, Any]:
        """The record keys a ceiling job carries beside the ordinary ones."""
        return {"ceiling_kind": self.kind, "ceiling_size": self.size, "ceiling_ops": self.total_ops,
                "ceiling_macs": self.macs, "ceiling_bytes": self.bytes}


def spec_of(model: str, precision: str) -> CeilingSpec | None:
    """The spec behind a ceiling model's name ("ceiling-bandwidth-1048576"); None for other models."""
    parts = str(model).split("-")
    if len(parts) != 3 or parts[0] != "ceiling" or not parts[2].isdigit() or precision not in ITEMSIZE:
        return None
    return CeilingSpec(parts[1], int(parts[2]), precision)


def weights(spec: CeilingSpec) -> np.ndarray:
    """A convolution ceiling's kernel [out, kh, kw, in/groups], seeded; scaled so activations keep
    their size through the chain."""
    _, k, dw, _ = spec.conv or (0, 1, False, 0)
    fan_in = k * k * (1 if dw else spec.size)
    rng = np.random.default_rng(0)
    w = rng.standard_normal((spec.size, k, k, 1 if dw else spec.size)) / np.sqrt(fan_in)
    return w.astype(np.float32)

"""What each ceiling model is (see ceilings.py): its kind and size, and the ops, multiply-adds and
bytes one inference of it does. The model writers (ceilings_onnx.py, ceilings_tflite.py) and the
prediction read it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

FAMILY = "ceilings"
COMPUTE_HW, COMPUTE_CH, COMPUTE_OPS = 28, 256, 4
PEROP_ELEMS = 8
# (kind, size): size is channels (compute), bytes one op moves (bandwidth) or chain length (perop)
CEILINGS = (("compute", COMPUTE_CH), ("bandwidth", 64 << 10), ("bandwidth", 1 << 20),
            ("bandwidth", 16 << 20), ("perop", 32), ("perop", 256))
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
    def ops(self) -> int:
        if self.kind == "compute":
            return COMPUTE_OPS
        if self.kind == "perop":
            return self.size
        return max(4, min(128, (32 << 20) // self.size))

    @property
    def elems(self) -> int:
        """Elements of the tensor each op reads (and writes)."""
        if self.kind == "compute":
            return COMPUTE_HW * COMPUTE_HW * COMPUTE_CH
        if self.kind == "perop":
            return PEROP_ELEMS
        return self.size // (2 * ITEMSIZE[self.precision])

    @property
    def macs(self) -> int:
        return self.ops * self.elems * COMPUTE_CH if self.kind == "compute" else 0

    @property
    def total_ops(self) -> int:
        """The chain, and for int8 the quantize at the input and the dequantize at the output."""
        return self.ops + (2 if self.precision == "int8" else 0)

    @property
    def bytes(self) -> int:
        """Bytes the ops move per inference: activations in and out, and weights (int8: and the
        float input and output the boundary ops read and write)."""
        e = ITEMSIZE[self.precision]
        weights = COMPUTE_CH * COMPUTE_CH * e if self.kind == "compute" else 0
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


def weights() -> np.ndarray:
    """The compute ceiling's 1x1 kernel [out, in], seeded; scaled so activations keep their size."""
    rng = np.random.default_rng(0)
    return (rng.standard_normal((COMPUTE_CH, COMPUTE_CH)) / np.sqrt(COMPUTE_CH)).astype(np.float32)

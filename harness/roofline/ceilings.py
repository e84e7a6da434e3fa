"""Device ceilings: small generated models whose latency gives a device's peak multiply-add rate,
its memory bandwidth at a few working-set sizes, and its per-operator fixed cost, under the same
runtime, precision and threads as the models measured beside them.

  compute    a chain of 1x1 convolutions, 256 -> 256 channels on 14x14: the GEMM peak
  depthwise  a chain of 3x3 depthwise convolutions, 128 channels on 28x28: that kernel's rate
  standard   a chain of 3x3 convolutions, 128 -> 128 channels on 14x14: that kernel's rate
  bandwidth  a chain of elementwise Adds of a constant; `size` = bytes one op moves (in + out)
  perop      a chain of Adds on 8 elements; two lengths give the fixed cost per op (the slope)
             and the cost of one call (the intercept)

ONNX files are written with onnx.helper, .tflite files with LiteRT's own flatbuffer schema, so
neither needs TensorFlow. int8 ceilings take and give float tensors, as the zoo's int8 exports do: a
quantize at the input, a dequantize at the output, int8 in between (QDQ in ONNX, which ONNX Runtime
runs as QLinearConv / QLinearAdd). The files are generated into
<zoo>/ceilings/ on first use; a ceiling job is an ordinary perf job (family "ceilings").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..plan.configs import Config
from .spec import CEILINGS, FAMILY, ITEMSIZE, ROOF_OF_KIND, CeilingSpec, spec_of  # noqa: F401 - public names


@dataclass(frozen=True)
class CeilingConfig(Config):
    """A ceiling job's config: an ordinary one whose records also carry the ceiling's keys."""

    ceiling: CeilingSpec | None = field(default=None, compare=False, hash=False)

    def identity(self) -> dict[str, Any]:
        ident = super().identity()
        if self.ceiling is not None:
            ident.update(self.ceiling.record(), model_sha256=None)
        return ident


def ceiling_dir() -> Path:
    from ..paths import zoo_dir

    return zoo_dir() / FAMILY


def model_file(spec: CeilingSpec, fmt: str, folder: Path | None = None) -> Path:
    """The ceiling's model file, generated (deterministic: the same bytes every time) and written
    when missing or different, so a changed generator never leaves a stale file measured."""
    folder = Path(folder or ceiling_dir())
    ext = "onnx" if fmt == "onnx" else "tflite"
    path = folder / f"{spec.name}-{fmt}-{spec.precision}.{ext}"
    if fmt == "onnx":
        from .ceilings_onnx import onnx_bytes
        data = onnx_bytes(spec)
    else:
        from .ceilings_tflite import tflite_bytes
        data = tflite_bytes(spec)
    if not path.exists() or path.read_bytes() != data:
        from ..util import atomic_write_bytes

        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
    return path


def ceiling_configs(configs: list[Any], matrix: dict[str, Any]) -> list[Any]:
    """One config per ceiling for each (device, runtime, precision, threads, xnnpack) the matrix
    measures (fp32 and int8 only); ceiling models are generated on first use."""
    from ..manifest import FORMAT_OF_RUNTIME

    seen, out = set(), []
    for c in configs:
        key = (c.device, c.runtime, c.precision, c.threads, c.xnnpack)
        if key in seen or c.precision not in ITEMSIZE:
            continue
        seen.add(key)
        for kind, size in CEILINGS:
            spec = CeilingSpec(kind, size, c.precision)
            path = model_file(spec, FORMAT_OF_RUNTIME[c.runtime])
            out.append(CeilingConfig(c.device, spec.name, c.runtime, c.precision, c.threads, c.xnnpack,
                                     path, None, FAMILY, kind, {"macs": spec.macs, "params": None},
                                     ceiling=spec))
    return out


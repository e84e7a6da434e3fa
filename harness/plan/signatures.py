"""Input signatures of model files, resolved before any job: every input's name, shape, dtype and
the range its generated data is drawn from. Never a silent guess: a symbolic batch dimension becomes
1 (and says so), any other symbolic dimension comes from the profile's `input_shapes` or the eval
data, else one ProfileError line says what to add to the profile.

Generated data (perf mode), per dtype, unless the profile's `input_ranges` (input name -> [low, high))
says otherwise: floats from a standard normal; int8 and uint8 over their full range (quantized
inputs: the raw integers the model reads); int32 and int64 in [0, 100) (token ids, indices: below
any vocabulary); bool 0 or 1.

Host side: reads .onnx with the onnx package and .tflite with LiteRT (imported when needed).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ModelFileError, ProfileError

DTYPES = ("float32", "float16", "int8", "uint8", "int32", "int64", "bool")
FLOAT_DTYPES = ("float32", "float16")
DEFAULT_RANGES: dict[str, tuple[int, int]] = {"int8": (-128, 128), "uint8": (0, 256), "int32": (0, 100),
                                              "int64": (0, 100), "bool": (0, 2)}
_QUANTIZED_ONNX_OPS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "QGemm",
                       "ConvInteger", "MatMulInteger", "DynamicQuantizeLinear", "QLinearAdd"}


@dataclass(frozen=True)
class InputSpec:
    """One model input as the file declares it: fixed dims are ints, symbolic ones their name (str)
    or None when unnamed; scale/zero_point only for quantized TFLite inputs."""

    name: str
    dims: tuple[int | str | None, ...]
    dtype: str
    scale: float | None = None
    zero_point: int | None = None


@dataclass(frozen=True)
class ResolvedInput:
    """One input with every dimension decided, and how each symbolic one was decided (`notes`)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    low: int | None = None     # generated data range [low, high); None for floats
    high: int | None = None
    scale: float | None = None
    zero_point: int | None = None
    notes: tuple[str, ...] = field(default=())

    def job_entry(self) -> dict[str, Any]:
        """What the runner's job dict carries in its `inputs` list."""
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "low": self.low,
                "high": self.high}


def read_signature(model_path: str | Path) -> list[InputSpec]:
    """Every input of a .onnx or .tflite file, in the model's order."""
    path = Path(model_path)
    if not path.exists():
        raise ModelFileError(f"{path}: no such model file")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return _onnx_signature(path)
    if suffix == ".tflite":
        return _tflite_signature(path)
    raise ModelFileError(f"{path}: not a model file edgebench reads; give a .onnx or .tflite file")


def _onnx_signature(path: Path) -> list[InputSpec]:
    import onnx

    from ..zoo.analyze_onnx import load_onnx

    model = load_onnx(path)
    inits = {t.name for t in model.graph.initializer}
    specs = []
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        t = vi.type.tensor_type
        dims: list[int | str | None] = []
        for d in t.shape.dim:
            dims.append(int(d.dim_value) if d.HasField("dim_value") else (d.dim_param or None))
        dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name
        specs.append(InputSpec(vi.name, tuple(dims), dtype))
    return specs


def _tflite_signature(path: Path) -> list[InputSpec]:
    from ..zoo.analyze_tflite import interpreter

    interp = interpreter(path)
    specs = []
    for d in interp.get_input_details():
        sig = d.get("shape_signature")
        if sig is None or len(sig) != len(d["shape"]):
            sig = d["shape"]
        dims = tuple(int(v) if int(v) > 0 else None for v in sig)
        scale, zp = d["quantization"]
        dtype = d["dtype"].__name__ if hasattr(d["dtype"], "__name__") else str(d["dtype"])
        dtype = "bool" if dtype == "bool_" else dtype
        specs.append(InputSpec(d["name"], dims, dtype, float(scale) if scale else None,
                               int(zp) if scale else None))
    return specs


def eval_shapes_of(eval_path: str | Path, specs: list[InputSpec]) -> dict[str, list[int]]:
    """Per input, the shape of its array in an eval .npz (first dimension: the samples). Today's
    single-input layout (`x`, `y`) maps `x` to the model's only input."""
    import numpy as np

    with np.load(eval_path) as data:
        files = set(data.files)
        out = {s.name: list(data[s.name].shape) for s in specs if s.name in files}
        if not out and len(specs) == 1 and "x" in files:
            out[specs[0].name] = list(data["x"].shape)
    return out


def check_eval(model_path: str | Path, resolved: list[ResolvedInput], eval_path: str | Path,
               needs_labels: bool = True) -> None:
    """Refuse, before any job, eval data the runner could not feed: a missing input array (or labels
    `y`), sample dimensions that differ from the resolved shape, float data for an integer ONNX input,
    or arrays with different sample counts. One ProfileError line naming the file and the input."""
    import numpy as np

    eval_path = Path(eval_path)
    if not eval_path.exists():
        raise ProfileError(f"{eval_path}: eval data for {model_path} does not exist; fix the path in the profile")
    with np.load(eval_path) as data:
        files = sorted(data.files)
        named = all(r.name in files for r in resolved)
        legacy = not named and len(resolved) == 1 and "x" in files
        if not named and not legacy:
            missing = [r.name for r in resolved if r.name not in files]
            raise ProfileError(f"{eval_path}: no array for input(s) {', '.join(map(repr, missing))} of {model_path} "
                               f"(keys: {files}); save one array per input name (samples first) plus labels 'y'")
        if needs_labels and "y" not in files:
            raise ProfileError(f"{eval_path}: no labels 'y' (keys: {files}); accuracy needs them")
        counts = set()
        for r in resolved:
            arr = data["x" if legacy else r.name]
            counts.add(arr.shape[0] if arr.ndim else 0)
            if tuple(arr.shape[1:]) != tuple(r.shape[1:]):
                raise ProfileError(f"{eval_path}: samples of input {r.name!r} are {list(arr.shape[1:])}, "
                                   f"{model_path} takes {list(r.shape[1:])} (after the batch): the model disagrees "
                                   f"with the eval data; use eval data made for this model or set its input_shapes "
                                   f"to match")
            if (Path(model_path).suffix.lower() == ".onnx" and arr.dtype.kind == "f"
                    and r.dtype not in FLOAT_DTYPES):
                raise ProfileError(f"{eval_path}: input {r.name!r} of {model_path} is {r.dtype}, the data is "
                                   f"{arr.dtype}; save it as {r.dtype}")
        if len(counts) > 1:
            raise ProfileError(f"{eval_path}: the input arrays hold different numbers of samples ({sorted(counts)}); "
                               f"give each input one row per sample")


def _toml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def _missing_dim(model_path: Path, spec: InputSpec, i: int, where: str) -> ProfileError:
    example = ", ".join("1" if j == 0 and not isinstance(d, int) else
                        (str(d) if isinstance(d, int) else (d or f"size{j}")) for j, d in enumerate(spec.dims))
    label = f"'{spec.dims[i]}'" if spec.dims[i] else "unnamed"
    return ProfileError(f"{model_path}: input {spec.name!r} has a symbolic dimension {i} ({label}) and no size "
                        f"for it; add input_shapes = {{ {_toml_key(spec.name)} = [{example}] }} to {where} "
                        f"(with the sizes to time), or eval data with that input")


def _given_shape(model_path: Path, spec: InputSpec, given: Any, where: str) -> list[int]:
    ok = isinstance(given, (list, tuple)) and all(isinstance(v, int) and v > 0 for v in given)
    if not ok or len(given) != len(spec.dims):
        raise ProfileError(f"{model_path}: input_shapes for input {spec.name!r} in {where} is {given!r}; give "
                           f"{len(spec.dims)} positive sizes, one per dimension of {list(spec.dims)}")
    for i, (d, v) in enumerate(zip(spec.dims, given)):
        if isinstance(d, int) and d != v:
            raise ProfileError(f"{model_path}: input_shapes for input {spec.name!r} in {where} gives {v} for "
                               f"dimension {i}, which the model fixes at {d}: give {d}")
    return list(given)


def _range(model_path: Path, spec: InputSpec, ranges: dict[str, Any], where: str) -> tuple[int | None, int | None]:
    if spec.dtype not in DTYPES:
        raise ProfileError(f"{model_path}: input {spec.name!r} is {spec.dtype}, which edgebench cannot feed "
                           f"(it feeds {', '.join(DTYPES)}); export the model with one of those")
    given = ranges.get(spec.name)
    if given is None:
        return DEFAULT_RANGES.get(spec.dtype, (None, None))
    if spec.dtype in FLOAT_DTYPES:
        raise ProfileError(f"{model_path}: input_ranges in {where} names {spec.name!r}, a {spec.dtype} input; "
                           f"ranges apply to integer and bool inputs only: remove it")
    limit_lo, limit_hi = DEFAULT_RANGES[spec.dtype]
    bad = not (isinstance(given, (list, tuple)) and len(given) == 2 and all(isinstance(v, int) for v in given))
    if not bad:
        bad = given[0] >= given[1] or (spec.dtype in ("int8", "uint8", "bool")
                                       and not limit_lo <= given[0] < given[1] <= limit_hi)
    if bad:
        raise ProfileError(f"{model_path}: input_ranges for input {spec.name!r} in {where} is {given!r}; give "
                           f"[low, high) as two integers, low < high, within {spec.dtype}")
    return int(given[0]), int(given[1])


def resolve_inputs(model_path: str | Path, specs: list[InputSpec], input_shapes: dict[str, Any] | None,
                   eval_shapes: dict[str, list[int]] | None, *, input_ranges: dict[str, Any] | None = None,
                   where: str = "[matrix]") -> list[ResolvedInput]:
    """Every input with its shape decided: fixed dims kept; `input_shapes` (name -> full shape) first;
    then the eval data (`eval_shapes`: name -> its array's shape, samples first); a symbolic first
    dimension left -> 1; anything else -> one ProfileError line naming the file, input and dimension.
    `where` names the profile table the hint points to."""
    path = Path(model_path)
    shapes = input_shapes or {}
    evals = eval_shapes or {}
    ranges = input_ranges or {}
    names = {s.name for s in specs}
    for table, given in (("input_shapes", shapes), ("input_ranges", ranges)):
        unknown = sorted(set(given) - names)
        if unknown:
            raise ProfileError(f"{path}: {table} in {where} names {', '.join(map(repr, unknown))}, which the model "
                               f"has no input of; its inputs are {', '.join(map(repr, [s.name for s in specs]))}")
    out = []
    for spec in specs:
        low, high = _range(path, spec, ranges, where)
        notes: list[str] = []
        if spec.name in shapes:
            shape = _given_shape(path, spec, shapes[spec.name], where)
            notes += [f"dimension {i} ({d or 'unnamed'}) = {shape[i]} from input_shapes"
                      for i, d in enumerate(spec.dims) if not isinstance(d, int)]
        else:
            shape = []
            ev = evals.get(spec.name)
            for i, d in enumerate(spec.dims):
                if isinstance(d, int) and d > 0:
                    shape.append(d)
                elif i == 0:
                    shape.append(1)
                    notes.append(f"batch dimension ({d or 'unnamed'}) = 1")
                elif ev is not None and len(ev) == len(spec.dims) and int(ev[i]) > 0:
                    shape.append(int(ev[i]))
                    notes.append(f"dimension {i} ({d or 'unnamed'}) = {int(ev[i])} from the eval data")
                else:
                    raise _missing_dim(path, spec, i, where)
        out.append(ResolvedInput(spec.name, tuple(shape), spec.dtype, low, high, spec.scale, spec.zero_point,
                                 tuple(notes)))
    return out


def precision_of(model_path: str | Path) -> str:
    """"int8", "fp16" or "fp32", read from the graph: quantize/dequantize or integer-MAC nodes, or
    int8 weights -> int8; fp16 weights -> fp16; else fp32."""
    path = Path(model_path)
    if path.suffix.lower() == ".onnx":
        from ..zoo.analyze_onnx import load_onnx

        model = load_onnx(path)
        if any(n.op_type in _QUANTIZED_ONNX_OPS for n in model.graph.node):
            return "int8"
        types = {t.data_type for t in model.graph.initializer}
        if types & {2, 3}:  # uint8, int8
            return "int8"
        return "fp16" if 10 in types else "fp32"
    if path.suffix.lower() == ".tflite":
        from ..zoo.analyze_tflite import interpreter

        tensors = interpreter(path).get_tensor_details()
        names = {getattr(t["dtype"], "__name__", str(t["dtype"])) for t in tensors}
        if any(getattr(t["dtype"], "__name__", "") in ("int8", "uint8") and t["quantization"][0]
               for t in tensors):
            return "int8"
        return "fp16" if "float16" in names else "fp32"
    raise ModelFileError(f"{path}: not a model file edgebench reads; give a .onnx or .tflite file")

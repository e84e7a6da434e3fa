"""Runtime backends: ONNX Runtime and TFLite (LiteRT, else tflite_runtime, else tensorflow.lite).

Each backend loads one model, takes one array per input by name (`set_inputs`; float data for an
int8-quantized TFLite input is quantized here with the model's own scale), and exposes `invoke()`
for the timed loop and `outputs()` / `all_outputs()` to read. A symbolic dimension is never sized
here: the job's `inputs` (resolved on the host) or the eval data give every shape.
Imports of the runtimes happen here, on demand, so the runner imports only the runtime it was asked for.
"""

from __future__ import annotations

import functools
import importlib
import os
import tempfile
from typing import Any

import numpy as np

from .memory import aligned_copy, aligned_empty


class RunnerError(Exception):
    """A problem with the job (missing model, wrong input shape, runtime not installed)."""


def _quantize(x: np.ndarray, scale: float, zero_point: int, dtype: np.dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    q = np.round(x / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def _check_shape(name: str, want: tuple, got: tuple, model_path: str) -> None:
    want_fixed = tuple(d if isinstance(d, int) and d > 0 else None for d in want)
    if len(want_fixed) != len(got) or any(w is not None and w != g for w, g in zip(want_fixed, got)):
        raise RunnerError(
            f"{model_path}: input {name!r} expects shape {list(want)}, the data has {list(got)}; "
            f"use eval data made for this model"
        )


def _fixed_shape(model_path: str, name: str, dims: list) -> tuple[int, ...]:
    shape = []
    for i, d in enumerate(dims):
        if isinstance(d, (int, np.integer)) and d > 0:
            shape.append(int(d))
        elif i == 0:
            shape.append(1)  # the batch: one sample per call, as every job times
        else:
            raise RunnerError(f"{model_path}: input {name!r} has a symbolic dimension {i} ({d or 'unnamed'}) and "
                              f"the job gives no input shapes; give input_shapes for this model in the profile")
    return tuple(shape)


def _check_names(model_path: str, names: list[str], arrays: dict[str, Any]) -> None:
    missing = [n for n in names if n not in arrays]
    extra = [n for n in arrays if n not in names]
    if missing or extra:
        raise RunnerError(f"{model_path}: the model's inputs are {names}; the data "
                          f"{'lacks ' + str(missing) if missing else ''}{' and ' if missing and extra else ''}"
                          f"{'has unknown ' + str(extra) if extra else ''}: give one array per input name")


class OrtBackend:
    name = "onnxruntime"

    def __init__(self, model_path: str, threads: int, inter_op_threads: int = 1,
                 enable_profiling: bool = False, profile_dir: str | None = None) -> None:
        try:
            ort = importlib.import_module("onnxruntime")
        except ImportError as exc:
            raise RunnerError(f"onnxruntime is not installed on this device ({exc}); pip install onnxruntime") from exc
        self.ort = ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = int(inter_op_threads)
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        if enable_profiling:
            so.enable_profiling = True
            so.profile_file_prefix = os.path.join(profile_dir or tempfile.gettempdir(), "ort_profile")
        # Explicit provider: ORT also lists others (Azure) that must not take part.
        self.session = ort.InferenceSession(model_path, sess_options=so, providers=["CPUExecutionProvider"])
        self.inputs = self.session.get_inputs()
        self.model_path = model_path
        self.feed: dict[str, np.ndarray] = {}
        self._last: Any = None
        self._io: Any = None
        self._bound_outputs: list[np.ndarray] = []

    @property
    def impl(self) -> str:
        return "onnxruntime"

    @property
    def version(self) -> str:
        return self.ort.__version__

    def input_names(self) -> list[str]:
        return [i.name for i in self.inputs]

    def input_shape(self) -> tuple[int, ...]:
        """The single input's shape for generated data when the job lists no inputs: a symbolic
        batch dimension is 1; any other symbolic dimension is an error, never a guess."""
        return _fixed_shape(self.model_path, self.inputs[0].name, list(self.inputs[0].shape))

    def set_input(self, x: np.ndarray) -> None:
        self.set_inputs({self.inputs[0].name: x})

    def set_inputs(self, arrays: dict[str, np.ndarray]) -> None:
        """Bind one array per model input (by name), cast to the input's dtype."""
        _check_names(self.model_path, self.input_names(), arrays)
        feed = {}
        for inp in self.inputs:
            x = np.asarray(arrays[inp.name])
            _check_shape(inp.name, tuple(inp.shape), x.shape, self.model_path)
            dtype = self._NP_TYPES.get(inp.type)
            if dtype is None:
                raise RunnerError(f"{self.model_path}: input {inp.name!r} is {inp.type}, which the runner cannot "
                                  f"feed; export the model with float, int or bool inputs")
            if x.dtype.kind == "f" and np.dtype(dtype).kind != "f":
                # an integer input needs the model's own scale and zero point, which ONNX does not attach
                # to graph inputs; casting float data would be silently wrong
                raise RunnerError(f"{self.model_path}: input {inp.name!r} is {inp.type} and the data is "
                                  f"{x.dtype}; give integer data for it (one array per input name in the "
                                  f".npz), or export int8 models with float input and QDQ nodes")
            feed[inp.name] = aligned_copy(x, dtype)
        self.feed = feed
        self._last = None
        self._use_binding(self._bind())

    def _use_binding(self, io: Any) -> None:
        self._io = io
        if io is not None:
            # the timed call itself: a C-level partial, no Python frame of ours around ORT's
            self.invoke = functools.partial(self.session.run_with_iobinding, io)
        else:
            self.__dict__.pop("invoke", None)

    def bind_after_first(self) -> None:
        """After the first inference: bind outputs whose symbolic dimensions that run has sized, so
        the timed loop uses IOBinding too (the first inference itself stays the first)."""
        if self._io is None and self._last is not None:
            self._use_binding(self._bind())

    _NP_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(int8)": np.int8,
                 "tensor(uint8)": np.uint8, "tensor(int64)": np.int64, "tensor(int32)": np.int32,
                 "tensor(bool)": np.bool_, "tensor(double)": np.float64}

    def _bind(self) -> Any:
        """Bind the input and preallocated outputs once (IOBinding): each call then skips the
        per-call conversion of Python arguments and the allocation of outputs, about 5 us of binding
        overhead that would otherwise be timed. Outputs with symbolic dimensions take the shapes of the
        last session.run on these inputs (they cannot change while the inputs stay); before one, None."""
        outputs = self.session.get_outputs()
        shapes = [o.shape for o in outputs]
        if any(not all(isinstance(d, int) and d > 0 for d in s) for s in shapes):
            if self._last is None:
                return None
            shapes = [list(np.shape(r)) for r in self._last]
        if any(o.type not in self._NP_TYPES for o in outputs):
            return None
        io = self.session.io_binding()
        for name, arr in self.feed.items():
            io.bind_cpu_input(name, arr)
        self._bound_outputs = []
        for o, shape in zip(outputs, shapes):
            dtype = self._NP_TYPES[o.type]
            arr = aligned_empty(shape, dtype)
            io.bind_output(o.name, "cpu", 0, dtype, list(shape), arr.ctypes.data)
            self._bound_outputs.append(arr)
        return io

    def buffers(self) -> list[np.ndarray]:
        """The input and output buffers the timed call reads and writes (aligned, ours)."""
        return [*self.feed.values(), *self._bound_outputs]

    def invoke(self) -> None:
        """Used where IOBinding is not possible (dynamic output shapes); set_input otherwise replaces
        it with a partial of run_with_iobinding."""
        self._last = self.session.run(None, self.feed)

    def outputs(self) -> np.ndarray:
        """The first output of the last invoke() (the model is not run again)."""
        if self._io is not None:
            return self._bound_outputs[0].astype(np.float32)  # a copy: the buffer is reused
        if self._last is None:
            self.invoke()
        return np.asarray(self._last[0], dtype=np.float32)

    def all_outputs(self) -> list[np.ndarray]:
        """Every output of the last invoke(), as the model gives them."""
        if self._io is not None:
            return list(self._bound_outputs)
        if self._last is None:
            self.invoke()
        return [np.asarray(o) for o in self._last]

    def fed(self) -> dict[str, np.ndarray]:
        return dict(self.feed)

    def delegation(self) -> dict[str, Any]:
        return {"providers": list(self.session.get_providers())}

    def end_profiling(self) -> str:
        return self.session.end_profiling()


def load_tflite_interpreter_module() -> tuple[Any, str, str]:
    """The best available TFLite interpreter: (module with Interpreter, impl name, version)."""
    from importlib import metadata

    candidates = (
        ("ai_edge_litert.interpreter", "ai_edge_litert", "ai-edge-litert"),
        ("tflite_runtime.interpreter", "tflite_runtime", "tflite-runtime"),
        ("tensorflow.lite", "tensorflow.lite", "tensorflow"),
    )
    errors = []
    for module_name, impl, dist in candidates:
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # a broken install raises more than ImportError
            errors.append(f"{impl}: {exc}")
            continue
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = getattr(module, "__version__", "unknown")
        return module, impl, version
    raise RunnerError("no TFLite interpreter on this device (" + "; ".join(errors) +
                      "); pip install ai-edge-litert (or tflite-runtime)")


class TfliteBackend:
    name = "tflite"

    def __init__(self, model_path: str, threads: int, xnnpack: bool = True) -> None:
        module, self.impl, self.version = load_tflite_interpreter_module()
        kwargs: dict[str, Any] = {"model_path": model_path, "num_threads": int(threads)}
        resolver = getattr(module, "OpResolverType", None)
        if resolver is None and self.impl == "tensorflow.lite":
            resolver = getattr(getattr(module, "experimental", None), "OpResolverType", None)
        if resolver is not None:
            kwargs["experimental_op_resolver_type"] = (
                resolver.AUTO if xnnpack else resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        elif not xnnpack:
            raise RunnerError(f"{self.impl} {self.version} cannot turn XNNPACK off; use xnnpack = true")
        self.xnnpack = bool(xnnpack)
        self.model_path = model_path
        self.interp = module.Interpreter(**kwargs)
        self.interp.allocate_tensors()
        self._fed: dict[str, np.ndarray] = {}
        self.out_detail = self.interp.get_output_details()[0]
        self.invoke = self.interp.invoke  # the timed call itself, no Python frame of ours around it

    def input_names(self) -> list[str]:
        return [d["name"] for d in self.interp.get_input_details()]

    def input_shape(self) -> tuple[int, ...]:
        """The single input's shape for generated data when the job lists no inputs (see OrtBackend)."""
        d = self.interp.get_input_details()[0]
        sig = d.get("shape_signature")
        dims = [int(v) for v in (sig if sig is not None and len(sig) == len(d["shape"]) else d["shape"])]
        return _fixed_shape(self.model_path, d["name"], [v if v > 0 else None for v in dims])

    def _details(self) -> dict[str, dict[str, Any]]:
        """Input details by tensor name, and by signature input name for models with signatures."""
        by_name = {d["name"]: d for d in self.interp.get_input_details()}
        by_index = {d["index"]: d for d in by_name.values()}
        try:
            signatures = self.interp.get_signature_list()
        except Exception:  # older interpreters: tensor names only
            signatures = {}
        for key in signatures:
            for sig_name, d in self.interp.get_signature_runner(key).get_input_details().items():
                if d["index"] in by_index:
                    by_name.setdefault(sig_name, by_index[d["index"]])
        return by_name

    def set_input(self, x: np.ndarray) -> None:
        self.set_inputs({self.input_names()[0]: x})

    def set_inputs(self, arrays: dict[str, np.ndarray]) -> None:
        """Set one array per model input (by tensor or signature name). Inputs with dynamic
        dimensions are resized to the data first; float data for an int8/uint8 input is quantized with
        the input's own scale and zero point."""
        details = self._details()
        unknown = [n for n in arrays if n not in details]
        by_index = {details[n]["index"]: (n, np.asarray(a)) for n, a in arrays.items() if n in details}
        names = [d["name"] for d in self.interp.get_input_details()]
        if unknown or len(by_index) != len(names):
            _check_names(self.model_path, names, {details[n]["name"] if n in details else n: a
                                                  for n, a in arrays.items()})
        resized = False
        for d in self.interp.get_input_details():
            x = by_index[d["index"]][1]
            if tuple(int(v) for v in d["shape"]) != x.shape:
                sig = d.get("shape_signature")
                sig = sig if sig is not None and len(sig) == len(d["shape"]) else d["shape"]
                _check_shape(d["name"], tuple(int(v) for v in sig), x.shape, self.model_path)
                self.interp.resize_tensor_input(d["index"], list(x.shape), strict=True)
                resized = True
        if resized:
            self.interp.allocate_tensors()
        self._fed = {}
        for d in self.interp.get_input_details():
            name, x = by_index[d["index"]]
            _check_shape(d["name"], tuple(int(v) for v in d["shape"]), x.shape, self.model_path)
            dtype = d["dtype"]
            if np.issubdtype(dtype, np.integer) and x.dtype.kind == "f":
                scale, zero_point = d["quantization"]
                if not scale:
                    raise RunnerError(f"{self.model_path}: input {d['name']!r} is {np.dtype(dtype).name} without a "
                                      f"quantization scale and the data is {x.dtype}; give integer data for it")
                x = _quantize(x, scale, zero_point, dtype)
            else:
                x = x.astype(dtype, copy=False)
            x = np.ascontiguousarray(x)
            self.interp.set_tensor(d["index"], x)
            self._fed[name] = x
        self.out_detail = self.interp.get_output_details()[0]

    def fed(self) -> dict[str, np.ndarray]:
        return dict(self._fed)

    def bind_after_first(self) -> None:
        """Nothing to bind: the interpreter's tensors are its own."""

    def buffers(self) -> list[np.ndarray]:
        """None of ours: the interpreter owns its tensors (their placement is its own)."""
        return []

    def outputs(self) -> np.ndarray:
        d = self.out_detail
        y = self.interp.get_tensor(d["index"])
        if np.issubdtype(y.dtype, np.integer):
            scale, zero_point = d["quantization"]
            return (y.astype(np.float32) - zero_point) * scale
        return y.astype(np.float32)

    def all_outputs(self) -> list[np.ndarray]:
        return [self.interp.get_tensor(d["index"]) for d in self.interp.get_output_details()]

    def delegation(self) -> dict[str, Any]:
        """How many of the model's ops each delegate took over, and how many stay on CPU kernels.

        `_get_ops_details()` lists the model's ops plus one DELEGATE node per delegated subgraph; the
        ops a delegate replaced are those between its input and output tensors.
        """
        info: dict[str, Any] = {"xnnpack": self.xnnpack}
        get = getattr(self.interp, "_get_ops_details", None)
        if get is None:
            return info
        try:
            ops = get()
        except Exception:  # private API: best effort
            return info
        kernels = [op for op in ops if str(op.get("op_name", "")).upper() == "DELEGATE"]
        model_ops = [op for op in ops if str(op.get("op_name", "")).upper() != "DELEGATE"]
        producer = {int(t): op["index"] for op in model_ops for t in op.get("outputs", [])}
        by_index = {op["index"]: op for op in model_ops}
        delegated: set[int] = set()
        for kernel in kernels:
            boundary = {int(t) for t in kernel.get("inputs", [])}
            stack = [int(t) for t in kernel.get("outputs", [])]
            while stack:
                idx = producer.get(stack.pop())
                if idx is None or idx in delegated:
                    continue
                delegated.add(idx)
                stack.extend(int(t) for t in by_index[idx].get("inputs", []) if int(t) not in boundary)
        info["model_ops"] = len(model_ops)
        info["delegate_kernels"] = len(kernels)
        info["ops_delegated"] = len(delegated)
        info["ops_on_cpu"] = len(model_ops) - len(delegated)
        return info


def make_backend(job: dict) -> Any:
    runtime = job["runtime"]
    if runtime == "onnxruntime":
        return OrtBackend(job["model_path"], job.get("threads", 1), job.get("inter_op_threads", 1),
                          enable_profiling=job.get("mode") == "profile",
                          profile_dir=job.get("scratch_dir"))
    if runtime == "tflite":
        return TfliteBackend(job["model_path"], job.get("threads", 1), job.get("xnnpack", True))
    raise RunnerError(f"unknown runtime {runtime!r}; use onnxruntime or tflite")


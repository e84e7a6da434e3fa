"""Runtime backends: ONNX Runtime and TFLite (LiteRT, else tflite_runtime, else tensorflow.lite).

Each backend loads one model, takes one input sample (float32, in the model's layout), quantizes it
itself when the model wants int8, and exposes `invoke()` for the timed loop and `outputs()` to read.
Imports of the runtimes happen here, on demand, so the runner imports only the runtime it was asked for.
"""

from __future__ import annotations

import functools
import importlib
import os
import tempfile
from typing import Any

import numpy as np


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

    def set_input(self, x: np.ndarray) -> None:
        inp = self.inputs[0]
        _check_shape(inp.name, tuple(inp.shape), x.shape, self.model_path)
        dtype = {"tensor(float)": np.float32, "tensor(float16)": np.float16}.get(inp.type)
        if dtype is None:
            # an integer input needs the model's own scale and zero point, which ONNX does not attach to
            # graph inputs; casting float data would be silently wrong
            raise RunnerError(f"{self.model_path}: input {inp.name!r} is {inp.type}; edgebench feeds "
                              f"float data to ONNX models (export int8 models with float input and QDQ "
                              f"nodes, as the zoo does)")
        self.feed = {inp.name: np.ascontiguousarray(x.astype(dtype, copy=False))}
        self._io = self._bind()
        self._last = None
        if self._io is not None:
            # the timed call itself: a C-level partial, no Python frame of ours around ORT's
            self.invoke = functools.partial(self.session.run_with_iobinding, self._io)
        else:
            self.__dict__.pop("invoke", None)

    _NP_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(int8)": np.int8,
                 "tensor(uint8)": np.uint8, "tensor(int64)": np.int64, "tensor(int32)": np.int32}

    def _bind(self) -> Any:
        """Bind the input and preallocated outputs once (IOBinding): each call then skips the
        per-call conversion of Python arguments and the allocation of outputs, about 5 us of binding
        overhead that would otherwise be timed. Models with dynamic output shapes use session.run."""
        outputs = self.session.get_outputs()
        shapes = [o.shape for o in outputs]
        if any(not all(isinstance(d, int) and d > 0 for d in s) for s in shapes):
            return None
        if any(o.type not in self._NP_TYPES for o in outputs):
            return None
        io = self.session.io_binding()
        for name, arr in self.feed.items():
            io.bind_cpu_input(name, arr)
        self._bound_outputs = []
        for o, shape in zip(outputs, shapes):
            dtype = self._NP_TYPES[o.type]
            arr = np.empty(shape, dtype=dtype)
            io.bind_output(o.name, "cpu", 0, dtype, list(shape), arr.ctypes.data)
            self._bound_outputs.append(arr)
        return io

    def input_shape(self) -> tuple[int, ...]:
        return tuple(d if isinstance(d, int) and d > 0 else 1 for d in self.inputs[0].shape)

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
        self.in_detail = self.interp.get_input_details()[0]
        self.out_detail = self.interp.get_output_details()[0]
        self.invoke = self.interp.invoke  # the timed call itself, no Python frame of ours around it

    def set_input(self, x: np.ndarray) -> None:
        d = self.in_detail
        _check_shape(d["name"], tuple(int(v) for v in d["shape"]), x.shape, self.model_path)
        dtype = d["dtype"]
        if np.issubdtype(dtype, np.integer):
            scale, zero_point = d["quantization"]
            if not scale:
                raise RunnerError(f"{self.model_path}: integer input without a quantization scale")
            x = _quantize(x, scale, zero_point, dtype)
        else:
            x = x.astype(dtype, copy=False)
        self.interp.set_tensor(d["index"], np.ascontiguousarray(x))

    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.in_detail["shape"])

    def outputs(self) -> np.ndarray:
        d = self.out_detail
        y = self.interp.get_tensor(d["index"])
        if np.issubdtype(y.dtype, np.integer):
            scale, zero_point = d["quantization"]
            return (y.astype(np.float32) - zero_point) * scale
        return y.astype(np.float32)

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


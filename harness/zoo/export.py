"""Exporting one trained twin (a batch-1 Keras model) to every format the zoo ships.

ONNX: tf2onnx from_keras at opset 17; int8 is onnxruntime's static QDQ quantization (per-channel
weights) after quant_pre_process. TFLite: the converter on a SavedModel from `model.export`, since
that path keeps the batch fixed at 1; int8 is full-integer with int8 input and output.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ZooError

ONNX_OPSET = 17


def require_export_stack() -> None:
    """Import TensorFlow quietly, or say how to install it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # oneDNN reorders float sums: turned off so the same inputs give the same weights and bytes
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    missing = []
    for module in ("tensorflow", "tf2onnx", "sklearn"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ZooError(f"building the zoo needs {', '.join(missing)}: install the export extra with "
                       f"`pip install -e .[export]` (the shipped digits pair needs none of it)")
    for name in ("tensorflow", "tf2onnx", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)


def onnx_fp32(model: Any, path: Path) -> None:
    import tensorflow as tf
    import tf2onnx

    shape = tuple(int(d) for d in model.inputs[0].shape)
    spec = (tf.TensorSpec(shape, tf.float32, name="input"),)
    try:
        tf2onnx.convert.from_keras(model, input_signature=spec, opset=ONNX_OPSET, output_path=str(path))
    except KeyError:
        # Keras 3 models tf2onnx cannot trace directly: convert the inference function instead
        fn = tf.function(lambda x: model(x, training=False))
        tf2onnx.convert.from_function(fn, input_signature=spec, opset=ONNX_OPSET, output_path=str(path))
    canonicalize_onnx(path)


_COUNTER = re.compile(r"__\d+")


def canonicalize_onnx(path: Path) -> None:
    """Make tf2onnx's output byte-reproducible: it numbers generated names (`Conv__66`,
    `const_fold_opt__112`) from a process-wide counter and emits initializers in set order. Renumber
    those names by first use and order initializers by first use; the graph itself is unchanged."""
    import onnx

    model = onnx.load(str(path))
    g = model.graph
    inits = {t.name for t in g.initializer}
    first_use: dict[str, int] = {}
    for node in g.node:
        for name in [*node.input, *node.output]:
            first_use.setdefault(name, len(first_use))
    seq = iter(range(1 << 30))
    rename = {}
    for name in first_use:
        if _COUNTER.search(name):
            rename[name] = f"const__{next(seq)}" if name in inits else _COUNTER.sub(lambda _m: f"__{next(seq)}", name)
    node_names = {}
    for node in g.node:
        if _COUNTER.search(node.name):
            node_names[node.name] = _COUNTER.sub(lambda _m: f"__{next(seq)}", node.name)
    if len(set(rename.values()) | (set(first_use) - set(rename))) != len(first_use):
        return  # a renamed tensor would collide with an existing name: leave the file as exported
    for node in g.node:
        node.name = node_names.get(node.name, node.name)
        for i, name in enumerate(node.input):
            node.input[i] = rename.get(name, name)
        for i, name in enumerate(node.output):
            node.output[i] = rename.get(name, name)
    for vi in [*g.input, *g.output, *g.value_info]:
        vi.name = rename.get(vi.name, vi.name)
    ordered = []
    for t in sorted(g.initializer, key=lambda t: first_use.get(t.name, len(first_use))):
        copy = onnx.TensorProto()
        copy.CopyFrom(t)
        copy.name = rename.get(t.name, t.name)
        ordered.append(copy)
    del g.initializer[:]
    g.initializer.extend(ordered)
    onnx.save(model, str(path))


class _Reader:
    """onnxruntime CalibrationDataReader over NHWC float32 samples, one batch-1 input at a time."""

    def __init__(self, input_name: str, samples: np.ndarray):
        self.input_name = input_name
        self.samples = samples
        self.i = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.i >= len(self.samples):
            return None
        x = self.samples[self.i:self.i + 1]
        self.i += 1
        return {self.input_name: x}

    def rewind(self) -> None:
        self.i = 0


def onnx_int8(fp32_path: Path, path: Path, calibration: np.ndarray) -> None:
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre))
        input_name = onnx.load(str(pre), load_external_data=False).graph.input[0].name
        quantize_static(str(pre), str(path), _Reader(input_name, calibration),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)


def saved_model(model: Any, directory: Path) -> None:
    model.export(str(directory), format="tf_saved_model", verbose=False)


def tflite(saved_dir: Path, path: Path, precision: str, calibration: np.ndarray) -> None:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_dir))
    if precision == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif precision == "int8":
        def representative() -> Iterator[list[np.ndarray]]:
            for i in range(len(calibration)):
                yield [calibration[i:i + 1]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    elif precision != "fp32":
        raise ValueError(f"unknown precision {precision!r}")
    path.write_bytes(converter.convert())


def export_twin(model: Any, outputs: dict[tuple[str, str], Path], calibration: np.ndarray,
                log: Callable[[str], None]) -> None:
    """Write each requested (format, precision) of one batch-1 model to its path."""
    want = set(outputs)
    tmp = Path(tempfile.mkdtemp(prefix="edgebench-export-"))
    try:
        if want & {("onnx", "fp32"), ("onnx", "int8")}:
            fp32 = outputs.get(("onnx", "fp32"), tmp / "fp32.onnx")
            log(f"    onnx fp32 -> {fp32.name}")
            onnx_fp32(model, fp32)
            if ("onnx", "int8") in want:
                log(f"    onnx int8 (static QDQ, per-channel, {len(calibration)} calibration inputs) "
                    f"-> {outputs['onnx', 'int8'].name}")
                onnx_int8(fp32, outputs["onnx", "int8"], calibration)
        tfl = [p for (f, p) in sorted(want) if f == "tflite"]
        if tfl:
            saved = tmp / "saved_model"
            saved_model(model, saved)
            for precision in ("fp32", "fp16", "int8"):
                if precision in tfl:
                    log(f"    tflite {precision} -> {outputs['tflite', precision].name}")
                    tflite(saved, outputs["tflite", precision], precision, calibration)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

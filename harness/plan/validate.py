"""Checks before the first job: every model file exists, matches the zoo manifest, parses, and takes
inputs of the shape its eval data holds. All problems are collected, then reported together."""

from __future__ import annotations

from pathlib import Path

from ..errors import ZooError
from ..manifest import Manifest
from ..util import read_head
from .configs import Config


def load_manifest_or_none(problems: list[str]) -> Manifest | None:
    """The zoo manifest, or None with the reason added to `problems`."""
    from ..manifest import load_manifest

    try:
        return load_manifest()
    except ZooError as exc:
        problems.append(str(exc))
        return None


def input_spec(config: Config) -> tuple[list | None, str | None]:
    """(input shape, dtype) from the manifest, or from the ONNX graph for a model file."""
    if config.artifact:
        inp = config.artifact["inputs"][0]
        return list(inp["shape"]), inp["dtype"]
    if config.runtime == "onnxruntime":
        import onnx

        model = onnx.load(str(config.model_path), load_external_data=False)
        init = {i.name for i in model.graph.initializer}
        inputs = [i for i in model.graph.input if i.name not in init]
        dims = [d.dim_value if d.HasField("dim_value") else None
                for d in inputs[0].type.tensor_type.shape.dim]
        return dims, onnx.helper.tensor_dtype_to_np_dtype(inputs[0].type.tensor_type.elem_type).name
    return None, None


def _model_problem(c: Config) -> str | None:
    """What is wrong with the model file itself (missing, changed since built, unreadable)."""
    from ..util import not_a_regular_file, sha256_file

    if not c.model_path.exists():
        return f"{c.model_path}: model file not found"
    bad = not_a_regular_file(c.model_path, "model file")
    if bad:
        return bad
    if c.artifact and sha256_file(c.model_path) != c.artifact["sha256"]:
        return (f"{c.model_path}: sha256 does not match the zoo manifest (the file changed "
                f"since it was built); rebuild with `edgebench models build --family "
                f"{c.family} --force` or restore it with git")
    return None


def _eval_shape(path: Path, problems: list[str]) -> tuple | None:
    """Shape of one eval sample (x without its first axis), or None with the problem noted."""
    from ..util import not_a_regular_file

    if not path.exists():
        problems.append(f"{path}: eval data not found")
        return None
    bad = not_a_regular_file(path, "eval data")
    if bad:
        problems.append(bad)
        return None
    try:
        import numpy as np

        with np.load(path) as data:
            return tuple(data["x"].shape[1:])
    except Exception as exc:
        problems.append(f"{path}: cannot read eval data ({exc}); it needs arrays x and y")
        return None


def validate_models(configs: list[Config], problems: list[str]) -> None:
    """Each model file once: exists, sha256 against the manifest, parses, input agrees with the data."""
    seen: set[Path] = set()
    eval_shapes: dict[Path, tuple] = {}
    for c in configs:
        if c.model_path in seen:
            continue
        seen.add(c.model_path)
        problem = _model_problem(c)
        if problem:
            problems.append(problem)
            continue
        try:
            head = read_head(c.model_path, 8)
            if c.runtime == "tflite" and head[4:8] != b"TFL3":
                raise ValueError("not a TFLite flatbuffer (no TFL3 identifier)")
            shape, _dtype = input_spec(c)
        except Exception as exc:
            problems.append(f"{c.model_path}: cannot read the model ({exc}); is the file complete?")
            continue
        if c.eval_path is None or shape is None:
            continue
        if c.eval_path not in eval_shapes:
            got = _eval_shape(c.eval_path, problems)
            if got is None:
                continue
            eval_shapes[c.eval_path] = got
        want = tuple(shape[1:])
        got = eval_shapes[c.eval_path]
        if len(want) != len(got) or any(w not in (None, 0) and w != g for w, g in zip(want, got)):
            problems.append(f"{c.model_path}: input shape {list(shape)} disagrees with the eval data "
                            f"{c.eval_path} (samples of shape {list(got)}); give eval data made for "
                            f"this model")

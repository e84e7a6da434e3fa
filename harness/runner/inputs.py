"""What the runner feeds a model: seeded generated data for every input the job lists, or the eval
samples of an .npz (one array per input name plus labels `y`; the single-input `x`/`y` layout too).

Standard library and numpy only, like the rest of the runner.
"""

from __future__ import annotations

from typing import Any

import numpy as np

DTYPES = {"float32": np.float32, "float16": np.float16, "int8": np.int8, "uint8": np.uint8,
          "int32": np.int32, "int64": np.int64, "bool": np.bool_}
# [low, high) when a job's input gives none (the host's plan/signatures.py documents the same)
DEFAULT_RANGES = {"int8": (-128, 128), "uint8": (0, 256), "int32": (0, 100), "int64": (0, 100), "bool": (0, 2)}


class InputError(Exception):
    """The job's inputs or the eval data do not fit the model."""


def generate(inputs: list[dict[str, Any]], seed: int = 0) -> dict[str, np.ndarray]:
    """One seeded array per job input: floats from a standard normal, integers and bools uniform in
    [low, high)."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for spec in inputs:
        name, dtype = spec["name"], spec.get("dtype", "float32")
        shape = tuple(int(d) for d in spec["shape"])
        if dtype not in DTYPES:
            raise InputError(f"input {name!r}: dtype {dtype!r} is not one the runner feeds ({', '.join(DTYPES)})")
        if any(d <= 0 for d in shape):
            raise InputError(f"input {name!r}: shape {list(shape)} has a size that is not positive")
        if dtype in ("float32", "float16"):
            out[name] = rng.standard_normal(shape).astype(DTYPES[dtype])
            continue
        lo, hi = DEFAULT_RANGES[dtype]
        lo = lo if spec.get("low") is None else int(spec["low"])
        hi = hi if spec.get("high") is None else int(spec["high"])
        if lo >= hi:
            raise InputError(f"input {name!r}: empty range [{lo}, {hi})")
        values = rng.integers(lo, hi, size=shape, dtype=np.int64)
        out[name] = values.astype(DTYPES[dtype])
    return out


def load_eval(path: str, names: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """The eval arrays by input name (samples first) and the labels. An .npz with one array per input
    name; or, for a single-input model, the array `x`."""
    with np.load(path) as data:
        files = set(data.files)
        y = data["y"] if "y" in files else None
        if all(n in files for n in names):
            arrays = {n: data[n] for n in names}
        elif len(names) == 1 and "x" in files:
            arrays = {names[0]: data["x"]}
        else:
            missing = [n for n in names if n not in files]
            raise InputError(f"{path}: eval data has no array for input(s) {', '.join(map(repr, missing))} "
                             f"(keys: {sorted(files)}); save one array per input name plus labels 'y'")
    counts = {n: len(a) for n, a in arrays.items()}
    if len(set(counts.values())) > 1:
        raise InputError(f"{path}: eval arrays hold different numbers of samples {counts}; give each the same")
    return arrays, y


def sample(arrays: dict[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    """Sample i of every input, with its batch dimension of 1."""
    return {n: a[i:i + 1] for n, a in arrays.items()}


def described(feed: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """What the record says was fed: name, shape and dtype per input."""
    return [{"name": n, "shape": [int(d) for d in a.shape], "dtype": str(a.dtype)} for n, a in feed.items()]


def check_finite(outputs: list[np.ndarray], when: str) -> None:
    """NaN or inf in an output is a failed job, never a result."""
    for i, out in enumerate(outputs):
        arr = np.asarray(out)
        if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
            bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
            raise InputError(f"output {i} has {bad} non-finite value(s) (NaN or inf) {when}; the model or its "
                             f"input data is broken (check the export, the eval data and input_ranges)")

"""Checks before the first job: every model file exists, matches the zoo manifest, parses, and has
every input resolved (signatures.py) against the profile's input_shapes/input_ranges and its eval
data. A model file given by path also gets its multiply-adds and parameters counted here, the same
numbers `edgebench models inspect` prints. All problems are collected, then reported together."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import HarnessError, ZooError
from ..manifest import Manifest
from .configs import Config


def load_manifest_or_none(problems: list[str]) -> Manifest | None:
    """The zoo manifest, or None with the reason added to `problems`."""
    from ..manifest import load_manifest

    try:
        return load_manifest()
    except ZooError as exc:
        problems.append(str(exc))
        return None


def _model_problem(c: Config) -> str | None:
    """What is wrong with the model file itself (missing, changed since built, unreadable)."""
    from ..util import not_a_regular_file, read_head, sha256_file

    if not c.model_path.exists():
        return f"{c.model_path.resolve()}: model file not found"
    bad = not_a_regular_file(c.model_path, "model file")
    if bad:
        return bad
    if c.artifact and sha256_file(c.model_path) != c.artifact["sha256"]:
        return (f"{c.model_path}: sha256 does not match the zoo manifest (the file changed "
                f"since it was built); rebuild with `edgebench models build --family "
                f"{c.family} --force` or restore it with git")
    if c.runtime == "tflite" and read_head(c.model_path, 8)[4:8] != b"TFL3":
        return f"{c.model_path}: cannot read the model (not a TFLite flatbuffer: no TFL3 identifier)"
    return None


def _matches(key: str, c: Config) -> bool:
    """A profile key naming a model: its name, or its file (as anchored by the profile)."""
    if key == c.model:
        return True
    try:
        return Path(key).expanduser().resolve() == c.model_path.resolve()
    except OSError:
        return False


def per_model(table: dict[str, Any], c: Config, names: set[str]) -> dict[str, Any]:
    """This model's entries of input_shapes/input_ranges: the all-model entries (input name -> value)
    for inputs it has, then its own table (keyed by model name or file) on top."""
    out = {k: v for k, v in table.items() if not isinstance(v, dict) and k in names}
    for key, v in table.items():
        if isinstance(v, dict) and _matches(key, c):
            out.update(v)
    return out


def _unused_keys(table: dict[str, Any], key: str, configs: list[Config], inputs: dict[Path, set[str]],
                 where: str, problems: list[str]) -> None:
    """An input_shapes/input_ranges entry that applies to no model is a typo, not a no-op."""
    for k, v in table.items():
        if isinstance(v, dict):
            if not any(_matches(k, c) for c in configs):
                problems.append(f"{where}: {key} has a table for model {k!r}, which is not in matrix.models "
                                f"(models: {', '.join(sorted({c.model for c in configs})) or 'none'})")
        elif inputs and not any(k in names for names in inputs.values()):
            problems.append(f"{where}: {key} names input {k!r}, which no model of the matrix has (inputs: "
                            f"{', '.join(sorted(set().union(*inputs.values())))})")


def _resolve(c: Config, matrix: dict[str, Any], where: str, cache: dict) -> tuple[tuple, dict | None]:
    """(resolved inputs, counts for a model file); raises HarnessError with the one-line problem."""
    from .signatures import check_eval, eval_shapes_of, read_signature, resolve_inputs

    if ("sig", c.model_path) not in cache:
        cache[("sig", c.model_path)] = read_signature(c.model_path)
    specs = cache[("sig", c.model_path)]
    names = {s.name for s in specs}
    evals = None
    if c.eval_path is not None:
        if not c.eval_path.exists():
            raise HarnessError(f"{c.eval_path.resolve()}: eval data for {c.model_path} not found; fix "
                               f"matrix.eval_data (relative to the profile's folder)")
        from ..util import not_a_regular_file

        bad = not_a_regular_file(c.eval_path, "eval data")
        if bad:
            raise HarnessError(bad)
        evals = eval_shapes_of(c.eval_path, specs)
    resolved = resolve_inputs(c.model_path, specs, per_model(matrix.get("input_shapes") or {}, c, names), evals,
                              input_ranges=per_model(matrix.get("input_ranges") or {}, c, names), where=where)
    if c.eval_path is not None:
        check_eval(c.model_path, resolved, c.eval_path)
    counts = None
    if c.artifact is None:
        shapes = {r.name: list(r.shape) for r in resolved}
        key = ("counts", c.model_path, repr(sorted(shapes.items())))
        if key not in cache:
            from ..zoo.analyze import analyze

            total = analyze(c.model_path, input_shapes=shapes)["total"]
            cache[key] = {"macs": total["macs"], "params": total["params"]}
        counts = cache[key]
    return tuple(resolved), counts


def validate_models(configs: list[Config], problems: list[str], matrix: dict[str, Any] | None = None,
                    where: str = "[matrix]") -> list[Config]:
    """Each model file: exists, sha256 against the manifest, parses, every input resolved and agreeing
    with its eval data. Returns the configs with their inputs (and a file's counts) attached."""
    matrix = matrix or {}
    cache: dict = {}
    done: dict[tuple, tuple[tuple, dict | None] | None] = {}
    out = []
    for c in configs:
        key = (c.model_path, c.eval_path)
        if key not in done:
            done[key] = None
            problem = _model_problem(c)
            if problem:
                problems.append(problem)
                continue
            try:
                done[key] = _resolve(c, matrix, where, cache)
            except HarnessError as exc:
                problems.append(str(exc))
            except Exception as exc:
                problems.append(f"{c.model_path}: cannot read the model ({exc}); is the file complete?")
        if done[key] is not None:
            inputs, counts = done[key]
            c = replace(c, inputs=inputs, counts=counts)
        out.append(c)
    seen = {c.model_path: {s.name for s in cache[("sig", c.model_path)]} for c in configs
            if ("sig", c.model_path) in cache}
    for table in ("input_shapes", "input_ranges"):
        _unused_keys(matrix.get(table) or {}, table, configs, seen, where, problems)
    return out

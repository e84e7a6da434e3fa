"""Configs: what to measure. A config is one (device, model, runtime, precision, threads, xnnpack)
combination, one row of the summary; the matrix of a profile expands into them here. A model file
given by path reports the precision its graph holds (signatures.precision_of); its counts and
resolved inputs are attached by the plan's validation (validate.py) before any job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..manifest import FORMAT_OF_RUNTIME, Manifest
from ..util import not_a_regular_file, sha256_file


@dataclass(frozen=True)
class Config:
    device: str
    model: str
    runtime: str
    precision: str
    threads: int
    xnnpack: bool
    model_path: Path
    eval_path: Path | None
    family: str | None = None
    twin: str | None = None
    artifact: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    # every model input as the jobs feed it (plan/signatures.ResolvedInput), set by validation
    inputs: tuple[Any, ...] = field(default=(), compare=False, hash=False)
    # {"macs", "params"} of a model file from the analyzer (zoo models: the manifest's)
    counts: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    declared_pair: str | None = field(default=None, compare=False, hash=False)
    # sha256 of a model given by path (a zoo model's is its artifact's): part of the config's identity,
    # so a file changed between an interrupt and --resume is caught, never mixed into one config
    file_sha256: str | None = field(default=None, compare=False, hash=False)

    @property
    def format(self) -> str:
        return FORMAT_OF_RUNTIME[self.runtime]

    @property
    def config_id(self) -> str:
        cid = f"{self.device}/{self.model}/{self.runtime}/{self.precision}/t{self.threads}"
        if self.runtime == "tflite" and not self.xnnpack:
            cid += "/no-xnnpack"
        return cid

    @property
    def model_sha256(self) -> str | None:
        return self.file_sha256 or (self.artifact or {}).get("sha256")

    def identity(self) -> dict[str, Any]:
        a = self.artifact or self.counts or {}
        return {
            "device": self.device, "config_id": self.config_id, "model": self.model,
            "family": self.family, "twin": self.twin, "format": self.format,
            "precision": self.precision, "runtime": self.runtime, "threads": self.threads,
            "xnnpack": self.xnnpack if self.runtime == "tflite" else None,
            "model_file": str(self.model_path), "model_sha256": self.model_sha256,
            "model_bytes": a.get("bytes") if self.artifact else _size(self.model_path),
            "params": a.get("params"), "macs": a.get("macs"),
            "reference_accuracy": a.get("reference_accuracy"),
            "inputs": [{"name": r.name, "shape": list(r.shape), "dtype": r.dtype} for r in self.inputs] or None,
            "input_notes": [f"{r.name}: {n}" for r in self.inputs for n in r.notes] or None,
            "declared_pair": self.declared_pair,
        }


def _file_precision(path: Path) -> str:
    """fp32/fp16/int8 from the graph; "file" when it cannot be read (validation reports why)."""
    from .signatures import precision_of

    try:
        return precision_of(path)
    except Exception:
        return "file"


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def resolve_configs(device: str, matrix: dict[str, Any], manifest: Manifest | None,
                    problems: list[str], where: str) -> list[Config]:
    """Expand the matrix into configs; zoo names via the manifest, other entries as model files."""
    configs: list[Config] = []
    for name in matrix["models"]:
        path = Path(name).expanduser()
        if path.suffix in (".onnx", ".tflite"):
            if not path.exists():
                problems.append(f"{where}: model file {name!r} does not exist ({path.resolve()}); give an "
                                f"existing .onnx or .tflite path (relative to the profile's folder) or a zoo "
                                f"name (edgebench models list)")
                continue
            bad = not_a_regular_file(path, "model file")
            if bad:
                problems.append(bad)
                continue
            runtime = "onnxruntime" if path.suffix == ".onnx" else "tflite"
            if runtime not in matrix["runtimes"]:
                continue
            digest = sha256_file(path)
            ev = Path(matrix["eval_data"]).expanduser() if matrix.get("eval_data") else None
            precision = _file_precision(path)
            for threads in matrix["threads"]:
                configs.append(Config(device, path.stem, runtime, precision, threads, matrix["xnnpack"],
                                      path, ev, file_sha256=digest))
            continue
        if manifest is None:
            problems.append(f"{where}: model {name!r} is not a file and the zoo manifest is missing")
            continue
        models = manifest.expand(name)
        if not models:
            problems.append(f"{where}: unknown model {name!r}; zoo names: "
                            f"{', '.join(sorted(manifest.families)) or '(none)'}, or give a model file path")
            continue
        for model in models:
            for runtime in matrix["runtimes"]:
                for precision in matrix["precisions"]:
                    art = manifest.find(model, FORMAT_OF_RUNTIME[runtime], precision)
                    if art is None:
                        if not (runtime == "onnxruntime" and precision == "fp16"):
                            problems.append(f"{where}: the zoo has no {runtime} {precision} artifact of "
                                            f"{model}")
                        continue
                    if not art.built:
                        problems.append(f"{art.path}: {art.name} is not built; run `edgebench models "
                                        f"build --family {art['family']}`")
                        continue
                    for threads in matrix["threads"]:
                        configs.append(Config(device, model, runtime, precision, threads,
                                              matrix["xnnpack"], art.path, art.eval_path,
                                              art["family"], art["twin"], art.data))
    return _unique(configs, problems, where)


def _unique(configs: list[Config], problems: list[str], where: str) -> list[Config]:
    """Each config once (a model named twice, a thread count repeated); two different files that would
    share a config id are a problem, not a silent merge."""
    seen: dict[str, Config] = {}
    for c in configs:
        other = seen.get(c.config_id)
        if other is None:
            seen[c.config_id] = c
        elif other.model_path != c.model_path:
            problems.append(f"{where}: {other.model_path} and {c.model_path} would both be reported as "
                            f"model {c.model!r}; give the files distinct names")
    return list(seen.values())

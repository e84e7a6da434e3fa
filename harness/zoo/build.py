"""`edgebench models build`: train and export the families of a zoo.toml, and write the manifest.

A family whose inputs (its resolved zoo.toml table, seeds included, and config.CODE_VERSION) match the
manifest's `inputs_sha256`, with every artifact present and matching its sha256, is skipped without
importing TensorFlow. Shipped families (ship = true) are listed in manifest.json, the others in
manifest.local.json (see harness/manifest.py for the schema).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import ZooError
from ..manifest import (
    LOCAL_MANIFEST_FILE,
    MANIFEST_FILE,
    MANIFEST_SCHEMA_VERSION,
)
from ..util import sha256_file
from .config import FORMATS, TWINS, Family, load_zoo, select

EXT = {"onnx": "onnx", "tflite": "tflite"}


@dataclass(frozen=True)
class BuildResult:
    family: str
    status: str  # "built" | "up to date"
    artifacts: tuple[str, ...]
    seconds: float


def manifest_path(out: Path, family: Family) -> Path:
    return out / (MANIFEST_FILE if family.ship else LOCAL_MANIFEST_FILE)


def read_manifest_file(path: Path) -> dict[str, Any]:
    """The raw manifest at path, or an empty one; a file of another schema is refused, not overwritten."""
    if not path.exists():
        return {"schema_version": MANIFEST_SCHEMA_VERSION, "edgebench_version": __version__,
                "families": {}, "artifacts": []}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ZooError(f"{path}: not valid JSON ({exc}); delete it and rebuild every family it listed") from None
    if data.get("schema_version") != MANIFEST_SCHEMA_VERSION:
        raise ZooError(f"{path}: schema_version {data.get('schema_version')!r} is not "
                       f"{MANIFEST_SCHEMA_VERSION}; delete it and rebuild with `edgebench models build --force`")
    data.setdefault("families", {})
    data.setdefault("artifacts", [])
    return data


# JSON strings never hold a raw newline, so "[\n" and ",\n" here are always structure
_SCALAR_LIST = re.compile(r"\[\n\s+([^\[\]{}]*?)\n\s*\]")


def dumps(data: Any) -> str:
    """Indented JSON with lists of scalars (shapes, blocks) kept on one line, for readable diffs."""
    return _SCALAR_LIST.sub(lambda m: "[" + re.sub(r",\n\s+", ", ", m.group(1)) + "]", json.dumps(data, indent=2))


def write_manifest_file(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dumps(data) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def artifact_name(family: str, twin: str, fmt: str, precision: str) -> str:
    return f"{family}-{twin}-{fmt}-{precision}"


def up_to_date(out: Path, family: Family, formats: Iterable[tuple[str, str]]) -> bool:
    """True when the manifest lists this family with the same inputs and every wanted artifact
    (and the eval set) is on disk with the recorded sha256."""
    data = read_manifest_file(manifest_path(out, family))
    entry = data["families"].get(family.name)
    if not entry or entry.get("inputs_sha256") != family.inputs_sha256():
        return False
    arts = [a for a in data["artifacts"] if a.get("family") == family.name]
    have = {(a["twin"], a["format"], a["precision"]) for a in arts}
    if not {(t, f, p) for t in TWINS for f, p in formats} <= have:
        return False
    files = [(a["path"], a["sha256"]) for a in arts]
    if entry.get("eval"):
        files.append((entry["eval"]["path"], entry["eval"]["sha256"]))
    return all((out / p).exists() and sha256_file(out / p) == digest for p, digest in files)


def _tool_versions() -> dict[str, str]:
    import importlib.metadata as md

    versions = {}
    for dist in ("tensorflow-cpu", "tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime", "scikit-learn"):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return versions


def build_family(family: Family, out: Path, formats: tuple[tuple[str, str], ...],
                 log: Callable[[str], None]) -> BuildResult:
    """Train (where a dataset is given), export both twins, write the family's manifest entries."""
    import keras

    from . import data as zoo_data

    t0 = time.monotonic()
    fam_dir = out / family.name
    fam_dir.mkdir(parents=True, exist_ok=True)
    log(f"[{family.name}] building (inputs {family.inputs_sha256()[:12]}, formats "
        f"{', '.join(f'{f} {p}' for f, p in formats)})")
    split = zoo_data.load_split(family)
    calibration = zoo_data.calibration_inputs(family, split)
    eval_entry = _write_eval_set(family, split, out, log) if split is not None else None
    artifacts: list[dict[str, Any]] = []
    references: dict[str, float] = {}
    for twin in TWINS:
        built, reference = _build_twin(family, twin, split, calibration, formats, out, eval_entry, log)
        artifacts.extend(built)
        if reference is not None:
            references[twin] = reference
        keras.backend.clear_session()
    mpath = _write_family_manifest(family, out, artifacts, eval_entry, references)
    seconds = time.monotonic() - t0
    log(f"[{family.name}] done in {seconds:.0f}s: {len(artifacts)} artifacts listed in {mpath}")
    return BuildResult(family.name, "built", tuple(a["name"] for a in artifacts), seconds)


def _write_eval_set(family: Family, split: Any, out: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """The family's test images as an .npz beside its models, and its manifest entry."""
    from . import data as zoo_data

    eval_path = out / family.name / f"{family.name}-eval.npz"
    zoo_data.write_npz(eval_path, x=split.x_test, y=split.y_test)
    entry = {"path": eval_path.relative_to(out).as_posix(), "sha256": sha256_file(eval_path),
             "n": len(split.y_test), "layout": "NHWC"}
    log(f"[{family.name}] data: {len(split.y_train)} train / {len(split.y_test)} test images; "
        f"eval set -> {entry['path']}")
    return entry


def _build_twin(family: Family, twin: str, split: Any, calibration: Any,
                formats: tuple[tuple[str, str], ...], out: Path, eval_entry: dict[str, Any] | None,
                log: Callable[[str], None]) -> tuple[list[dict[str, Any]], float | None]:
    """Train one twin (where there is data), export it in every format; its artifact entries and its
    Keras fp32 test accuracy (None without data)."""
    from . import export, keras_models, train
    from .analyze import analyze, describe_io

    train.seed_everything(family.seed)
    model = keras_models.build_twin(family, twin)
    reference = None
    if split is not None:
        log(f"[{family.name}] {twin}: training {family.epochs} epochs ({model.count_params():,} Keras params)")
        train.train(model, family, split, log)
        reference = train.accuracy(model, split.x_test, split.y_test)
        log(f"[{family.name}] {twin}: Keras fp32 test accuracy {reference:.4f}")
    single = keras_models.build_twin(family, twin, batch_size=1)
    single.set_weights(model.get_weights())
    fam_dir = out / family.name
    paths = {(f, p): fam_dir / f"{artifact_name(family.name, twin, f, p)}.{EXT[f]}" for f, p in formats}
    log(f"[{family.name}] {twin}: exporting")
    export.export_twin(single, paths, calibration, log)
    counted = analyze(paths.get(("onnx", "fp32"), next(iter(paths.values()))))
    artifacts = []
    for (fmt, precision), path in paths.items():
        io = describe_io(path)
        artifacts.append({
            "name": artifact_name(family.name, twin, fmt, precision), "family": family.name,
            "twin": twin, "model": f"{family.name}-{twin}", "format": fmt, "precision": precision,
            "path": path.relative_to(out).as_posix(), "bytes": path.stat().st_size,
            "sha256": sha256_file(path), "inputs": io["inputs"], "outputs": io["outputs"],
            "params": counted["total"]["params"], "macs": counted["total"]["macs"],
            "eval": {"path": eval_entry["path"], "sha256": eval_entry["sha256"]} if eval_entry else None,
            "reference_accuracy": reference,
        })
    return artifacts, reference


def _write_family_manifest(family: Family, out: Path, artifacts: list[dict[str, Any]],
                           eval_entry: dict[str, Any] | None, references: dict[str, float]) -> Path:
    """List the family in its manifest (shipped or local), drop files of formats no longer built and
    the family's entries from the other manifest; the manifest written."""
    mpath = manifest_path(out, family)
    other = out / (LOCAL_MANIFEST_FILE if family.ship else MANIFEST_FILE)
    manifest = read_manifest_file(mpath)
    previous = [a for path in (mpath, other) if path.exists()
                for a in read_manifest_file(path)["artifacts"] if a.get("family") == family.name]
    kept = {a["path"] for a in artifacts} | ({eval_entry["path"]} if eval_entry else set())
    for old in previous:  # files of formats this build no longer makes
        if old["path"] not in kept:
            (out / old["path"]).unlink(missing_ok=True)
    manifest["edgebench_version"] = __version__
    manifest["families"][family.name] = {
        "config": family.config(), "inputs_sha256": family.inputs_sha256(), "shipped": family.ship,
        "dataset": family.dataset if family.has_dataset else None, "eval": eval_entry,
        "reference_accuracy": references or None, "built_with": _tool_versions(),
    }
    manifest["artifacts"] = [a for a in manifest["artifacts"] if a.get("family") != family.name] + artifacts
    write_manifest_file(mpath, manifest)
    if other.exists():  # the family changed its `ship` flag: it is listed in one manifest only
        stale = read_manifest_file(other)
        if family.name in stale["families"]:
            del stale["families"][family.name]
            stale["artifacts"] = [a for a in stale["artifacts"] if a.get("family") != family.name]
            write_manifest_file(other, stale)
    if not (out / MANIFEST_FILE).exists():  # the reader starts from manifest.json
        write_manifest_file(out / MANIFEST_FILE, read_manifest_file(out / MANIFEST_FILE))
    return mpath


def build(zoo_toml: Path, out: Path, families: list[str] | None = None, force: bool = False,
          formats: Iterable[tuple[str, str]] | None = None,
          log: Callable[[str], None] = print) -> list[BuildResult]:
    """Build the named families (all when None). `formats` limits the exports, e.g. [("onnx", "fp32")]."""
    zoo_toml, out = Path(zoo_toml), Path(out)
    wanted = tuple(formats) if formats else FORMATS
    for fp in wanted:
        if tuple(fp) not in FORMATS:
            raise ZooError(f"unknown format {fp!r}; known: {', '.join(f'{f} {p}' for f, p in FORMATS)}")
    chosen = select(load_zoo(zoo_toml), families, zoo_toml)
    results = []
    todo = []
    for family in chosen:
        if not force and up_to_date(out, family, wanted):
            log(f"[{family.name}] up to date (inputs {family.inputs_sha256()[:12]} unchanged); "
                f"use --force to rebuild")
            results.append(BuildResult(family.name, "up to date", (), 0.0))
        else:
            todo.append(family)
    if todo:
        from .export import require_export_stack

        require_export_stack()
        for family in todo:
            results.append(build_family(family, out, wanted, log))
    return results

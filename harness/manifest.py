"""Reading the zoo manifest (models/zoo/manifest.json), written by `edgebench models build`.

Schema (MANIFEST_SCHEMA_VERSION 1), paths relative to the manifest's folder:
{
  "schema_version": 1, "edgebench_version": "...",
  "families": {FAMILY: {"config": {...zoo.toml table...}, "inputs_sha256": "...", "shipped": bool,
               "dataset": "sklearn-digits" | null,
               "eval": {"path": "...npz", "sha256": "...", "n": int, "layout": "NHWC"} | null,
               "reference_accuracy": {"separable": float, "standard": float} | null}},
  "artifacts": [{"name": "digits-separable-onnx-fp32", "family": "digits", "twin": "separable",
                 "model": "digits-separable", "format": "onnx" | "tflite",
                 "precision": "fp32" | "fp16" | "int8", "path": "...", "bytes": int, "sha256": "...",
                 "inputs": [{"name", "shape", "dtype", "layout", "scale", "zero_point"}],
                 "outputs": [same], "params": int, "macs": int,
                 "eval": {"path", "sha256"} | null, "reference_accuracy": float | null}]
}
An artifact whose file is absent is "not built".

Families marked `ship = true` in zoo.toml (digits) are listed in manifest.json, which is committed.
Families built on demand (MobileNetV1) are listed, in the same schema, in manifest.local.json beside it,
which is git-ignored like their artifacts; the reader merges the two.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ZooError
from .paths import zoo_dir
from .util import sha256_file

MANIFEST_SCHEMA_VERSION = 1
MANIFEST_FILE = "manifest.json"
LOCAL_MANIFEST_FILE = "manifest.local.json"
FORMAT_OF_RUNTIME = {"onnxruntime": "onnx", "tflite": "tflite"}
RUNTIME_OF_FORMAT = {v: k for k, v in FORMAT_OF_RUNTIME.items()}
TWINS = ("separable", "standard")


@dataclass(frozen=True)
class Artifact:
    data: dict[str, Any]
    root: Path

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def path(self) -> Path:
        return self.root / self.data["path"]

    @property
    def eval_path(self) -> Path | None:
        ev = self.data.get("eval")
        return self.root / ev["path"] if ev else None

    @property
    def built(self) -> bool:
        return self.path.exists()

    def verify(self) -> None:
        """Raise ZooError unless the file exists and its sha256 matches the manifest."""
        if not self.path.exists():
            raise ZooError(
                f"{self.path}: artifact {self.name} is not built; run "
                f"`edgebench models build --family {self.data['family']}`"
            )
        digest = sha256_file(self.path)
        if digest != self.data["sha256"]:
            raise ZooError(
                f"{self.path}: sha256 {digest[:12]}... does not match the manifest "
                f"({self.data['sha256'][:12]}...); the file changed since it was built: rebuild it with "
                f"`edgebench models build --family {self.data['family']} --force`"
            )


class Manifest:
    def __init__(self, data: dict[str, Any], root: Path, path: Path):
        self.data = data
        self.root = root
        self.path = path
        self.artifacts = [Artifact(a, root) for a in data.get("artifacts", [])]
        self.families: dict[str, Any] = data.get("families", {})

    def models(self) -> list[str]:
        return sorted({a["model"] for a in self.artifacts})

    def find(self, model: str, fmt: str, precision: str) -> Artifact | None:
        for a in self.artifacts:
            if a["model"] == model and a["format"] == fmt and a["precision"] == precision:
                return a
        return None

    def expand(self, name: str) -> list[str]:
        """A zoo name -> model names: a family gives both twins; 'digits-separable' gives itself."""
        if name in self.families:
            return [m for m in self.models() if m.startswith(name + "-")]
        if name in self.models():
            return [name]
        return []

    def reference_accuracy(self, model: str) -> float | None:
        for a in self.artifacts:
            if a["model"] == model and a.get("reference_accuracy") is not None:
                return a["reference_accuracy"]
        return None


def load_manifest(root: Path | None = None) -> Manifest:
    root = Path(root) if root else zoo_dir()
    path = root / MANIFEST_FILE
    if not path.exists():
        raise ZooError(f"{path}: no manifest; build the zoo with `edgebench models build`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ZooError(f"{path}: not valid JSON ({exc}); rebuild with `edgebench models build`") from exc
    version = data.get("schema_version")
    if version != MANIFEST_SCHEMA_VERSION:
        raise ZooError(
            f"{path}: schema_version {version!r}, this edgebench reads {MANIFEST_SCHEMA_VERSION}; "
            f"rebuild with `edgebench models build --force`"
        )
    local = root / LOCAL_MANIFEST_FILE
    if local.exists():
        try:
            extra = json.loads(local.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ZooError(f"{local}: not valid JSON ({exc}); delete it and rebuild the on-demand families") from exc
        if extra.get("schema_version") == MANIFEST_SCHEMA_VERSION:
            data = dict(data)
            data["families"] = {**extra.get("families", {}), **data.get("families", {})}
            shipped = {a["name"] for a in data.get("artifacts", [])}
            data["artifacts"] = list(data.get("artifacts", [])) + [
                a for a in extra.get("artifacts", []) if a["name"] not in shipped
            ]
    return Manifest(data, root, path)

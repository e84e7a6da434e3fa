"""Parsing and validating models/zoo.toml: what `edgebench models build` builds.

A zoo.toml names bodies (a MobileNetV1-style layer plan) and families (a body at one width,
resolution and dataset). Every family yields two twins that differ only in their blocks:
`separable` (depthwise 3x3 + BN + ReLU6, pointwise 1x1 + BN + ReLU6) and `standard`
(3x3 conv + BN + ReLU6). Any mistake is a ZooError naming the file and the key, raised before
anything is built.

    [bodies.NAME]
    stem = [filters, stride]                 # 3x3 conv + BN + ReLU6
    blocks = [[filters, stride], ...]        # one separable (or standard) block each

    [families.NAME]
    body = "NAME"            width = 1.0        resolution = 224     channels = 3
    classes = 1000           dataset = "none"   ship = false         seed = 0
    ... (training and calibration keys below; see FAMILY_KEYS)
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ..errors import ZooError

# Bump when a change to the model definitions, training or export would change the artifacts:
# every family's inputs hash changes with it, so `edgebench models build` rebuilds.
CODE_VERSION = 1

DATASETS = ("sklearn-digits", "none")
FORMATS = (("onnx", "fp32"), ("onnx", "int8"), ("tflite", "fp32"), ("tflite", "fp16"), ("tflite", "int8"))
TWINS = ("separable", "standard")

# key -> (type(s), required, default). bool is checked apart from int (TOML `true` is not a count).
FAMILY_KEYS: dict[str, tuple[tuple[type, ...], bool, Any]] = {
    "body": ((str,), True, None),
    "width": ((int, float), True, None),
    "resolution": ((int,), True, None),
    "channels": ((int,), True, None),
    "classes": ((int,), True, None),
    "dataset": ((str,), True, None),
    "ship": ((bool,), False, False),
    "seed": ((int,), False, 0),
    "epochs": ((int,), False, 0),
    "batch_size": ((int,), False, 32),
    "learning_rate": ((int, float), False, 1e-3),
    "bn_momentum": ((int, float), False, 0.99),
    "test_fraction": ((int, float), False, 0.25),
    "calibration_samples": ((int,), False, 200),
    "description": ((str,), False, ""),
}
BODY_KEYS = {"stem": True, "blocks": True, "description": False}
TOP_KEYS = ("bodies", "families")


@dataclass(frozen=True)
class Family:
    """One family, validated, with its body resolved (so the inputs hash covers the layer plan)."""

    name: str
    body: str
    stem: tuple[int, int]
    blocks: tuple[tuple[int, int], ...]
    width: float
    resolution: int
    channels: int
    classes: int
    dataset: str
    ship: bool
    seed: int
    epochs: int
    batch_size: int
    learning_rate: float
    bn_momentum: float
    test_fraction: float
    calibration_samples: int
    description: str = ""

    @property
    def has_dataset(self) -> bool:
        return self.dataset != "none"

    def filters(self, n: int) -> int:
        """Width multiplier applied to a layer's filter count, as in the paper (alpha * N)."""
        return max(1, int(n * self.width))

    def config(self) -> dict[str, Any]:
        """The table recorded in the manifest (families[NAME].config)."""
        d = asdict(self)
        d["stem"] = list(self.stem)
        d["blocks"] = [list(b) for b in self.blocks]
        return d

    def inputs_sha256(self) -> str:
        """What decides the artifacts: the resolved config (seeds included) and the code version."""
        blob = json.dumps({"config": self.config(), "code_version": CODE_VERSION}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


def _fail(path: Path, key: str, why: str) -> ZooError:
    return ZooError(f"{path}: {key}: {why}")


def _type_name(types: tuple[type, ...]) -> str:
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string"}
    if types == (int, float):
        return "a number"
    return " or ".join(names[t] for t in types)


def _check_type(path: Path, key: str, value: Any, types: tuple[type, ...]) -> None:
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        raise _fail(path, key, f"{value!r} is {type(value).__name__}, expected {_type_name(types)}")


def _pair(path: Path, key: str, value: Any) -> tuple[int, int]:
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise _fail(path, key, f"{value!r} is not a [filters, stride] pair of integers")
    filters, stride = value
    if filters <= 0:
        raise _fail(path, key, f"filters {filters} must be > 0")
    if stride not in (1, 2):
        raise _fail(path, key, f"stride {stride} must be 1 or 2")
    return filters, stride


def _known_keys(path: Path, where: str, table: dict[str, Any], known: Iterable[str]) -> None:
    for key in table:
        if key not in known:
            raise _fail(path, f"{where}.{key}", f"unknown key; known keys: {', '.join(known)}")


def _body(path: Path, name: str, table: Any) -> tuple[tuple[int, int], tuple[tuple[int, int], ...]]:
    where = f"bodies.{name}"
    if not isinstance(table, dict):
        raise _fail(path, where, "must be a table with stem and blocks")
    _known_keys(path, where, table, BODY_KEYS)
    for key, required in BODY_KEYS.items():
        if required and key not in table:
            raise _fail(path, f"{where}.{key}", "missing (required)")
    stem = _pair(path, f"{where}.stem", table["stem"])
    blocks = table["blocks"]
    if not isinstance(blocks, list) or not blocks:
        raise _fail(path, f"{where}.blocks", "must be a non-empty list of [filters, stride] pairs")
    return stem, tuple(_pair(path, f"{where}.blocks[{i}]", b) for i, b in enumerate(blocks))


def _family(path: Path, name: str, table: Any, bodies: dict[str, Any]) -> Family:
    where = f"families.{name}"
    if not isinstance(table, dict):
        raise _fail(path, where, "must be a table")
    _known_keys(path, where, table, FAMILY_KEYS)
    values: dict[str, Any] = {}
    for key, (types, required, default) in FAMILY_KEYS.items():
        if key not in table:
            if required:
                raise _fail(path, f"{where}.{key}", "missing (required)")
            values[key] = default
            continue
        _check_type(path, f"{where}.{key}", table[key], types)
        values[key] = table[key]

    def positive(key: str) -> None:
        if values[key] <= 0:
            word = "negative" if values[key] < 0 else "zero"
            raise _fail(path, f"{where}.{key}", f"{values[key]!r} is {word}; it must be > 0")

    for key in ("width", "resolution", "channels", "batch_size", "learning_rate", "calibration_samples"):
        positive(key)
    if values["classes"] < 2:
        raise _fail(path, f"{where}.classes", f"{values['classes']} must be at least 2")
    if values["epochs"] < 0:
        raise _fail(path, f"{where}.epochs", f"{values['epochs']} is negative; it must be >= 0")
    for key in ("bn_momentum", "test_fraction"):
        if not 0 < values[key] < 1:
            raise _fail(path, f"{where}.{key}", f"{values[key]!r} must be between 0 and 1")
    if values["dataset"] not in DATASETS:
        raise _fail(path, f"{where}.dataset",
                    f"unknown dataset {values['dataset']!r}; known: {', '.join(DATASETS)} "
                    f"(\"none\" builds random-init weights, for latency only)")
    if values["dataset"] == "sklearn-digits":
        if (values["channels"], values["classes"]) != (1, 10):
            raise _fail(path, f"{where}.dataset", "sklearn-digits needs channels = 1 and classes = 10")
        if values["epochs"] == 0:
            raise _fail(path, f"{where}.epochs", "a family with a dataset needs epochs > 0")
    if values["body"] not in bodies:
        raise _fail(path, f"{where}.body", f"unknown body {values['body']!r}; declared: "
                    f"{', '.join(sorted(bodies)) or 'none'} (add a [bodies.{values['body']}] table)")
    stem, blocks = bodies[values["body"]]
    return Family(name=name, stem=stem, blocks=blocks,
                  **{k: (float(v) if FAMILY_KEYS[k][0] == (int, float) else v) for k, v in values.items()})


def parse_zoo(text: str, path: Path) -> dict[str, Family]:
    """zoo.toml text -> {family name: Family}, in declaration order."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ZooError(f"{path}: not valid TOML ({exc}); fix the syntax") from None
    for key in data:
        if key not in TOP_KEYS:
            raise _fail(path, key, "unknown top-level key; expected [bodies.NAME] and [families.NAME] tables")
    for key in TOP_KEYS:
        if not isinstance(data.get(key), dict) or not data[key]:
            raise _fail(path, key, f"missing: declare at least one [{key}.NAME] table")
    bodies = {name: _body(path, name, table) for name, table in data["bodies"].items()}
    return {name: _family(path, name, table, bodies) for name, table in data["families"].items()}


def load_zoo(path: Path) -> dict[str, Family]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ZooError(f"{path}: no such zoo declaration; pass --zoo-toml or restore models/zoo.toml") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ZooError(f"{path}: cannot read it ({exc})") from None
    return parse_zoo(text, path)


def select(families: dict[str, Family], names: list[str] | None, path: Path) -> list[Family]:
    """The families asked for (all when names is empty), or a ZooError naming the unknown one."""
    if not names:
        return list(families.values())
    for name in names:
        if name not in families:
            raise ZooError(f"{path}: no family {name!r}; declared: {', '.join(families)}")
    return [families[n] for n in dict.fromkeys(names)]

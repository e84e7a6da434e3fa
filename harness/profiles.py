"""Device profiles (TOML): a [device] table and a [matrix] table, validated before any job runs.

All problems in all profiles are collected and reported together, each naming the file, the key and,
where it can be found, the line.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .devices.config import SCHEMAS as DEVICE_SCHEMAS
from .devices.config import device_keys
from .errors import ProfileError

RUNTIMES = ("onnxruntime", "tflite")
PRECISIONS = ("fp32", "fp16", "int8")
MODES = ("perf", "accuracy", "profile", "ceilings")
# [device] keys per kind, from the one schema per kind (harness/devices/config.py).
DEVICE_KINDS = tuple(DEVICE_SCHEMAS)

MATRIX_KEYS: dict[str, tuple[Any, str]] = {
    "models": (list, "zoo names or model file paths"),
    "runtimes": (list, "onnxruntime, tflite"),
    "precisions": (list, "fp32, fp16, int8"),
    "threads": (list, "thread counts"),
    "modes": (list, "perf, accuracy, profile, ceilings"),
    "trials": (int, "trials per config, each a fresh process"),
    "order": (str, "interleaved | shuffled"),
    "xnnpack": (bool, "TFLite XNNPACK delegate on/off"),
    "warmup_runs": (int, "warm-up runs (at least)"),
    "warmup_time_s": ((int, float), "warm-up time (at least)"),
    "min_runs": (int, "measured runs (at least)"),
    "min_time_s": ((int, float), "measured time (at least)"),
    "max_time_s": ((int, float), "measured time (at most)"),
    "target_rel_ci": ((int, float), "stop when the median's 95% CI is within +- this fraction (0: off)"),
    "job_timeout_s": ((int, float), "a job taking longer is killed and recorded as a timeout"),
    "eval_data": (str, ".npz with x and y, for model files given by path"),
    "inter_op_threads": (int, "ONNX Runtime inter-op threads"),
}

DEFAULT_MATRIX: dict[str, Any] = {
    "models": ["digits"],
    "runtimes": ["onnxruntime", "tflite"],
    "precisions": ["fp32", "int8"],
    "threads": [1],
    "modes": ["perf", "accuracy"],
    "trials": 3,
    "order": "interleaved",
    "xnnpack": True,
    "warmup_runs": 10,
    "warmup_time_s": 0.2,
    "min_runs": 20,
    "min_time_s": 0.1,
    "max_time_s": 10.0,
    "target_rel_ci": 0.01,
    "job_timeout_s": None,
    "eval_data": None,
    "inter_op_threads": 1,
}

QUICK = {"trials": 1, "warmup_runs": 3, "warmup_time_s": 0.05, "min_runs": 20, "min_time_s": 0.1,
         "max_time_s": 2.0, "target_rel_ci": None}


@dataclass(frozen=True)
class Profile:
    path: Path
    device: dict[str, Any]
    matrix: dict[str, Any]
    text: str = field(repr=False, default="")

    @property
    def name(self) -> str:
        return self.device["name"]

    @property
    def kind(self) -> str:
        return self.device["kind"]

    @property
    def job_timeout_s(self) -> float:
        m = self.matrix
        if m.get("job_timeout_s"):
            return float(m["job_timeout_s"])
        # generous: warm-up + measuring + imports, x10 under emulation
        base = 60.0 + 2.0 * float(m["max_time_s"]) + float(m["warmup_time_s"])
        return base * (10 if self.kind == "qemu" else 1)


def _line_of(text: str, table: str, key: str) -> int | None:
    """Best effort: the line where `key =` appears inside [table]."""
    current = None
    for i, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        m = re.match(r"^\[([^\]]+)\]", s)
        if m:
            current = m.group(1).strip()
            continue
        if current == table and re.match(rf"^{re.escape(key)}\s*=", s):
            return i
    return None


def _where(path: Path, text: str, table: str, key: str) -> str:
    line = _line_of(text, table, key)
    return f"{path}:{line}" if line else str(path)


def _type_name(t: Any) -> str:
    if isinstance(t, tuple):
        return " or ".join(x.__name__.replace("float", "number") for x in t)
    return {"str": "a string", "int": "an integer", "list": "a list", "bool": "true or false"}.get(
        t.__name__, t.__name__)


def _check_table(path: Path, text: str, table: str, data: dict, allowed: dict, problems: list[str]) -> None:
    for key, value in data.items():
        if key not in allowed:
            import difflib

            close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; allowed: {', '.join(sorted(allowed))}"
            problems.append(f"{_where(path, text, table, key)}: unknown key {table}.{key}{hint}")
            continue
        typ = allowed[key][0]
        ok = isinstance(value, typ) and not (isinstance(value, bool) and typ in (int, (int, float)))
        if not ok:
            problems.append(f"{_where(path, text, table, key)}: {table}.{key} must be {_type_name(typ)}, "
                            f"not {value!r}")


def parse_profile(path: Path | str, problems: list[str]) -> Profile | None:
    """Parse and validate one profile, appending problems; returns None if it cannot be used."""
    path = Path(path)
    if not path.exists():
        problems.append(f"{path}: no such profile; see devices/ for examples (devices/local.toml)")
        return None
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"{path}: not valid TOML ({exc})")
        return None
    start = len(problems)
    for key in data:
        if key not in ("device", "matrix"):
            problems.append(f"{_where(path, text, key, key)}: unknown table [{key}]; a profile has "
                            f"[device] and [matrix]")
    device = data.get("device")
    if not isinstance(device, dict):
        problems.append(f"{path}: missing [device] table (name and kind at least)")
        return None
    kind = device.get("kind", "local")
    if kind not in DEVICE_KINDS:
        problems.append(f"{_where(path, text, 'device', 'kind')}: device.kind {kind!r} is not one of "
                        f"{', '.join(DEVICE_KINDS)}")
        return None
    allowed = device_keys(kind)
    _check_table(path, text, "device", device, allowed, problems)
    device = {"name": path.stem, "kind": kind, **device}
    if kind == "ssh" and not device.get("host"):
        problems.append(f"{path}: device.host is required for kind = 'ssh'")
    if device.get("cores") is not None and not all(isinstance(c, int) and c >= 0 for c in device["cores"]):
        problems.append(f"{_where(path, text, 'device', 'cores')}: device.cores must list core numbers >= 0")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", str(device["name"])):
        problems.append(f"{_where(path, text, 'device', 'name')}: device.name {device['name']!r} may hold "
                        f"only letters, digits, '.', '_' and '-'")

    matrix_in = data.get("matrix", {})
    if not isinstance(matrix_in, dict):
        problems.append(f"{path}: [matrix] must be a table")
        matrix_in = {}
    _check_table(path, text, "matrix", matrix_in, MATRIX_KEYS, problems)
    matrix = {**DEFAULT_MATRIX, **{k: v for k, v in matrix_in.items() if k in MATRIX_KEYS}}
    _check_matrix_values(path, text, matrix, problems)
    if len(problems) > start:
        return None
    return Profile(path=path, device=device, matrix=matrix, text=text)


def _check_matrix_values(path: Path, text: str, m: dict, problems: list[str]) -> None:
    def where(key: str) -> str:
        return _where(path, text, "matrix", key)

    for key, allowed in (("runtimes", RUNTIMES), ("precisions", PRECISIONS), ("modes", MODES)):
        if not isinstance(m.get(key), list):
            continue
        for v in m[key]:
            if v not in allowed:
                problems.append(f"{where(key)}: matrix.{key} has unknown value {v!r}; use "
                                f"{', '.join(allowed)}")
        if not m[key]:
            problems.append(f"{where(key)}: matrix.{key} is empty")
    if isinstance(m.get("threads"), list):
        if not m["threads"] or not all(isinstance(t, int) and not isinstance(t, bool) and t >= 1
                                       for t in m["threads"]):
            problems.append(f"{where('threads')}: matrix.threads must list integers >= 1")
    if isinstance(m.get("models"), list) and (not m["models"] or
                                              not all(isinstance(x, str) for x in m["models"])):
        problems.append(f"{where('models')}: matrix.models must list zoo names or model paths")
    for key in ("trials", "min_runs", "warmup_runs"):
        if isinstance(m.get(key), int) and m[key] < (1 if key != "warmup_runs" else 0):
            problems.append(f"{where(key)}: matrix.{key} must be at least 1")
    for key in ("min_time_s", "max_time_s", "warmup_time_s"):
        if isinstance(m.get(key), (int, float)) and m[key] < 0:
            problems.append(f"{where(key)}: matrix.{key} must not be negative")
    if (isinstance(m.get("min_time_s"), (int, float)) and isinstance(m.get("max_time_s"), (int, float))
            and m["max_time_s"] < m["min_time_s"]):
        problems.append(f"{where('max_time_s')}: matrix.max_time_s ({m['max_time_s']}) is below "
                        f"min_time_s ({m['min_time_s']})")
    t = m.get("target_rel_ci")
    if t is not None and isinstance(t, (int, float)) and not 0 <= t < 1:
        problems.append(f"{where('target_rel_ci')}: matrix.target_rel_ci is a fraction, e.g. 0.02 for 2% "
                        f"(0 turns the interval rule off)")
    if m.get("order") not in ("interleaved", "shuffled"):
        problems.append(f"{where('order')}: matrix.order must be 'interleaved' or 'shuffled'")


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def apply_overrides(profile: Profile, overrides: dict[str, Any], problems: list[str]) -> Profile:
    """Command-line flags replace matrix keys for this run (values already split/typed)."""
    m = dict(profile.matrix)
    if overrides.get("quick"):
        m.update(QUICK)
    for key in ("models", "runtimes", "precisions", "threads", "modes", "trials"):
        if overrides.get(key) is not None:
            m[key] = overrides[key]
    _check_matrix_values(Path(f"{profile.path} (with command-line overrides)"), "", m, problems)
    return replace(profile, matrix=m)


def overrides_from_args(args: Any, problems: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"quick": bool(getattr(args, "quick", False))}
    for key in ("models", "runtimes", "precisions", "modes"):
        v = getattr(args, key, None)
        if v:
            out[key] = _split(v)
    if getattr(args, "threads", None):
        try:
            out["threads"] = [int(t) for t in _split(args.threads)]
        except ValueError:
            problems.append(f"--threads {args.threads!r}: give comma-separated integers, e.g. 1,2")
    if getattr(args, "trials", None) is not None:
        out["trials"] = args.trials
    return out


def load_profiles(paths: list[str], overrides: dict[str, Any] | None = None) -> list[Profile]:
    """Parse, validate and override every profile; raise one ProfileError listing every problem."""
    problems: list[str] = []
    profiles = []
    for p in paths:
        prof = parse_profile(p, problems)
        if prof is not None:
            profiles.append(apply_overrides(prof, overrides or {}, problems))
    names = [p.name for p in profiles]
    for n in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"two profiles name their device {n!r}: give each a distinct device.name")
    if problems:
        raise ProfileError(format_problems(problems))
    return profiles


def format_problems(problems: list[str]) -> str:
    if len(problems) == 1:
        return problems[0]
    return f"{len(problems)} problems:\n  " + "\n  ".join(problems)

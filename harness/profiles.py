"""Device profiles (TOML): a [device] table and a [matrix] table, validated before any job runs.

All problems in all profiles are collected and reported together, each naming the file, the key and,
where it can be found, the line.
"""

from __future__ import annotations

import functools
import math
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
from .util import unknown_key_hint

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
    "pair_target": ((int, float), "more interleaved rounds until each twin pair's speedup 95% CI is within +- "
                                  "this fraction (0: off; runs of 1-2 trials are never extended)"),
    "pair_max_trials": (int, "the pair rule's limit: trials per config, the planned ones included (never "
                             "below trials)"),
    "pair_max_time_s": ((int, float), "the pair rule's limit: seconds of extra rounds"),
    "eval_data": (str, ".npz with one array per input name (or x) and labels y, for model files given by path"),
    "inter_op_threads": (int, "ONNX Runtime inter-op threads"),
    "input_shapes": (dict, "input name -> full shape, for every model; or model -> { input name -> shape }"),
    "input_ranges": (dict, "integer input name -> [low, high) of generated data; or model -> { ... }"),
}
# Top-level [[pairs]] tables: two models of the matrix to compare as twins.
PAIR_TABLE_KEYS = ("name", "separable", "standard")
MODEL_SUFFIXES = (".onnx", ".tflite")

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
    "pair_target": 0.02,
    "pair_max_trials": 12,
    "pair_max_time_s": 120.0,
    "eval_data": None,
    "inter_op_threads": 1,
    "input_shapes": {},
    "input_ranges": {},
}

# numeric [matrix] values: (low, high, low excluded); finite always (nan and inf are refused)
NUMBER_RANGES: dict[str, tuple[float, float, bool]] = {
    "warmup_time_s": (0, 3600, False),
    "min_time_s": (0, 3600, False),
    "max_time_s": (0, 3600, False),
    "job_timeout_s": (0, 7 * 86400, True),
}

QUICK = {"trials": 1, "warmup_runs": 3, "warmup_time_s": 0.05, "min_runs": 20, "min_time_s": 0.1,
         "max_time_s": 2.0, "target_rel_ci": None, "pair_target": 0}


@dataclass(frozen=True)
class Profile:
    path: Path
    device: dict[str, Any]
    matrix: dict[str, Any]
    text: str = field(repr=False, default="")
    pairs: tuple[dict[str, str], ...] = ()
    conditions: dict[str, Any] = field(default_factory=dict)  # [conditions] (harness.conditions.config)

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


_TABLE_LINE = re.compile(r"^\[([^\]]+)\]")
_KEY_LINE = re.compile(r"^([A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')\s*=")


@functools.lru_cache(maxsize=16)
def line_index(text: str) -> dict[tuple[str, str], int]:
    """(table, key) -> the first line where `key =` appears inside [table], and (table, table) -> the
    line of the [table] header; built once per profile text, so naming the line of each of thousands
    of problems stays linear."""
    index: dict[tuple[str, str], int] = {}
    current = None
    for i, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        m = _TABLE_LINE.match(s)
        if m:
            current = m.group(1).strip()
            index.setdefault((current, current), i)
            continue
        k = _KEY_LINE.match(s)
        if current is not None and k:
            index.setdefault((current, k.group(1).strip("\"'")), i)
    return index


def _line_of(text: str, table: str, key: str) -> int | None:
    """Best effort: the line where `key =` appears inside [table]."""
    return line_index(text).get((table, key)) if text else None


def _where(path: Path, text: str, table: str, key: str) -> str:
    line = _line_of(text, table, key)
    return f"{path}:{line}" if line else str(path)


def _type_name(t: Any) -> str:
    if isinstance(t, tuple):
        return " or ".join(x.__name__.replace("float", "number") for x in t)
    return {"str": "a string", "int": "an integer", "list": "a list", "bool": "true or false",
                             "dict": "a table"}.get(
        t.__name__, t.__name__)


def _check_table(path: Path, text: str, table: str, data: dict, allowed: dict, problems: list[str]) -> None:
    for key, value in data.items():
        if key not in allowed:
            hint = unknown_key_hint(key, sorted(allowed))
            problems.append(f"{_where(path, text, table, key)}: unknown key {table}.{key}{hint}")
            continue
        typ = allowed[key][0]
        ok = isinstance(value, typ) and not (isinstance(value, bool) and typ in (int, (int, float)))
        if not ok:
            problems.append(f"{_where(path, text, table, key)}: {table}.{key} must be {_type_name(typ)}, "
                            f"not {value!r}")


def _read_profile_text(path: Path, problems: list[str]) -> str | None:
    """The profile's text, or None with one line saying why it cannot be read."""
    if not path.exists():
        problems.append(f"{path}: no such profile; see devices/ for examples (devices/local.toml)")
        return None
    if not path.is_file():
        problems.append(f"{path}: is a folder or a device, not a profile file; give a .toml file")
        return None
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problems.append(f"{path}: not UTF-8 text (byte {exc.start}); save the profile as UTF-8")
    except OSError as exc:
        problems.append(f"{path}: cannot read the profile ({exc.strerror or exc})")
    return None


def parse_profile(path: Path | str, problems: list[str]) -> Profile | None:
    """Parse and validate one profile, appending problems; returns None if it cannot be used."""
    path = Path(path)
    text = _read_profile_text(path, problems)
    if text is None:
        return None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"{path}: not valid TOML ({exc})")
        return None
    except RecursionError:
        problems.append(f"{path}: not a usable profile (arrays or tables nested too deeply)")
        return None
    start = len(problems)
    for key in data:
        if key not in ("device", "matrix", "pairs", "conditions"):
            problems.append(f"{_where(path, text, key, key)}: unknown table [{key}]; a profile has "
                            f"[device], [matrix], [[pairs]] and [conditions]")
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
    pairs = _check_pairs(path, data.get("pairs", []), problems)
    conditions = _check_conditions(path, text, data.get("conditions", {}), kind, problems)
    if len(problems) > start:
        return None
    return Profile(path=path, device=device, matrix=_anchor_paths(path, matrix), text=text, pairs=pairs,
                   conditions=conditions)


def _check_conditions(path: Path, text: str, table: Any, kind: str, problems: list[str]) -> dict[str, Any]:
    """[conditions]: cooldown, governor and energy (harness.conditions.config), checked for this kind."""
    from .conditions.config import validate_conditions

    if not isinstance(table, dict):
        problems.append(f"{_where(path, text, 'conditions', 'conditions')}: [conditions] must be a table")
        return {}
    problems.extend(validate_conditions(table, lambda key: _where(path, text, "conditions", key), kind))
    return dict(table)


def _anchor(folder: Path, value: str) -> str:
    """A path written in a profile, `~` expanded, relative to the profile's folder."""
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else folder / p)


def is_model_file(name: str) -> bool:
    return Path(name).suffix.lower() in MODEL_SUFFIXES


def _anchor_paths(path: Path, m: dict[str, Any]) -> dict[str, Any]:
    """Model files and eval data named in the profile resolve against the profile's folder, so a
    profile runs the same from any working directory (command-line --models stay relative to it)."""
    folder = path.parent.resolve()
    m = dict(m)
    if isinstance(m.get("models"), list):
        m["models"] = [_anchor(folder, x) if is_model_file(x) else x for x in m["models"]]
    if m.get("eval_data"):
        m["eval_data"] = _anchor(folder, m["eval_data"])
    for key in ("input_shapes", "input_ranges"):
        m[key] = {(_anchor(folder, k) if isinstance(v, dict) and is_model_file(k) else k): v
                  for k, v in (m.get(key) or {}).items()}
    return m


def _check_pairs(path: Path, pairs: Any, problems: list[str]) -> tuple[dict[str, str], ...]:
    """[[pairs]]: each a table of name, separable and standard (model names or files of the matrix)."""
    if not isinstance(pairs, list) or not all(isinstance(p, dict) for p in pairs):
        problems.append(f"{path}: pairs must be [[pairs]] tables with name, separable and standard")
        return ()
    out = []
    folder = path.parent.resolve()
    for i, p in enumerate(pairs, start=1):
        label = f"{path}: [[pairs]] #{i}" + (f" ({p['name']!r})" if isinstance(p.get("name"), str) else "")
        bad = [k for k in PAIR_TABLE_KEYS if not isinstance(p.get(k), str) or not p[k]]
        extra = sorted(set(p) - set(PAIR_TABLE_KEYS))
        if bad or extra:
            what = f"needs {', '.join(bad)} as strings" if bad else f"has unknown key(s) {', '.join(extra)}"
            problems.append(f"{label} {what}; a pair is name, separable and standard (model names or files "
                            f"of matrix.models)")
            continue
        out.append({k: (_anchor(folder, p[k]) if k != "name" and is_model_file(p[k]) else p[k])
                    for k in PAIR_TABLE_KEYS})
    names = [p["name"] for p in out]
    for n in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{path}: two [[pairs]] are named {n!r}; give each pair its own name")
    return tuple(out)


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
    for key, (low, high, low_open) in NUMBER_RANGES.items():
        v = m.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not (
                math.isfinite(v) and (low < v if low_open else low <= v) and v <= high):
            problems.append(f"{where(key)}: matrix.{key} = {v!r} is out of range; give a number "
                            f"{'above' if low_open else 'from'} {low:g} {'up ' if low_open else ''}to {high:g}")
    if (isinstance(m.get("min_time_s"), (int, float)) and isinstance(m.get("max_time_s"), (int, float))
            and m["max_time_s"] < m["min_time_s"]):
        problems.append(f"{where('max_time_s')}: matrix.max_time_s ({m['max_time_s']}) is below "
                        f"min_time_s ({m['min_time_s']})")
    t = m.get("target_rel_ci")
    if t is not None and isinstance(t, (int, float)) and not 0 <= t < 1:
        problems.append(f"{where('target_rel_ci')}: matrix.target_rel_ci is a fraction, e.g. 0.02 for 2% "
                        f"(0 turns the interval rule off)")
    _check_pair_rule(m, where, problems)
    for key in ("input_shapes", "input_ranges"):
        for k, v in (m.get(key) or {}).items():
            if not isinstance(v, (list, dict)):
                problems.append(f"{where(key)}: matrix.{key}.{k} must be a list of integers (for the input "
                                f"named {k!r} of every model) or a table keyed by input name (for model {k!r})")
    if m.get("order") not in ("interleaved", "shuffled"):
        problems.append(f"{where('order')}: matrix.order must be 'interleaved' or 'shuffled'")


def _check_pair_rule(m: dict[str, Any], where: Any, problems: list[str]) -> None:
    t = m.get("pair_target")
    if isinstance(t, (int, float)) and not (t == t and 0 <= t < 0.5):
        problems.append(f"{where('pair_target')}: matrix.pair_target is a fraction, e.g. 0.02 for +-2% "
                        f"(0 turns the pair rule off)")
    n = m.get("pair_max_trials")
    if isinstance(n, int) and n < 1:
        problems.append(f"{where('pair_max_trials')}: matrix.pair_max_trials must be at least 1 (the rule "
                        f"never goes below matrix.trials)")
    s = m.get("pair_max_time_s")
    if isinstance(s, (int, float)) and not (s == s and 0 <= s < 86400):
        problems.append(f"{where('pair_max_time_s')}: matrix.pair_max_time_s must be between 0 and 86400 s")


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def apply_overrides(profile: Profile, overrides: dict[str, Any], problems: list[str]) -> Profile:
    """Command-line flags replace matrix keys for this run (values already split/typed)."""
    m = dict(profile.matrix)
    if overrides.get("quick"):
        m.update(QUICK)
    for key in ("models", "runtimes", "precisions", "threads", "modes", "trials", "pair_target"):
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
    if getattr(args, "pair_target", None) is not None:
        out["pair_target"] = args.pair_target
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

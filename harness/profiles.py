"""Device profiles (TOML): a [device] table and a [matrix] table, validated before any job runs.

All problems in all profiles are collected and reported together, each naming the file, the key and,
where it can be found, the line.
"""

from __future__ import annotations

import functools
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
from .matrix import (DEFAULT_MATRIX, MATRIX_KEYS, MODEL_SUFFIXES, MODES, NUMBER_RANGES, PAIR_TABLE_KEYS,  # noqa: F401
                     PRECISIONS, QUICK, RUNTIMES, check_matrix_values, is_model_file)
from .util import unknown_key_hint

# [device] keys per kind, from the one schema per kind (harness/devices/config.py).
DEVICE_KINDS = tuple(DEVICE_SCHEMAS)


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
    check_matrix_values(matrix, lambda key: _where(path, text, "matrix", key), problems)
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
    check_matrix_values(m, lambda key: f"{profile.path} (with command-line overrides)", problems)
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

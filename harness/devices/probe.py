"""The harness side of the device probe: run probe_script.py in-process for the local device, or
parse what it printed on a remote one; plus the few helpers every device kind shares.

The probe itself (probe_script.py) is stdlib-only and runs on the device; its keys are documented in
PROBE_KEYS. A remote device runs it as `python3 - [--temperature]` with the script on stdin, so
probing needs neither a workdir nor a prior upload.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import DeviceError
from . import probe_script
from ..util import tail

PROBE_SCRIPT = Path(probe_script.__file__).resolve()
PROBE_KEYS = probe_script.PROBE_KEYS
TEMPERATURE_KEYS = probe_script.TEMPERATURE_KEYS

# What a job's record gains from the readings taken just before and just after it.
JOB_TEMPERATURE_KEYS = ("temp_before_c", "temp_after_c", "throttled_before", "throttled_after")


def probe_local(python: str | None = None, timeout: float = 60.0) -> dict[str, Any]:
    """The full probe of this machine. In-process for the interpreter running the harness; another
    `python` (the one a local profile runs jobs with) runs the script itself, so its versions count."""
    if python is None or _same_python(python):
        return probe_script.collect()
    try:
        proc = subprocess.run([python, str(PROBE_SCRIPT)], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, check=False)
    except FileNotFoundError:
        raise DeviceError(f"local: {python} not found; set python = ... in the profile to a Python 3 "
                          "interpreter") from None
    except subprocess.TimeoutExpired:
        raise DeviceError(f"local: the probe with {python} took longer than {timeout:.0f}s") from None
    if proc.returncode != 0:
        raise DeviceError(f"local: the probe with {python} failed (exit {proc.returncode}): "
                          f"{tail(proc.stderr.strip(), 500)}")
    return parse_output(proc.stdout, "local")


def _same_python(python: str) -> bool:
    found = shutil.which(python) or python
    try:
        return os.path.samefile(found, sys.executable) and Path(found).absolute() == Path(sys.executable).absolute()
    except OSError:
        return False


def temperature_local() -> dict[str, Any]:
    return probe_script.temperature()


def script_text() -> str:
    return PROBE_SCRIPT.read_text(encoding="utf-8")


def stdin_argv(python: str, quick: bool = False) -> list[str]:
    """argv that runs the probe from stdin with the device's Python (send script_text() as input)."""
    return [python, "-", "--temperature"] if quick else [python, "-"]


def parse_output(stdout: str, device: str, quick: bool = False) -> dict[str, Any]:
    """The probe's JSON line -> dict, with every documented key present; DeviceError otherwise."""
    text = (stdout or "").strip()
    line = text.splitlines()[-1] if text else ""
    try:
        data = json.loads(line)
    except ValueError:
        raise DeviceError(
            f"{device}: the device probe printed no JSON (is the device's Python 3.7 or newer?):\n"
            f"{tail(text) or '(no output)'}"
        ) from None
    if not isinstance(data, dict):
        raise DeviceError(f"{device}: the device probe printed {type(data).__name__}, not an object")
    keys = TEMPERATURE_KEYS if quick else tuple(PROBE_KEYS)
    return {key: data.get(key) for key in keys}


def job_temperature_fields(before: Mapping[str, Any] | None,
                           after: Mapping[str, Any] | None) -> dict[str, Any]:
    """Flat record fields from two quick readings; None where a reading is missing."""
    before, after = before or {}, after or {}
    return {
        "temp_before_c": before.get("temp_c"),
        "temp_after_c": after.get("temp_c"),
        "throttled_before": before.get("throttled"),
        "throttled_after": after.get("throttled"),
    }


def describe(probe: Mapping[str, Any]) -> str:
    """One line for people: 'Raspberry Pi 4 Model B Rev 1.4, aarch64, 4x Cortex-A72 @1.80GHz, ...'."""
    parts = []
    board = probe.get("board_model") or probe.get("android_model")
    if board:
        parts.append(str(board))
    if probe.get("arch"):
        parts.append(str(probe["arch"]))
    if probe.get("cpu_core_types"):
        parts.append(str(probe["cpu_core_types"]))
    if probe.get("ram_total_bytes"):
        parts.append(f"{probe['ram_total_bytes'] / 2**30:.1f} GiB RAM")
    if probe.get("os_name"):
        parts.append(str(probe["os_name"]))
    if probe.get("governor"):
        parts.append(f"governor {probe['governor']}")
    if probe.get("temp_c") is not None:
        parts.append(f"{probe['temp_c']:.1f} C")
    if probe.get("throttled_flags"):
        parts.append("THROTTLED: " + ", ".join(probe["throttled_flags"]))
    versions = [f"{name} {probe[key]}" for name, key in (
        ("python", "python_version"), ("numpy", "numpy_version"),
        ("onnxruntime", "onnxruntime_version"), ("ai-edge-litert", "ai_edge_litert_version"),
        ("tflite-runtime", "tflite_runtime_version")) if probe.get(key)]
    parts.extend(versions)
    return ", ".join(parts)

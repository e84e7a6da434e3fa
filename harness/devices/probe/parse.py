"""The harness side of the device probe: the script's path and text, the argv that runs it from
stdin, the parser of what it printed, and the one-line description for people.

The probe itself (script.py) is stdlib-only and runs on the device; its keys are documented in
PROBE_KEYS. A remote device runs it as `python3 - [--temperature]` with the script on stdin, so
probing needs neither a workdir nor a prior upload.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...errors import DeviceError
from ...util import tail
from . import script

PROBE_SCRIPT = Path(script.__file__).resolve()
PROBE_KEYS = script.PROBE_KEYS
TEMPERATURE_KEYS = script.TEMPERATURE_KEYS


def script_text() -> str:
    return PROBE_SCRIPT.read_text(encoding="utf-8")


def stdin_argv(python: str, quick: bool = False) -> list[str]:
    """argv that runs the probe from stdin with the device's Python (send script_text() as input)."""
    return [python, "-", "--temperature"] if quick else [python, "-"]


def parse_probe_output(stdout: str, device: str, quick: bool = False) -> dict[str, Any]:
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

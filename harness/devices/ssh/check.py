"""`edgebench devices check` for an ssh device: what stops it from running jobs, each problem with
the command that fixes it (reachability, the workdir, free space, Python, numpy and the runtimes)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ...util import json_or_none, tail
from .remote import CHECK_SCRIPT, RUN_SCRIPT, parse_df_free
from .transport import SshError

if TYPE_CHECKING:
    from .device import SshDevice

COMMAND_TIMEOUT_S = 120.0
MIN_FREE_BYTES = 100 * 2**20
MIN_PYTHON = (3, 8)

PIP_NAMES = {"numpy": "numpy", "onnxruntime": "onnxruntime",
             "ai_edge_litert": "ai-edge-litert", "tflite_runtime": "tflite-runtime"}


# Run with the device's Python: which of the runner's imports work (numpy and the runtimes).
IMPORT_CHECK = r"""
import json, sys
out = {"python_version": list(sys.version_info[:3])}
for name in ("numpy", "onnxruntime", "ai_edge_litert.interpreter", "tflite_runtime.interpreter"):
    try:
        __import__(name)
        out[name] = "ok"
    except Exception as exc:
        out[name] = "%s: %s" % (type(exc).__name__, exc)
print(json.dumps(out))
"""


def pip_command(python: str, packages: str, force: bool = False) -> str:
    return f"{python} -m pip install {'--force-reinstall ' if force else ''}{packages}"


def with_install_hint(error: str, python: str) -> str:
    """Add the install command to a runner error that is a missing module."""
    match = re.search(r"No module named '([A-Za-z0-9_]+)", error)
    if match and match.group(1) in PIP_NAMES and "pip install" not in error:
        return f"{error} (install it on the device: `{pip_command(python, PIP_NAMES[match.group(1)])}`)"
    return error


def check_device(dev: SshDevice, runtimes: Iterable[str] = ("onnxruntime", "tflite"),
                 min_free_bytes: int = MIN_FREE_BYTES) -> list[str]:
    """Problems (strings naming the device and the fix); [] when the device is ready."""
    try:
        result = dev.call(CHECK_SCRIPT, [dev.workdir, dev.python], COMMAND_TIMEOUT_S,
                          what="checking the device")
    except SshError as exc:
        return [str(exc)]
    if not result.ok:
        return [(f"{dev.label}: the device check failed (exit {result.returncode}): "
                 f"{tail(result.stderr.strip(), 500)}")]
    facts = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    problems: list[str] = []
    user = facts.get("user") or dev.user or "the login user"
    workdir = facts.get("workdir") or dev.workdir
    if facts.get("writable") != "1":
        problems.append(
            f"{dev.label}: workdir {workdir} is not writable by {user} "
            f"({facts.get('workdir_error') or 'permission denied'}); set workdir = "
            f"\"/tmp/edgebench-{user}\" (or another folder {user} owns) in the profile, or fix its "
            f"permissions on the device (sudo chown {user} {shlex.quote(workdir)})")
    free = parse_df_free(facts.get("df", ""))
    if free is not None and free < min_free_bytes:
        problems.append(
            f"{dev.label}: only {free / 2**20:.0f} MB free on the disk of {workdir}, the runner and "
            f"models need about {min_free_bytes / 2**20:.0f} MB; free space on the device or put "
            "workdir on a bigger disk")
    if not facts.get("tar"):
        problems.append(f"{dev.label}: `tar` is missing on the device; install it (apt-get install tar)")
    if not facts.get("python"):
        problems.append(
            f"{dev.label}: {dev.python} not found on the device; install Python 3 there "
            "(sudo apt install python3 python3-venv python3-pip) or set python = \"/path/to/python3\" "
            "in the profile")
        return problems
    imports = _import_check(dev, problems)
    if imports is not None:
        problems.extend(_package_problems(dev, facts, imports, list(runtimes)))
    return problems


def _package_problems(dev: SshDevice, facts: dict[str, str], imports: dict[str, Any],
                      runtimes: list[str]) -> list[str]:
    """The device's Python too old, or numpy / a runtime missing or broken: each with the pip fix."""
    problems: list[str] = []
    version = tuple(imports.get("python_version") or ())
    if version and version < MIN_PYTHON:
        problems.append(f"{dev.label}: {facts['python']} is Python {'.'.join(map(str, version))}; "
                        f"the runner needs {'.'.join(map(str, MIN_PYTHON))} or newer: install a newer "
                        "python3 or point python = ... at one")
    missing, broken = [], []
    wanted = ["numpy"]
    if "onnxruntime" in runtimes:
        wanted.append("onnxruntime")
    for module in wanted:
        status = imports.get(module, "")
        if status != "ok":
            (missing if status.startswith("ModuleNotFoundError") else broken).append((module, status))
    if "tflite" in runtimes:
        litert = imports.get("ai_edge_litert.interpreter", "")
        fallback = imports.get("tflite_runtime.interpreter", "")
        if "ok" not in (litert, fallback):
            absent = "ModuleNotFoundError"
            if litert.startswith(absent) and fallback.startswith(absent):
                missing.append(("ai_edge_litert", litert))
            elif not litert.startswith(absent):
                broken.append(("ai_edge_litert", litert))
            else:
                broken.append(("tflite_runtime", fallback))
    if missing:
        packages = " ".join(PIP_NAMES[m] for m, _ in missing)
        note = ""
        if facts.get("arch", "").startswith(("armv6", "armv7")):
            note = (" (PyPI has no onnxruntime or ai-edge-litert wheels for 32-bit ARM: install a 64-bit "
                    "OS image, or use tflite-runtime)")
        problems.append(
            f"{dev.label}: Python packages missing for {facts['python']}: "
            f"{', '.join(m for m, _ in missing)}; install them on the device with "
            f"`{pip_command(dev.python, packages)}`{note}")
    for module, status in broken:
        problems.append(f"{dev.label}: {module} is installed but does not import ({status}); "
                        f"reinstall it on the device: "
                        f"`{pip_command(dev.python, PIP_NAMES[module.split('.')[0]], force=True)}`")
    return problems


def _import_check(dev: SshDevice, problems: list[str]) -> dict[str, Any] | None:
    result = dev.call(RUN_SCRIPT, [dev.workdir, dev.python, "-c", IMPORT_CHECK],
                      COMMAND_TIMEOUT_S, what="importing the runtimes on the device")
    data = json_or_none(result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "")
    if not result.ok or not isinstance(data, dict):
        problems.append(f"{dev.label}: {dev.python} did not run ({tail(result.stderr.strip(), 300) or 'no output'}); "
                        "check that it is Python 3 (python = ... in the profile)")
        return None
    return data

"""Probe of this host, for the local device: the stdlib probe script run by the device's python.

The on-device probe lives in probe_script.py (stdlib only, pushed to remote devices too); until it
exists, a minimal in-process probe is used.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from .base import tail

PROBE_SCRIPT = Path(__file__).resolve().parent / "probe_script.py"


def probe_local(python: str) -> dict[str, Any]:
    if PROBE_SCRIPT.exists():
        try:
            res = subprocess.run([python, str(PROBE_SCRIPT)], capture_output=True, text=True, timeout=60)
            if res.returncode == 0:
                return json.loads(res.stdout)
            return {"probe_error": tail(res.stderr, 500), **_minimal()}
        except (subprocess.TimeoutExpired, json.JSONDecodeError, OSError) as exc:
            return {"probe_error": str(exc), **_minimal()}
    return _minimal()


def _minimal() -> dict[str, Any]:
    info: dict[str, Any] = {"arch": platform.machine(), "os_name": platform.platform(),
                            "kernel": platform.release(), "cpu_cores": os.cpu_count(),
                            "python_version": platform.python_version()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["ram_total_bytes"] = int(line.split()[1]) * 1024
        gov = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
        if gov.exists():
            info["governor"] = gov.read_text().strip()
    except OSError:
        pass
    return info

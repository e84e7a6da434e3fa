"""Device transports (local, ssh, adb, qemu) behind one small interface (see base.py).

`make_device(table)` builds one from a profile's [device] table. Every device offers
`execute(job, timeout) -> dict` (the runner's result) on top of the Device protocol.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import DeviceError

_CLASSES = {
    "local": ("harness.devices.local", "LocalDevice"),
    "ssh": ("harness.devices.ssh", "SshDevice"),
    "adb": ("harness.devices.adb", "AdbDevice"),
    "qemu": ("harness.devices.qemu", "QemuDevice"),
}


def make_device(table: dict[str, Any]) -> Any:
    kind = table.get("kind", "local")
    if kind not in _CLASSES:
        raise DeviceError(f"{table.get('name')}: unknown device kind {kind!r}")
    module_name, cls_name = _CLASSES[kind]
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as exc:
        raise DeviceError(f"{table.get('name')}: device kind {kind!r} is not available ({exc})") from exc
    return cls(table)

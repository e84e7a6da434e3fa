"""The one map from a device kind to its class. Classes are imported on first use, so importing
harness.devices costs nothing and a kind whose transport cannot load fails with one clear line."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import DeviceError

if TYPE_CHECKING:
    from .base import Device

# kind -> (module, class name)
DEVICE_CLASSES: dict[str, tuple[str, str]] = {
    "local": ("harness.devices.local", "LocalDevice"),
    "qemu": ("harness.devices.qemu", "QemuDevice"),
    "ssh": ("harness.devices.ssh", "SshDevice"),
    "adb": ("harness.devices.adb", "AdbDevice"),
    "labgrid": ("harness.devices.labgrid", "LabgridDevice"),
}


def device_class(kind: str, name: Any = None) -> type[Device]:
    """The Device subclass for `kind`; a DeviceError naming the known kinds otherwise."""
    if kind not in DEVICE_CLASSES:
        raise DeviceError(f"{name}: unknown device kind {kind!r}; use one of {', '.join(DEVICE_CLASSES)}")
    module_name, cls_name = DEVICE_CLASSES[kind]
    try:
        return getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as exc:
        raise DeviceError(f"{name}: device kind {kind!r} is not available ({exc})") from exc


def make_device(table: Mapping[str, Any]) -> Device:
    """The device a profile's [device] table describes (kind defaults to local)."""
    kind = table.get("kind", "local")
    return device_class(kind, table.get("name"))(dict(table))

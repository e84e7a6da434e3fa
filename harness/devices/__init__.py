"""Devices: where the runner runs (local, qemu, ssh, adb), each a `Device` (base.py).

`make_device(table)` builds one from a profile's [device] table (registry.py). The job protocol
is devices/execute.py, upload-skipping devices/sync.py, the [device] schemas devices/config.py.
Nothing is imported here until it is used, so `import harness.devices` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import Device


def make_device(table: dict[str, Any]) -> Device:
    """The device a profile's [device] table describes (see registry.make_device)."""
    from .registry import make_device as make

    return make(table)


"""The `adb` device kind, by concern: transport.py (the adb client and its errors), probe.py (the
one-command probe and its parser), native.py (the native-tools runner), device.py (AdbDevice)."""

from ..config import AdbConfig
from .device import DEFAULT_WORKDIR, PROFILE_KEYS, AdbDevice
from .probe import parse_probe, parse_thermal, probe_command

__all__ = ["DEFAULT_WORKDIR", "PROFILE_KEYS", "AdbConfig", "AdbDevice", "parse_probe", "parse_thermal",
           "probe_command"]

"""The `ssh` device kind, by concern: transport.py (the ssh client, errors), remote.py (the fixed
scripts the device runs and their parsers), check.py (`devices check`), device.py (SshDevice)."""

from .device import PROFILE_KEYS, PrepareReport, SshDevice, runner_bundle
from .remote import parse_sha256sum
from .transport import SshError, SshLost, SshUnusable

__all__ = ["PROFILE_KEYS", "PrepareReport", "SshDevice", "SshError", "SshLost", "SshUnusable",
           "parse_sha256sum", "runner_bundle"]

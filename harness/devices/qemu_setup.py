"""Moved to harness/setup/arm64.py; this name stays only until cli.py points there (delete then)."""

from ..setup.arm64 import cmd_setup_qemu

__all__ = ["cmd_setup_qemu"]

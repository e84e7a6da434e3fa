"""The device probe: script.py runs on the device (stdlib only, shipped as probe_script.py in the
runner bundle); parse.py is the harness side (its text, argv, output parser, one-line description)."""

from __future__ import annotations

from .parse import (
    PROBE_KEYS,
    PROBE_SCRIPT,
    TEMPERATURE_KEYS,
    describe,
    parse_probe_output,
    script_text,
    stdin_argv,
)

__all__ = ["PROBE_KEYS", "PROBE_SCRIPT", "TEMPERATURE_KEYS", "describe", "parse_probe_output",
           "script_text", "stdin_argv"]

"""The command line: argparse only, each command a lazily imported harness.commands.<name>.main;
--help stays instant; --debug works before or after the command."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

from conftest import REPO, assert_clean_error, edgebench
from harness.cli import build_parser

HEAVY = ("pandas", "numpy", "onnxruntime", "ai_edge_litert", "onnx", "tensorflow")


def test_help_imports_no_heavy_module():
    code = ("import sys, json\nfrom harness.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n"
            f"    pass\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "edgebench" in proc.stdout
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize("argv", [
    ["run"], ["demo"], ["report", "R"], ["compare", "A", "B"], ["models", "list"], ["models", "build"],
    ["models", "inspect", "F"], ["devices", "check", "P"], ["devices", "setup-qemu"],
    ["import-native", "F", "--tool", "benchmark_model"],
])
def test_every_command_is_the_main_of_a_commands_module(argv):
    args = build_parser().parse_args(argv)
    module = importlib.import_module(f"harness.commands.{args.command.replace('-', '_')}")
    assert callable(module.main)
    assert args.debug is False


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_before_or_after_the_command_shows_the_traceback(tmp_path, where):
    missing = str(tmp_path / "no-such-run")
    argv = ["--debug", "report", missing] if where == "before" else ["report", missing, "--debug"]
    proc = edgebench(*argv, timeout=120)
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "RunDirError" in proc.stderr


def test_without_debug_an_error_is_one_line_and_exit_1(tmp_path):
    proc = edgebench("report", str(tmp_path / "no-such-run"), timeout=120)
    assert_clean_error(proc, "no-such-run: not a folder")
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0

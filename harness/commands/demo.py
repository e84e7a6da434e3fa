"""`edgebench demo`: the shipped digits twins on this machine, every runtime, precision and mode."""

from __future__ import annotations

import argparse

from ..paths import devices_dir
from ..profiles import load_profiles
from .run import jobs_exit_code, print_outputs

DEMO_MATRIX = {"models": ["digits"], "runtimes": ["onnxruntime", "tflite"], "precisions": ["fp32", "int8"],
               "threads": [1, 2], "modes": ["perf", "accuracy", "profile"]}


def main(args: argparse.Namespace) -> int:
    from ..execution.session import run

    profiles = load_profiles([str(devices_dir() / "local.toml")], {**DEMO_MATRIX, "quick": bool(args.quick)})
    run_dir = run(profiles, out_root=args.out, run_id=None, report=True)
    print_outputs(run_dir)
    return jobs_exit_code(run_dir)

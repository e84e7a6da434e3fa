"""`edgebench report RUN_DIR`."""

from __future__ import annotations

import argparse
from pathlib import Path


def main(args: argparse.Namespace) -> int:
    from ..report.write import report_run

    outputs = report_run(Path(args.run_dir), html=not args.no_html)
    for name, path in outputs.items():
        print(f"{name:16s} {path}")
    return 0

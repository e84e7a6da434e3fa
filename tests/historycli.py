"""The edgebench CLI with `history` registered (a no-op once harness/cli.py registers it itself).
Run as a script it is the `edgebench` command: `python tests/historycli.py history check`."""

from __future__ import annotations

import argparse
import sys


def cli_main(argv: list[str]) -> int:
    from harness import cli
    from harness.commands import history

    original = cli.build_parser

    def build() -> argparse.ArgumentParser:
        parser = original()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if "history" not in sub.choices:
            history.add_parser(sub)
        return parser

    cli.build_parser = build
    try:
        return cli.main(argv)
    finally:
        cli.build_parser = original


if __name__ == "__main__":
    sys.exit(cli_main(sys.argv[1:]))

"""`edgebench import-native FILE --tool TOOL`: one record as JSON; unread lines named on stderr."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(args: argparse.Namespace) -> int:
    from ..native import read_output_file
    from ..native_output import parse_output
    from ..records import RECORD_SCHEMA_VERSION

    path = Path(args.file)
    record = parse_output(read_output_file(path), args.tool, str(path))
    record["schema_version"] = RECORD_SCHEMA_VERSION
    record["imported_from"] = str(path)
    for item in record["unparsed_lines"]:
        print(f"{path}:{item['line']}: could not read: {item['text']}", file=sys.stderr)
    json.dump(record, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0

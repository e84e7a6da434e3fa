"""`edgebench models list|build|inspect`: the zoo's artifacts, building them, counting a file's
multiply-adds. The work is in harness/zoo and harness/manifest.py."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import ZooError
from ..util import text_table


def main(args: argparse.Namespace) -> int:
    return {"list": list_, "build": build, "inspect": inspect}[args.models_command](args)


def list_(args: argparse.Namespace) -> int:
    from ..manifest import load_manifest
    from ..zoo.commands import list_rows

    rows, problems = list_rows(verify=args.verify)
    header = ["model", "format", "precision", "size", "params", "MACs", "reference acc."]
    if args.verify:
        header.append("sha256")
    print(text_table(header, rows, right={3, 4, 5, 6}, rule=False))
    manifest = load_manifest()
    for name, fam in manifest.families.items():
        ev = fam.get("eval")
        if ev:
            print(f"eval set ({name}): {ev['path']} ({ev.get('n', '?')} images, {ev.get('layout', 'NHWC')})")
    if args.verify:
        if problems:
            raise ZooError(f"{len(problems)} file(s) do not match the manifest; first: {problems[0]}")
        print(f"verified: all {len(rows)} artifacts match their sha256 in {manifest.path}")
    return 0


def build(args: argparse.Namespace) -> int:
    from ..paths import zoo_dir, zoo_toml
    from ..zoo.build import build as build_zoo
    from ..zoo.commands import parse_formats

    results = build_zoo(Path(args.zoo_toml) if args.zoo_toml else zoo_toml(),
                        Path(args.out) if args.out else zoo_dir(),
                        families=args.family, force=args.force, formats=parse_formats(args.formats),
                        log=lambda msg: print(msg, flush=True))
    built = [r for r in results if r.status == "built"]
    print(f"{len(built)} built, {len(results) - len(built)} up to date")
    return 0


def _show_ratio(v: float | None) -> str:
    return "n/a" if v is None else (f"{v:.3f} (1/{1 / v:.2f})" if 0 < v < 1 else f"{v:.3f}")


def inspect(args: argparse.Namespace) -> int:
    from ..zoo.analyze import analyze
    from ..zoo.commands import inspect_text, ratio

    results = [analyze(args.file)] + ([analyze(args.file2)] if args.file2 else [])
    rat = ratio(results[0], results[1]) if len(results) == 2 else None
    if args.json:
        print(json.dumps({"files": results, "ratio": rat}, indent=2))
        return 0
    print("\n\n".join(inspect_text(r) for r in results))
    if rat:
        print(f"\nratio FILE/FILE2: mult-adds {_show_ratio(rat['macs'])}, params {_show_ratio(rat['params'])}")
    return 0

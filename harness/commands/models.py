"""`edgebench models list|build|inspect`: the zoo's artifacts, building them, counting a file's
multiply-adds. The work is in harness/zoo and harness/manifest.py; this module parses, calls and prints."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import ZooError
from ..util import sha256_file, text_table


def main(args: argparse.Namespace) -> int:
    return {"list": list_, "build": build, "inspect": inspect}[args.models_command](args)


def human(n: float | None) -> str:
    """Counts the way the MobileNet paper prints them: 569M, 4866M, 4.2M, 29.3M, 25.1k."""
    if n is None:
        return "-"
    if n >= 1e8:
        return f"{n / 1e6:.0f}M"
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    if n >= 1e3:
        return f"{n / 1e3:.1f}k"
    return f"{int(n)}"


def human_bytes(n: int) -> str:
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f} MiB"
    return f"{n / 1024:.0f} KiB"


# ----------------------------------------------------------------------------------------------- list

def list_(args: argparse.Namespace) -> int:
    from ..manifest import load_manifest

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


def list_rows(verify: bool = False, root: Path | None = None) -> tuple[list[list[str]], list[str]]:
    """Rows of `models list` and the problems --verify found (missing or changed files)."""
    from ..manifest import load_manifest

    manifest = load_manifest(root)
    rows, problems = [], []
    for a in manifest.artifacts:
        acc = a.get("reference_accuracy")
        row = [a["model"], a["format"], a["precision"],
               human_bytes(a["bytes"]) if a.built else "not built",
               human(a.get("params")), human(a.get("macs")),
               f"{acc * 100:.2f}%" if acc is not None else "-"]
        if verify:
            try:
                a.verify()
                row.append("ok")
            except ZooError as exc:
                row.append("MISSING" if not a.built else "MISMATCH")
                problems.append(str(exc))
        rows.append(row)
    if verify:
        for name, fam in manifest.families.items():
            ev = fam.get("eval")
            if ev:
                p = manifest.root / ev["path"]
                if not p.exists():
                    problems.append(f"{p}: eval set of {name} is missing; rebuild with "
                                    f"`edgebench models build --family {name} --force`")
                elif sha256_file(p) != ev["sha256"]:
                    problems.append(f"{p}: eval set of {name} does not match the manifest's sha256; "
                                    f"rebuild with `edgebench models build --family {name} --force`")
    return rows, problems


# ---------------------------------------------------------------------------------------------- build

def build(args: argparse.Namespace) -> int:
    from ..paths import zoo_dir, zoo_toml
    from ..zoo.build import build as build_zoo

    results = build_zoo(Path(args.zoo_toml) if args.zoo_toml else zoo_toml(),
                        Path(args.out) if args.out else zoo_dir(),
                        families=args.family, force=args.force, formats=parse_formats(args.formats),
                        log=lambda msg: print(msg, flush=True))
    built = [r for r in results if r.status == "built"]
    print(f"{len(built)} built, {len(results) - len(built)} up to date")
    return 0


def parse_formats(text: str | None) -> list[tuple[str, str]] | None:
    """'onnx-fp32,tflite-int8' -> [("onnx", "fp32"), ("tflite", "int8")]; None keeps all formats."""
    from ..zoo.config import FORMATS

    if not text:
        return None
    known = {f"{f}-{p}": (f, p) for f, p in FORMATS}
    chosen = []
    for item in (t.strip() for t in text.split(",")):
        if item not in known:
            raise ZooError(f"--formats: unknown {item!r}; choose from {', '.join(known)}")
        chosen.append(known[item])
    return chosen


# -------------------------------------------------------------------------------------------- inspect

def inspect(args: argparse.Namespace) -> int:
    from ..zoo.analyze import analyze

    results = [analyze(args.file)] + ([analyze(args.file2)] if args.file2 else [])
    rat = ratio(results[0], results[1]) if len(results) == 2 else None
    if args.json:
        print(json.dumps({"files": results, "ratio": rat}, indent=2))
        return 0
    print("\n\n".join(inspect_text(r) for r in results))
    if rat:
        print(f"\nratio FILE/FILE2: mult-adds {_show_ratio(rat['macs'])}, params {_show_ratio(rat['params'])}")
    return 0


def inspect_text(result: dict[str, Any]) -> str:
    """The per-kind table of one analyzed file (with the bytes each kind moves and its intensity),
    then its warnings."""
    from ..roofline.bytes import intensity, kind_bytes
    from ..zoo.kinds import LAYER_KINDS

    moved = kind_bytes(result)  # bytes each kind moves per inference, by the dtype the runtime moves

    def traffic(b: int, macs: int) -> list[str]:
        i = intensity(macs, b)
        return [human(b) + "B" if b else "-", f"{i:.1f}" if i is not None else "-"]

    rows = []
    for kind in LAYER_KINDS:
        k = result["kinds"][kind]
        rows.append([kind, str(k["layers"]), human(k["macs"]), human(k["params"]),
                     *traffic(moved.get(kind, {}).get("bytes", 0), k["macs"]),
                     f"{k['macs']:,}", f"{k['params']:,}"])
    t = result["total"]
    rows.append(["total", str(sum(result["kinds"][k]["layers"] for k in LAYER_KINDS)), human(t["macs"]),
                 human(t["params"]), *traffic(sum(m["bytes"] for m in moved.values()), t["macs"]),
                 f"{t['macs']:,}", f"{t['params']:,}"])
    lines = [f"{result['path']} ({result['format']})",
             text_table(["kind", "layers", "mult-adds", "params", "bytes moved", "MACs/byte", "mult-adds (exact)",
                         "params (exact)"], rows, right={1, 2, 3, 4, 5, 6, 7}, rule=False)]
    lines += [f"warning: {w}" for w in result["warnings"]]
    return "\n".join(lines)


def ratio(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float | None]:
    """FILE/FILE2 of the total multiply-adds and parameters (None where FILE2's is zero)."""
    def r(x: int, y: int) -> float | None:
        return x / y if y else None

    return {"macs": r(a["total"]["macs"], b["total"]["macs"]),
            "params": r(a["total"]["params"], b["total"]["params"])}


def _show_ratio(v: float | None) -> str:
    return "n/a" if v is None else (f"{v:.3f} (1/{1 / v:.2f})" if 0 < v < 1 else f"{v:.3f}")

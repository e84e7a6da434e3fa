"""Handlers of `edgebench models list|build|inspect`: argument plumbing and printing only; the work is
in build.py, analyze.py and harness/manifest.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ZooError
from .analyze import KINDS


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


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(r, widths))).rstrip()

    return "\n".join([line(header), *(line(r) for r in rows)])


# ----------------------------------------------------------------------------------------------- list

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
                from ..manifest import sha256_file

                p = manifest.root / ev["path"]
                if not p.exists():
                    problems.append(f"{p}: eval set of {name} is missing; rebuild with "
                                    f"`edgebench models build --family {name} --force`")
                elif sha256_file(p) != ev["sha256"]:
                    problems.append(f"{p}: eval set of {name} does not match the manifest's sha256; "
                                    f"rebuild with `edgebench models build --family {name} --force`")
    return rows, problems


# ---------------------------------------------------------------------------------------------- build

def parse_formats(text: str | None) -> list[tuple[str, str]] | None:
    """'onnx-fp32,tflite-int8' -> [("onnx", "fp32"), ("tflite", "int8")]; None keeps all formats."""
    from .config import FORMATS

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

def inspect_text(result: dict[str, Any]) -> str:
    from ..roofline.bytes import intensity, kind_bytes

    moved = kind_bytes(result)  # bytes each kind moves per inference, by the dtype the runtime moves

    def traffic(b: int, macs: int) -> list[str]:
        i = intensity(macs, b)
        return [human(b) + "B" if b else "-", f"{i:.1f}" if i is not None else "-"]

    rows = []
    for kind in KINDS:
        k = result["kinds"][kind]
        rows.append([kind, str(k["layers"]), human(k["macs"]), human(k["params"]),
                     *traffic(moved.get(kind, {}).get("bytes", 0), k["macs"]),
                     f"{k['macs']:,}", f"{k['params']:,}"])
    t = result["total"]
    rows.append(["total", str(sum(result["kinds"][k]["layers"] for k in KINDS)), human(t["macs"]),
                 human(t["params"]), *traffic(sum(m["bytes"] for m in moved.values()), t["macs"]),
                 f"{t['macs']:,}", f"{t['params']:,}"])
    lines = [f"{result['path']} ({result['format']})",
             _table(["kind", "layers", "mult-adds", "params", "bytes moved", "MACs/byte", "mult-adds (exact)",
                     "params (exact)"], rows, right={1, 2, 3, 4, 5, 6, 7})]
    lines += [f"warning: {w}" for w in result["warnings"]]
    return "\n".join(lines)


def ratio(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float | None]:
    def r(x: int, y: int) -> float | None:
        return x / y if y else None

    return {"macs": r(a["total"]["macs"], b["total"]["macs"]),
            "params": r(a["total"]["params"], b["total"]["params"])}

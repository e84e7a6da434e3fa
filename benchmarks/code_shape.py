"""The shape of harness/: modules over a line count and the longest functions, so the figures in a
review (at most 400 lines a module, functions preferably under 60) are reproducible.

    python benchmarks/code_shape.py              modules over 300 lines, the ten longest functions
    python benchmarks/code_shape.py --top 20 --over 200

A function's length is its source lines from `def` (decorators included) to its last line, nested
functions counted inside their parent and listed on their own as well.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "harness"
MODULE_LIMIT = 400
FUNCTION_LIMIT = 60


def module_sizes(package: Path) -> list[tuple[int, str]]:
    """(lines, path relative to the repository) for every module, longest first."""
    sizes = [(len(p.read_text(encoding="utf-8").splitlines()), p.relative_to(ROOT).as_posix())
             for p in package.rglob("*.py")]
    return sorted(sizes, reverse=True)


def function_lengths(package: Path) -> list[tuple[int, str]]:
    """(lines, 'path:line qualified.name') for every function and method, longest first."""
    out: list[tuple[int, str]] = []
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        _walk(tree, "", path.relative_to(ROOT).as_posix(), out)
    return sorted(out, reverse=True)


def _walk(node: ast.AST, prefix: str, rel: str, out: list[tuple[int, str]]) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            start = min([child.lineno, *(d.lineno for d in child.decorator_list)])
            name = f"{prefix}{child.name}"
            out.append((child.end_lineno - start + 1, f"{rel}:{child.lineno} {name}"))
            _walk(child, f"{name}.", rel, out)
        elif isinstance(child, ast.ClassDef):
            _walk(child, f"{prefix}{child.name}.", rel, out)
        else:
            _walk(child, prefix, rel, out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--over", type=int, default=300, help="list modules longer than this (default 300)")
    ap.add_argument("--top", type=int, default=10, help="how many of the longest functions (default 10)")
    args = ap.parse_args(argv)
    print(f"modules in harness/ over {args.over} lines (limit {MODULE_LIMIT}):")
    for lines, rel in module_sizes(PACKAGE):
        if lines > args.over:
            flag = "  OVER" if lines > MODULE_LIMIT else ""
            print(f"  {lines:5d}  {rel}{flag}")
    print(f"\nthe {args.top} longest functions (preferably under {FUNCTION_LIMIT} lines):")
    for lines, where in function_lengths(PACKAGE)[:args.top]:
        flag = "  OVER" if lines > FUNCTION_LIMIT else ""
        print(f"  {lines:5d}  {where}{flag}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

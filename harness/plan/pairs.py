"""Declared pairs: a profile's [[pairs]] tables (name, separable, standard) turn two models of the
matrix into twins, so the report pairs them exactly as it pairs a zoo family's separable and standard
models (report/pairs.py pairs configs of one family, device, runtime, precision and threads)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .configs import Config
from .validate import _matches


def apply_pairs(configs: list[Config], pairs: tuple[dict[str, str], ...], problems: list[str],
                where: str) -> list[Config]:
    """Configs with the declared pair's name as family and the side as twin; a pair naming a model that
    is not in the matrix, the same model on both sides, a model in two pairs, or two files that can
    never be compared (different runtimes or precisions) are problems."""
    if not pairs:
        return configs
    side_of: dict[str, tuple[str, str]] = {}
    for p in pairs:
        found = _sides(configs, p, problems, where)
        if found is None:
            continue
        for side, model in found.items():
            if model in side_of:
                problems.append(f"{where}: model {model!r} is in pairs {side_of[model][0]!r} and {p['name']!r}; "
                                f"a model can be in one declared pair")
                continue
            side_of[model] = (p["name"], side)
    out = []
    for c in configs:
        if c.model in side_of:
            name, side = side_of[c.model]
            c = replace(c, family=name, twin=side, declared_pair=name)
        out.append(c)
    return out


def _sides(configs: list[Config], p: dict[str, str], problems: list[str], where: str) -> dict[str, str] | None:
    """{"separable": model, "standard": model} of one pair, or None with its problems noted."""
    label = f"{where}: [[pairs]] {p['name']!r}"
    models = sorted({c.model for c in configs})
    found: dict[str, str] = {}
    for side in ("separable", "standard"):
        hits = sorted({c.model for c in configs if _matches(p[side], c)})
        if len(hits) != 1:
            why = "names no model of the matrix" if not hits else f"matches several models ({', '.join(hits)})"
            problems.append(f"{label}: {side} = {p[side]!r} {why}; name one of matrix.models "
                            f"({', '.join(models) or 'none'}) by its name or file")
            continue
        found[side] = hits[0]
    if len(found) < 2:
        return None
    if found["separable"] == found["standard"]:
        problems.append(f"{label}: separable and standard are the same model {found['separable']!r}; a pair "
                        f"compares two different models")
        return None
    kinds = {side: {(c.runtime, c.precision) for c in configs if c.model == m} for side, m in found.items()}
    if not kinds["separable"] & kinds["standard"]:
        problems.append(f"{label}: {found['separable']} runs as {_show(kinds['separable'])} and "
                        f"{found['standard']} as {_show(kinds['standard'])}; a pair compares two models of "
                        f"one format and precision: export both the same way")
        return None
    return found


def _show(kinds: set[tuple[str, Any]]) -> str:
    return ", ".join(f"{r} {p}" for r, p in sorted(kinds))

"""Where things live: the repository root, the zoo, the results. Overridable by environment."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent


def zoo_dir() -> Path:
    """Built artifacts + manifest.json. EDGEBENCH_ZOO overrides (tests build into temp dirs)."""
    return Path(os.environ.get("EDGEBENCH_ZOO", REPO_ROOT / "models" / "zoo"))


def zoo_toml() -> Path:
    return Path(os.environ.get("EDGEBENCH_ZOO_TOML", REPO_ROOT / "models" / "zoo.toml"))


def results_dir() -> Path:
    return Path(os.environ.get("EDGEBENCH_RESULTS", REPO_ROOT / "results"))


def devices_dir() -> Path:
    return REPO_ROOT / "devices"

"""The files pushed to a device so it can run `python3 -m harness.runner`: this package and
harness/__init__.py (import-free), plus the stdlib-only probe script. Nothing else of harness."""

from __future__ import annotations

from pathlib import Path

RUNNER_DIR = Path(__file__).resolve().parent
HARNESS_DIR = RUNNER_DIR.parent


def bundle_files() -> list[tuple[Path, str]]:
    """(local path, path relative to the bundle root) for every file of the runner bundle."""
    files = [(HARNESS_DIR / "__init__.py", "harness/__init__.py")]
    for path in sorted(RUNNER_DIR.glob("*.py")):
        files.append((path, f"harness/runner/{path.name}"))
    # shipped under the name the device-side scripts call it by (runner/probe_script.py)
    files.append((HARNESS_DIR / "devices" / "probe" / "script.py", "probe_script.py"))
    return files

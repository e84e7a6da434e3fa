"""Profile validation at scale: the time `load_profiles` takes to refuse a profile with N unknown
[matrix] keys (each problem names its line), and a profile of about 10 MB (one long list of models
plus unknown keys). Validation is linear: the line of every key is indexed once per profile.

    python benchmarks/profile_validation.py                  # 2,500 and 5,000 unknown keys, 10 MB
    python benchmarks/profile_validation.py --keys 20000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import benchlib as B

from harness.errors import ProfileError
from harness.profiles import load_profiles

HEAD = '[device]\nname = "box"\nkind = "local"\n[matrix]\nmodels = ["digits"]\n'


def time_validation(path: Path) -> tuple[float, int]:
    """Seconds to validate the profile, and how many problems it reported."""
    start = time.perf_counter()
    try:
        load_profiles([str(path)])
        problems = 0
    except ProfileError as exc:
        first = str(exc).split("\n", 1)[0]
        problems = int(first.split()[0]) if first.split()[0].isdigit() else 1
    return time.perf_counter() - start, problems


def unknown_keys(n: int) -> str:
    return HEAD + "".join(f"unknown_key_{i} = {i}\n" for i in range(n))


def ten_mb() -> str:
    """About 10 MB: 5,000 unknown keys with 2,000-character string values."""
    value = "x" * 2000
    return HEAD + "".join(f'unknown_key_{i} = "{value}"\n' for i in range(5000))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, action="append", help="unknown keys (repeatable; default 2500, 5000)")
    args = ap.parse_args(argv)
    cases = [(f"{n} unknown keys", unknown_keys(n)) for n in (args.keys or [2500, 5000])]
    cases.append(("10 MB profile (5000 unknown keys)", ten_mb()))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, text in cases:
            path = Path(tmp) / "box.toml"
            path.write_text(text)
            seconds, problems = time_validation(path)
            rows.append([label, f"{len(text) / 2**20:.1f}", problems, f"{seconds:.2f}"])
    print(B.table(["profile", "MB", "problems", "seconds"], rows))
    print(B.load_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

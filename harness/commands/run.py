"""`edgebench run PROFILE... | --resume RUN_DIR`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ProfileError
from ..profiles import format_problems, load_profiles, overrides_from_args
from ..records import RECORDS_FILE

# planning flags that --resume cannot take: the plan comes from RUN_DIR/run.json
_PLAN_FLAGS = (("PROFILE", "profiles"), ("--models", "models"), ("--runtime", "runtimes"),
               ("--precisions", "precisions"), ("--threads", "threads"), ("--modes", "modes"),
               ("--trials", "trials"), ("--quick", "quick"), ("--out", "out"), ("--run-id", "run_id"),
               ("--seed", "seed"), ("--pair-target", "pair_target"))


def main(args: argparse.Namespace) -> int:
    from ..execution.session import resume, run

    if args.resume:
        given = [flag for flag, attr in _PLAN_FLAGS if getattr(args, attr)]
        if given:
            raise ProfileError(f"--resume continues a run as it was planned (profiles, matrix, seed and "
                               f"folder come from RUN_DIR/run.json); drop {', '.join(given)}")
        run_dir = resume(Path(args.resume), report=not args.no_report)
    else:
        if not args.profiles:
            raise ProfileError("give at least one device profile, e.g. edgebench run devices/local.toml")
        problems: list[str] = []
        overrides = overrides_from_args(args, problems)
        if problems:
            raise ProfileError(format_problems(problems))
        profiles = load_profiles(args.profiles, overrides)
        run_dir = run(profiles, out_root=args.out, run_id=args.run_id, seed=args.seed,
                      report=not args.no_report)
    print_outputs(run_dir)
    return jobs_exit_code(run_dir)


def jobs_exit_code(run_dir: Path) -> int:
    """0 when every job's current record is ok; EXIT_JOBS_FAILED (records kept) with one line otherwise,
    so a run whose jobs all failed never passes a CI step."""
    import sys

    from ..errors import EXIT_JOBS_FAILED
    from ..records import Status, latest_per_job, read_records

    current = latest_per_job(read_records(run_dir / RECORDS_FILE).records)
    bad = [r for r in current if r.get("status") != Status.OK]
    if not bad:
        return 0
    counts = {s: sum(1 for r in bad if r.get("status") == s) for s in sorted({str(r.get("status")) for r in bad})}
    print(f"edgebench: {len(bad)} of {len(current)} jobs did not succeed "
          f"({', '.join(f'{n} {s}' for s, n in counts.items())}); their records and errors are in "
          f"{run_dir / RECORDS_FILE}", file=sys.stderr)
    return EXIT_JOBS_FAILED


def print_outputs(run_dir: Path) -> None:
    """The end of a run: how many configs carry warnings and what to do, then the paths a user opens
    next (the tables, the HTML report, the records)."""
    summary_csv = run_dir / "summary.csv"
    if summary_csv.exists():
        import pandas as pd

        from ..report import format_warnings

        summary = pd.read_csv(summary_csv)
        print(format_warnings(summary.astype(object).where(summary.notna(), None)))
    for name in ("summary.csv", "pairs.csv", "opbreakdown.csv", "report.html"):
        path = run_dir / name
        if path.exists():
            print(f"{name:16s} {path}")
    print(f"{'records':16s} {run_dir / RECORDS_FILE}")

"""`edgebench compare RUN_A RUN_B`: exit 4 (RegressionFound) on a significant slowdown or a new failure."""

from __future__ import annotations

import argparse

from ..errors import HarnessError, RegressionFound


def main(args: argparse.Namespace) -> int:
    from ..compare import COMPARE_COLUMNS, compare_runs, format_rows, load, parse_threshold

    threshold = parse_threshold(args.threshold)
    a = load(args.run_a, "RUN_A")
    b = load(args.run_b, "RUN_B")
    rows = compare_runs(a, b, threshold)
    if rows and not any(r["config_id"] in a.rows and r["config_id"] in b.rows for r in rows):
        raise HarnessError(f"{a.path} and {b.path} have no config in common; compare runs of the same "
                           f"configs (device, model, runtime, precision, threads)")
    print(f"A: {a.path}\nB: {b.path}\nthreshold: {threshold:.1%} slower median, significant at 95%")
    print(format_rows(rows))
    if args.csv:
        import pandas as pd

        from ..util import csv_safe

        csv_safe(pd.DataFrame(rows, columns=COMPARE_COLUMNS)).to_csv(args.csv, index=False)
        print(f"csv: {args.csv}")
    worse = [r for r in rows if r["mark"] == "worse"]
    failing = [r for r in rows if r["mark"] == "newly failing"]
    if worse or failing:
        parts = [f"{r['config_id']} is {r['ratio']:.2f}x slower (95% CI {r['ci_low']:.2f}-{r['ci_high']:.2f})"
                 for r in worse] + [f"{r['config_id']} newly fails" for r in failing]
        raise RegressionFound(f"regression beyond {threshold:.0%}: " + "; ".join(parts))
    return 0

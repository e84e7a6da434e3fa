"""`edgebench history`: the results store across runs (add, rebuild, check, ack, show)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

DESCRIPTION = """\
An SQLite store of every finished run (records.jsonl stays the source of truth; `rebuild` recreates
the store from run folders). Each (device, config) is a series of medians with 95% intervals, and each
twin pair a series of speedups. A change of device, model file or runtime version is a boundary: shown,
never counted as a regression. The store is $EDGEBENCH_HISTORY or results/history.sqlite unless --store.

  edgebench history add results/<run>...     add finished runs (or `import-native` JSON files)
  edgebench history check                    exit 4 on a step for the worse in the last 20 runs
  edgebench history ack STEP_ID              stop an accepted step from failing the gate
  edgebench history show --html h.html       a table here, trend plots in a self-contained page
"""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", help="the history database (default: $EDGEBENCH_HISTORY, else "
                                   "results/history.sqlite); CI caches this file")


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", help="only the series of this device (its profile name)")
    p.add_argument("--model", help="only the series of this model or family (e.g. digits)")
    p.add_argument("--threshold", default="5%",
                   help="smallest lasting change for the worse that counts as a step: slower median or "
                        "smaller speedup, as a percentage such as 5%% (default 5%%)")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `history` and its actions on the CLI's subparsers."""
    p = sub.add_parser("history", help="results over time: a store of runs, trend plots, a CI gate",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    hsub = p.add_subparsers(dest="history_command", metavar="ACTION")
    _add_store_actions(hsub)
    _add_gate_actions(hsub)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    return p


def _add_store_actions(hsub: argparse._SubParsersAction) -> None:
    """`history add` and `history rebuild`: what goes into the store."""
    q = hsub.add_parser("add", help="add finished run folders or imported native records to the store",
                        description="Adds each run folder (run.json + records.jsonl) or JSON file written by "
                                    "`edgebench import-native`. Adding a run again replaces its rows.")
    q.add_argument("paths", nargs="+", metavar="RUN_DIR", help="run folders or import-native JSON files")
    q.add_argument("--device", help="device name for imported native records (default: their own, or 'imported')")
    q.add_argument("--commit", help="git commit of the project being measured (default: run.json's git_commit)")
    q.add_argument("--branch", help="git branch of the project being measured")
    _common(q)
    q.set_defaults(func=main)

    q = hsub.add_parser("rebuild", help="recreate the store from run folders (acknowledgements are kept)",
                        description="Replaces every run and point in the store by those read from the run "
                                    "folders given, or from every folder with a run.json under the results "
                                    "root. A folder that cannot be read is named and left out.")
    q.add_argument("paths", nargs="*", metavar="RUN_DIR", help="run folders (default: all under --results)")
    q.add_argument("--results", help="results root to scan (default: results/ or $EDGEBENCH_RESULTS)")
    _common(q)
    q.set_defaults(func=main)


def _add_gate_actions(hsub: argparse._SubParsersAction) -> None:
    """`history check`, `ack` and `show`: reading the series back (the CI gate and the plots)."""
    q = hsub.add_parser("check", help="the CI gate: exit 4 when a series has a new step for the worse",
                        description="Fits a piecewise-constant level to each series (asv's step detection, "
                                    "inside each stretch without a boundary) and names every step for the "
                                    "worse beyond --threshold that began in the last --last runs of its "
                                    "series, or after --baseline. Acknowledged steps do not count. Exits 4 "
                                    "when one is found, 0 otherwise. One slow run between two at the usual level "
                                    "is an outlier, not a step; a slow newest run counts until the next run "
                                    "shows whether it lasts.")
    _filters(q)
    q.add_argument("--last", type=int, default=20, help="only steps that began in the newest N runs of a "
                                                        "series (default 20; ignored with --baseline)")
    q.add_argument("--baseline", help="only steps that began after this run (run id or git commit)")
    q.add_argument("--window", type=int, default=200, help="fit the newest N runs of each series (default 200)")
    _common(q)
    q.set_defaults(func=main)

    q = hsub.add_parser("ack", help="acknowledge steps so that `check` stops failing on them",
                        description="Marks steps (ids as `history check` prints them) as accepted, with an "
                                    "optional note; they stay on the plots.")
    q.add_argument("step_ids", nargs="+", metavar="STEP_ID")
    q.add_argument("--note", help="why the step is accepted (kept in the store)")
    q.add_argument("--threshold", default="5%", help="as given to `history check` (default 5%%)")
    q.add_argument("--window", type=int, default=200, help="as given to `history check` (default 200)")
    _common(q)
    q.set_defaults(func=main)

    q = hsub.add_parser("show", help="a table of every series, and history.html with trend plots",
                        description="Prints one row per series (runs, boundaries, latest median and interval, "
                                    "open step) and writes a self-contained history.html: one plot per series "
                                    "with the median and interval per run, steps and boundaries marked.")
    _filters(q)
    q.add_argument("--last", type=int, default=100, help="the newest N runs of each series (default 100)")
    q.add_argument("--html", help="where to write the page (default: history.html beside the store); "
                                  "'-' for none")
    _common(q)
    q.set_defaults(func=main)


def _store(args: argparse.Namespace) -> Path:
    from ..history import default_store_path

    return Path(args.store) if getattr(args, "store", None) else default_store_path()


def main(args: argparse.Namespace) -> int:
    """Run one `history` action; the exit status (EXIT_REGRESSION when `check` finds a step)."""
    from ..history import EXIT_REGRESSION, ops

    store, action = _store(args), args.history_command
    if action == "add":
        rows = ops.add_paths([Path(p) for p in args.paths], store=store, device=args.device,
                             commit=args.commit, branch=args.branch)
        print(f"added {len(args.paths)} run(s), {rows} rows -> {store}")
    elif action == "rebuild":
        from ..paths import results_dir

        paths = [Path(p) for p in args.paths] or ops.run_folders(Path(args.results) if args.results else results_dir())
        runs, rows, problems = ops.rebuild(store=store, paths=paths)
        for msg in problems:
            ops.warn(f"left out: {msg}")
        print(f"rebuilt {store}: {runs} run(s), {rows} rows")
    elif action == "check":
        steps = ops.run_check(store=store, threshold=ops.parse_threshold(args.threshold), last=args.last,
                              baseline=args.baseline, window=args.window, device=args.device, model=args.model)
        if steps:
            print(ops.steps_table(steps))
            print(f"\n{len(steps)} step(s) for the worse; accept one with `edgebench history ack STEP_ID`")
            return EXIT_REGRESSION
        print(f"no step for the worse beyond {args.threshold} ({store})")
    elif action == "ack":
        done = ops.ack(store=store, step_ids=args.step_ids, note=args.note,
                       threshold=ops.parse_threshold(args.threshold), window=args.window)
        for st in done:
            print(f"acknowledged {st.step_id}: {st.series} {st.change:+.1%} from {st.run_id}")
    elif action == "show":
        html = None if args.html == "-" else Path(args.html) if args.html else store.with_name("history.html")
        table, _series, _steps = ops.show(store=store, last=args.last, threshold=ops.parse_threshold(args.threshold),
                                          device=args.device, model=args.model, html_path=html)
        print(table)
        if html is not None:
            print(f"\n{os.fspath(html)}")
    return 0

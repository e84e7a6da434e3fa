"""The `edgebench` command line: argparse only. Each command is harness.commands.<name>.main(args),
imported lazily, so `--help` is instant (no pandas, numpy or runtimes) and its logic is a plain
library function a test can call without the CLI.

Errors: a HarnessError becomes one line on stderr and a non-zero exit; tracebacks only with --debug.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from . import __version__
from .errors import HarnessError

EPILOG = """\
Quickstart:
  edgebench demo                       benchmark the shipped digits pair on this machine
  edgebench run devices/local.toml     run a device profile (several profiles: devices run concurrently)
  edgebench report results/<run>       summary.csv, pairs.csv and report.html for a run
  edgebench compare RUN_A RUN_B        what changed between two runs (non-zero exit on regression)
  edgebench history check              did any config or twin pair step since the last runs (a CI gate)
"""


def _handler(command: str) -> Callable[[argparse.Namespace], int]:
    """harness.commands.<command>.main, imported only when that command runs."""

    def call(args: argparse.Namespace) -> int:
        return importlib.import_module(f"harness.commands.{command}").main(args)

    return call


def _debug_flag(parser: argparse.ArgumentParser, default: object = argparse.SUPPRESS) -> None:
    """--debug on every (sub)parser, so it may come before or after the command; a subparser's
    default is SUPPRESS, so it never resets a --debug given earlier on the line."""
    parser.add_argument("--debug", action="store_true", default=default, help="show tracebacks for errors")


def _add_matrix_overrides(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "matrix overrides",
        "Each flag replaces the matching key of every profile's [matrix] table for this run only; "
        "keys not overridden keep the profile's values. Values are comma-separated.",
    )
    g.add_argument("--models", help="zoo names (digits, digits-separable, mobilenet_v1_1.0_224) or "
                   "model file paths; replaces matrix.models")
    g.add_argument("--runtime", "--runtimes", dest="runtimes",
                   help="onnxruntime and/or tflite; replaces matrix.runtimes")
    g.add_argument("--precisions", help="fp32, fp16, int8; replaces matrix.precisions")
    g.add_argument("--threads", help="thread counts, e.g. 1,2; replaces matrix.threads")
    g.add_argument("--modes", help="perf, accuracy and/or profile (an ONNX Runtime per-op pass, never timed), "
                   "ceilings (the device's peak, bandwidth and per-op cost, for the roofline); "
                   "replaces matrix.modes")
    g.add_argument("--trials", type=int, help="trials per config (each a fresh process); replaces matrix.trials")
    g.add_argument("--pair-target", type=float, metavar="FRACTION",
                   help="the pair rule: after the planned trials, pair jobs (both twins timed in one "
                        "process, in alternating blocks) for each twin pair until its speedup's 95%% CI is "
                        "within +-FRACTION (default 0.02; 0 turns it off); replaces matrix.pair_target")
    g.add_argument("--quick", action="store_true",
                   help="a smoke run: 1 trial, short warm-up and measuring time (overrides the stopping "
                        "rule; explicit --trials still wins)")


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="run the benchmark matrix of one or more device profiles",
        description="Run every (model x runtime x precision x threads x mode) config of each profile, "
                    "in trials interleaved across configs, each job in a fresh process with a timeout. "
                    "Records are appended to results/<run-id>/records.jsonl as each job ends; the "
                    "summary, pairs and HTML report are written at the end. Several profiles run "
                    "their devices concurrently, one job at a time per device, into one run folder.",
    )
    p.add_argument("profiles", nargs="*", metavar="PROFILE", help="device profile TOML files")
    _add_matrix_overrides(p)
    p.add_argument("--out", help="results root (default: results/ in the repository)")
    p.add_argument("--run-id", help="name of the run folder (default: timestamp + device names)")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue an interrupted run: only the jobs without a record are run "
                        "(profiles and overrides are read from RUN_DIR/run.json)")
    p.add_argument("--no-report", action="store_true", help="skip writing the CSV/HTML report at the end")
    p.add_argument("--seed", type=int, help="seed of the trial order (recorded in run.json)")
    p.set_defaults(func=_handler("run"))


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="benchmark the shipped digits pair on this machine (no TensorFlow needed)",
        description="Runs devices/local.toml on the shipped digits twins: ONNX Runtime and LiteRT, fp32 "
                    "and int8, 1 and 2 threads, perf and accuracy, plus an ONNX Runtime profiling pass "
                    "for the per-op breakdown; ends with the table and the paths of summary.csv, "
                    "pairs.csv and report.html.",
    )
    p.add_argument("--out", help="results root (default: results/ in the repository)")
    p.add_argument("--quick", action="store_true", help="shorter measuring (a smoke test)")
    p.set_defaults(func=_handler("demo"))


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="summarise a run: summary.csv, pairs.csv, report.html",
                       description="Reads RUN_DIR/records.jsonl (skipping and naming any line it "
                                   "cannot read) and writes the tables and the HTML report into RUN_DIR.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--no-html", action="store_true", help="write the CSV files only")
    p.set_defaults(func=_handler("report"))


def _add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="what changed between two runs; non-zero exit on regression",
                       description="Joins the configs of two runs and marks each row better, worse, "
                                   "newly failing, fixed or not comparable (~: a change beyond the threshold "
                                   "that is not significant; same: within the threshold; a note "
                                   "'trials differ' when the runs ran different trial counts). Exits 4 when a "
                                   "significant slowdown exceeds "
                                   "--threshold or a config newly fails (a CI gate), 0 otherwise.")
    p.add_argument("run_a", metavar="RUN_A", help="baseline run folder")
    p.add_argument("run_b", metavar="RUN_B", help="new run folder")
    p.add_argument("--threshold", default="5%",
                   help="smallest slowdown of the median that counts as a regression, as a percentage "
                        "such as 10%% (default 5%%)")
    p.add_argument("--csv", help="also write the comparison table to this CSV file")
    p.set_defaults(func=_handler("compare"))


def _add_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="the model zoo: list, build, inspect")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION")
    q = msub.add_parser("list", help="artifacts in the manifest: formats, sizes, params, MACs, accuracy")
    q.add_argument("--verify", action="store_true", help="also check every artifact's sha256")
    q.set_defaults(func=_handler("models"))
    q = msub.add_parser("build", help="train and export families from models/zoo.toml (needs the export extra)",
                        description="Builds with Keras, trains where a dataset is given, and exports each "
                                    "twin to ONNX fp32/int8 and TFLite fp32/fp16/int8. A family whose inputs "
                                    "did not change is skipped (use --force to rebuild).")
    q.add_argument("--family", action="append", help="family name (repeatable; default: all)")
    q.add_argument("--force", action="store_true", help="rebuild even if the inputs did not change")
    q.add_argument("--zoo-toml", help="zoo declaration (default: models/zoo.toml)")
    q.add_argument("--out", help="artifact folder (default: models/zoo)")
    q.add_argument("--formats", help="export only these, comma-separated FORMAT-PRECISION "
                                     "(e.g. onnx-fp32,tflite-int8; default: all five)")
    q.set_defaults(func=_handler("models"))
    q = msub.add_parser("inspect", help="multiply-adds and params per layer kind of any .onnx/.tflite file",
                        description="Counting rule: one multiply-add counts once; BatchNorm is folded "
                                    "into the preceding convolution; bias adds and activations are not "
                                    "counted. Params: every weight plus one bias per output channel of "
                                    "each convolution and dense layer, stored in the file or not. With two "
                                    "files, prints the ratio FILE/FILE2.")
    q.add_argument("file", metavar="FILE")
    q.add_argument("file2", metavar="FILE2", nargs="?")
    q.add_argument("--json", action="store_true", help="print JSON instead of a table")
    q.set_defaults(func=_handler("models"))


def _add_devices(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("devices", help="check profiles and devices; set up emulated ARM")
    dsub = p.add_subparsers(dest="devices_command", metavar="ACTION")
    q = dsub.add_parser("check", help="validate a profile and probe its device: what is missing and how to install it")
    q.add_argument("profiles", nargs="+", metavar="PROFILE")
    q.set_defaults(func=_handler("devices"))
    q = dsub.add_parser("setup-qemu", help="build the emulated arm64 environment (qemu + sysroot + wheels)",
                        description="Fetches qemu-aarch64-static, builds an arm64 Python sysroot from "
                                    "Debian's packages, writes an ARM /proc/cpuinfo into it and installs "
                                    "aarch64 wheels. Cached: a second call takes seconds.")
    q.add_argument("--cpu", default="cortex-a72", help="emulated CPU (cortex-a72: Pi 4; cortex-a76: Pi 5)")
    q.add_argument("--dir", help="where to build it (default: ~/.cache/edgebench/arm64)")
    q.add_argument("--force", action="store_true", help="rebuild even if cached")
    q.set_defaults(func=_handler("devices"))


def _add_import_native(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import-native",
                       help="turn a saved benchmark_model / onnxruntime_perf_test output into a record",
                       description="Parses the output of TFLite's benchmark_model or onnxruntime_perf_test "
                                   "(any format they have printed over the years) and prints one record as "
                                   "JSON. Lines it cannot read are named on stderr. With --into RUN_DIR the "
                                   "record is appended to that run's records.jsonl (the next trial of its "
                                   "config) and the run's report is written again.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--tool", required=True, choices=["benchmark_model", "onnxruntime_perf_test"])
    p.add_argument("--into", metavar="RUN_DIR", help="append the record to this run and report it")
    p.add_argument("--device", help="device name for --into (default: native)")
    p.add_argument("--model", help="model name for --into (default: from the tool's Graph line or the file)")
    p.add_argument("--precision", help="fp32 | fp16 | int8 for --into (default: int8 when the name says so)")
    p.add_argument("--threads", type=int, help="threads for --into (default: what the tool printed, else 1)")
    p.set_defaults(func=_handler("import_native"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgebench",
        description="Benchmark depthwise-separable networks against their standard-convolution twins "
                    "on real devices, and put the measured speedup beside the theory.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"edgebench {__version__}")
    _debug_flag(parser, default=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_run(sub)
    _add_demo(sub)
    _add_report(sub)
    _add_compare(sub)
    _add_models(sub)
    _add_devices(sub)
    _add_import_native(sub)
    from .commands import history, lab

    history.add_parser(sub)
    lab.add_parser(sub)
    _debug_on_subcommands(parser)
    return parser


def _debug_on_subcommands(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                _debug_flag(sub)
                _debug_on_subcommands(sub)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        # `edgebench models` with no action: show that group's help
        parser.parse_args([*(argv if argv is not None else sys.argv[1:]), "--help"])
        return 2
    try:
        return int(args.func(args) or 0)
    except HarnessError as exc:
        if args.debug or os.environ.get("EDGEBENCH_DEBUG"):
            raise
        from .execution.secrets import scrub

        print(f"edgebench: error: {scrub(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("edgebench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `edgebench ... | head`: the reader left; not an error of ours
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

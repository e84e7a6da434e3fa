"""Shared helpers of the benchmark scripts: run the real runner in a fresh process, find the built zoo
artifacts, note the machine's load beside each figure, print tables."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from harness.devices.local import LocalDevice  # noqa: E402
from harness.manifest import load_manifest  # noqa: E402
from harness.records import Status  # noqa: E402

RUNTIME_OF_FORMAT = {"onnx": "onnxruntime", "tflite": "tflite"}


def load() -> float:
    """1-minute load average (2 cores here: above 2 means runnable processes wait for a core)."""
    return os.getloadavg()[0]


def load_text() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f} on {os.cpu_count()} cores"


def machine() -> str:
    """This machine as the probe describes it (CPU model, cores, RAM, OS, versions): the facts a
    benchmark README quotes come from here, never by hand."""
    from harness.devices.local import probe_local
    from harness.devices.probe import describe

    return "machine: " + describe(probe_local(sys.executable))


def median(values: Iterable[float]) -> float:
    v = sorted(x for x in values if x is not None and not math.isnan(x))
    if not v:
        return math.nan
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2.0


def built_artifacts(families: Sequence[str] | None = None, formats: Sequence[str] | None = None,
                    precisions: Sequence[str] | None = None) -> list[Any]:
    """Every artifact of the zoo whose file is built (digits ships; MobileNetV1 when built on demand)."""
    manifest = load_manifest()
    out = []
    for a in manifest.artifacts:
        if families and a["family"] not in families:
            continue
        if formats and a["format"] not in formats:
            continue
        if precisions and a["precision"] not in precisions:
            continue
        if a.built:
            out.append(a)
    return out


def artifact(model: str, fmt: str, precision: str) -> Any:
    a = load_manifest().find(model, fmt, precision)
    if a is None or not a.built:
        raise SystemExit(f"{model} {fmt} {precision} is not built; run `edgebench models build`")
    return a


def job(model_path: Path | str, runtime: str, mode: str = "perf", threads: int = 1,
        warmup: tuple[int, float] = (10, 0.1), measure: dict[str, Any] | None = None,
        eval_path: Path | str | None = None) -> dict[str, Any]:
    """A runner JOB dict (harness/runner contract)."""
    return {
        "model_path": str(model_path), "runtime": runtime, "threads": threads, "inter_op_threads": 1,
        "mode": mode, "eval_path": str(eval_path) if eval_path else None, "xnnpack": True, "cores": None,
        "warmup": {"min_runs": warmup[0], "min_time_s": warmup[1]},
        "measure": {"min_runs": 50, "min_time_s": 0.3, "max_time_s": 3.0, "target_rel_ci": None,
                    **(measure or {})},
    }


class Runner:
    """The real runner, one fresh process per job, exactly as `edgebench run` starts it locally."""

    def __init__(self) -> None:
        self.device = LocalDevice({"name": "bench", "kind": "local"})

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.device.close()

    def run(self, job_dict: dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
        t0 = time.monotonic()
        res = self.device.execute(job_dict, timeout)
        res["wall_s"] = time.monotonic() - t0
        res["load"] = load()
        if res.get("status") != Status.OK:
            raise SystemExit(f"runner job failed ({job_dict['model_path']}, {job_dict['mode']}): "
                             f"{res.get('error')}")
        return res


def run_cli(args: Sequence[str], timeout: float) -> tuple[float, subprocess.CompletedProcess]:
    """`edgebench ARGS` in a fresh process (python -m harness.cli); returns (wall seconds, result)."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                         timeout=timeout, env=env, cwd=str(REPO))
    wall = time.monotonic() - t0
    if res.returncode != 0:
        raise SystemExit(f"edgebench {' '.join(args)} failed (exit {res.returncode}):\n{res.stderr[-2000:]}")
    return wall, res


def read_records(run_dir: Path) -> list[dict[str, Any]]:
    with open(Path(run_dir) / "records.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def fmt(v: Any, spec: str = ".2f") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, str):
        return v
    return format(v, spec)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> str:
    """Fixed-width text: first column left-aligned, the rest right-aligned."""
    cells = [list(map(str, headers))] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    if title:
        lines.append(title)
    for j, r in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def short(a: Any) -> str:
    """'digits-separable onnx fp32' for an artifact."""
    return f"{a['model']} {a['format']} {a['precision']}"

"""Run folders for the history tests: real runs of the digits pair, and a sequence made from one real
run with a known step, one outlier and one runtime-version change written into its records."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO, edgebench

RUN_ARGS = ["--models", "digits", "--runtime", "onnxruntime", "--precisions", "fp32", "--threads", "1",
            "--modes", "perf", "--quick", "--no-report"]
N_RUNS, STEP_AT, OUTLIER_AT, VERSION_AT = 40, 25, 10, 32
SEPARABLE = "local/digits-separable/onnxruntime/fp32/t1"
STANDARD = "local/digits-standard/onnxruntime/fp32/t1"
SPEEDUP = "local/digits/onnxruntime/fp32/t1 speedup"


def real_run(out: Path, run_id: str, trials: int = 2) -> Path:
    proc = edgebench("run", "devices/local.toml", *RUN_ARGS, "--trials", str(trials), "--out", str(out),
                     "--run-id", run_id, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out / run_id


def history_cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`edgebench history ...` in a subprocess, as a user runs it."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, str(REPO / "tests" / "historycli.py"), *args], capture_output=True,
                          text=True, timeout=timeout, env=full_env, cwd=str(REPO))


def _scaled(latencies: list[int], factor: float) -> list[int]:
    return [int(v * factor) for v in latencies]


def synthetic_runs(template: Path, out: Path) -> list[Path]:
    """N_RUNS copies of a real run folder, an hour apart: the separable model is 6% slower from run
    STEP_AT on, 50% slower in run OUTLIER_AT alone, and from run VERSION_AT on the runtime reports
    another version with both models 10% slower (a boundary, not a regression). A +-0.4% wobble
    per run stands in for run-to-run noise."""
    meta = json.loads((template / "run.json").read_text())
    lines = [json.loads(line) for line in (template / "records.jsonl").read_text().splitlines() if line]
    start = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
    folders = []
    for i in range(N_RUNS):
        run_id = f"seq-{i:02d}"
        folder = out / run_id
        folder.mkdir(parents=True)
        wobble = 1.0 + 0.004 * ((i * 7) % 5 - 2) / 2
        recs = []
        for rec in lines:
            rec = dict(rec, run_id=run_id)
            factor = wobble
            if rec.get("config_id") == SEPARABLE:
                factor *= (1.06 if i >= STEP_AT else 1.0) * (1.5 if i == OUTLIER_AT else 1.0)
            if i >= VERSION_AT:
                factor *= 1.10
                rec["runtime_version"] = "9.9.9"
            if rec.get("latency_ns"):
                rec["latency_ns"] = _scaled(rec["latency_ns"], factor)
            recs.append(rec)
        (folder / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
        created = (start + dt.timedelta(hours=i)).isoformat()
        (folder / "run.json").write_text(json.dumps({**meta, "run_id": run_id, "created_at": created,
                                                     "git_commit": f"{i:02d}" + "c" * 38}))
        folders.append(folder)
    return folders

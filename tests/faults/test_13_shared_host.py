"""Two profiles for the same machine in one run take turns: their jobs never measure at the same time
on the same CPUs (records' started_at + duration_s do not overlap)."""

from __future__ import annotations

import datetime as dt
import json

from conftest import edgebench

MATRIX = """
[matrix]
models = ["digits-separable"]
runtimes = ["onnxruntime"]
precisions = ["fp32"]
threads = [1]
modes = ["perf"]
trials = 3
warmup_runs = 1
warmup_time_s = 0.0
min_runs = 10
min_time_s = 0.3
max_time_s = 0.5
"""


def test_two_local_profiles_in_one_run_never_measure_at_the_same_time(tmp_path):
    profiles = []
    for name in ("here-a", "here-b"):
        p = tmp_path / f"{name}.toml"
        p.write_text(f'[device]\nname = "{name}"\nkind = "local"\n' + MATRIX)
        profiles.append(str(p))
    proc = edgebench("run", *profiles, "--out", str(tmp_path / "res"), "--run-id", "r", "--no-report",
                     timeout=600)
    assert proc.returncode == 0, proc.stderr
    recs = [json.loads(line) for line in (tmp_path / "res" / "r" / "records.jsonl").read_text().splitlines()]
    assert len(recs) == 6 and all(r["status"] == "ok" for r in recs)
    assert {r["device"] for r in recs} == {"here-a", "here-b"}
    spans = sorted((dt.datetime.fromisoformat(r["started_at"]).timestamp(), r["duration_s"], r["device"])
                   for r in recs)
    for (start, dur, dev), (nxt, _, nxt_dev) in zip(spans, spans[1:]):
        assert nxt >= start + dur - 0.002, f"{dev} and {nxt_dev} overlapped: {spans}"
    assert "here-a, here-b run on the same CPUs" in proc.stderr

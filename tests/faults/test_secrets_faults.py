"""Secrets never reach what people read (records, CSV, HTML, run.json, the console), and redaction never
changes the plan that --resume runs (issue 13, findings 3 and 7)."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

from conftest import ZOO, edgebench, interrupt_after_first_record
from sshd import Sshd, need

MATRIX = """
[matrix]
models = {models}
runtimes = ["onnxruntime"]
precisions = ["fp32"]
threads = [1]
modes = ["perf"]
trials = 2
warmup_runs = 1
warmup_time_s = 0.0
min_runs = 5
min_time_s = 0.01
max_time_s = 0.3
target_rel_ci = 0
"""
SEP_ONNX = ZOO / "digits" / "digits-separable-onnx-fp32.onnx"
LONG_SECRET = "Lq8vT3nW5yR7kP2mZ4xC6bN9hJ1gF0dS"  # its tail must not survive a cut either
SECRETS = {"PGPASSWORD": "pg-S3cret-v4lue", "MYSQL_PWD": "my-Pw-12345", "SSHPASS": "sshp-Xy9Qq",
           "DATABASE_URL": "postgres://bob:dbPw9876@db.example/prod", "PRIVATEKEY": "pk-Mz81Lw0Qv",
           "AUTH": "zq7w",  # a 4-character secret
           "API_TOKEN": LONG_SECRET}


def local_profile(path: Path, models: list[str], python: str | None = None) -> Path:
    device = '[device]\nname = "box"\nkind = "local"\n' + (f"python = {json.dumps(python)}\n" if python else "")
    path.write_text(device + MATRIX.format(models=json.dumps(models)))
    return path


def env_printing_python(tmp_path: Path, fail_check: bool = False) -> Path:
    """A `python` whose runner prints the whole environment (and the long secret just before the
    2,000-character tail cut) on stderr and exits 1; everything else goes to the real python."""
    script = tmp_path / "fakepython"
    runner_test = '[ "$1" = -m ] && [ "$2" = harness.runner ]' if not fail_check else "true"
    pad = "x" * 1975
    # the check prints its secrets last (a short tail still holds them); the runner, the long secret
    # just before the cut
    said = ("env >&2; printf 'token: %s\\n" + pad + "\\n' \"$API_TOKEN\" >&2" if not fail_check else
            " ".join(f'printf "{name}=%s\\n" "${name}" >&2;' for name in SECRETS))
    script.write_text(f"""#!/bin/sh
if {runner_test}; then
  {said}
  exit 1
fi
exec {sys.executable} "$@"
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def assert_no_secret(text: str, where: str) -> None:
    for name, value in SECRETS.items():
        assert value not in text, f"{name}'s value in {where}"
    assert "dbPw9876" not in text, f"DATABASE_URL's password in {where}"
    assert LONG_SECRET[-12:] not in text, f"the tail of a cut secret in {where}"


def test_secrets_of_the_usual_names_and_any_length_never_reach_records_reports_or_console(tmp_path):
    prof = local_profile(tmp_path / "box.toml", [str(SEP_ONNX)], str(env_printing_python(tmp_path)))
    proc = edgebench("run", str(prof), "--out", str(tmp_path / "res"), "--run-id", "r", env=SECRETS)
    run_dir = tmp_path / "res" / "r"
    recs = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    assert len(recs) == 2 and all(r["status"] == "failed" for r in recs)
    assert "token: <redacted>" in recs[0]["stderr_tail"]  # the runner's output is kept...
    for name in ("records.jsonl", "summary.csv", "report.html", "run.json"):
        assert_no_secret((run_dir / name).read_text(), name)  # ...with every secret redacted
    assert_no_secret(proc.stdout + proc.stderr, "the console")


def test_devices_check_prints_a_failing_runner_stderr_without_secrets(tmp_path):
    prof = local_profile(tmp_path / "box.toml", [str(SEP_ONNX)], str(env_printing_python(tmp_path, True)))
    proc = edgebench("devices", "check", str(prof), env=SECRETS)
    assert proc.returncode != 0 and "does not run" in proc.stdout + proc.stderr
    assert_no_secret(proc.stdout + proc.stderr, "devices check")



def test_resume_works_when_a_model_folder_is_also_a_secret_value(tmp_path):
    cache = tmp_path / "m"
    cache.mkdir()
    model = cache / "mine.onnx"
    model.write_bytes(SEP_ONNX.read_bytes())
    env = {"TOKEN_CACHE_DIR": str(cache)}
    prof = local_profile(tmp_path / "box.toml", [str(model)])
    assert edgebench("run", str(prof), "--out", str(tmp_path / "res"), "--run-id", "r", "--no-report",
                     env=env).returncode == 0
    run_dir = tmp_path / "res" / "r"
    interrupt_after_first_record(run_dir)
    proc = edgebench("run", "--resume", str(run_dir), "--no-report", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "1 jobs recorded, 1 to run" in proc.stderr
    recs = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    assert len(recs) == 2 and all(r["status"] == "ok" for r in recs)
    assert str(cache) not in (run_dir / "records.jsonl").read_text()  # still redacted for people
    assert str(cache) not in (run_dir / "run.json").read_text()  # the plan holds a reference to it


def test_resume_over_ssh_keeps_the_identity_file_and_rereads_a_token_in_ssh_options(tmp_path):
    need("/usr/sbin/sshd")
    with Sshd(tmp_path / "sshd") as server:
        env = {"SSH_PRIVATE_KEY_FILE": str(server.client_key)}
        table = server.profile(name="pi", python=sys.executable, workdir=str(tmp_path / "wd"))
        table["ssh_options"] = [*server.ssh_options(), "SetEnv=HF_TOKEN=hf_Zx81Qw77Lk"]
        body = "[device]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items())
        prof = tmp_path / "pi.toml"
        prof.write_text(body + MATRIX.format(models=json.dumps([str(SEP_ONNX)])))
        proc = edgebench("run", str(prof), "--out", str(tmp_path / "res"), "--run-id", "r", "--no-report",
                         env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr
        run_dir = tmp_path / "res" / "r"
        assert "hf_Zx81Qw77Lk" not in (run_dir / "run.json").read_text()
        interrupt_after_first_record(run_dir)
        proc = edgebench("run", "--resume", str(run_dir), "--no-report", env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    recs = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    assert len(recs) == 2 and all(r["status"] == "ok" for r in recs), [r.get("error") for r in recs]
    assert "hf_Zx81Qw77Lk" not in (run_dir / "run.json").read_text() + proc.stderr
    assert os.path.exists(server.client_key)

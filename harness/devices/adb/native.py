"""The adb `native` runner: TFLite's benchmark_model / onnxruntime_perf_test on the phone, plugged
into execute.py's protocol as a launcher that builds the record itself (harness.native parses the
tools' output into the runner's record keys)."""

from __future__ import annotations

import json
import shlex
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import DeviceError
from ...native import benchmark_model_argv, onnxruntime_perf_test_argv, tool_for_runtime
from ...native_output import NativeOutputError, empty_record, parse_output
from ...native_profile import parse_ort_profile
from ...records import Status
from ...util import tail
from ..execute import Launch, failure
from .transport import COMMAND_TIMEOUT_S, reason_of

if TYPE_CHECKING:
    from .device import AdbDevice


def native_failure(status: Status, error: str, job: dict[str, Any], tool: str, output: str = "") -> dict[str, Any]:
    """execute.failure in the native tools' record shape (every key of a parsed tool record)."""
    return {**empty_record(tool), **failure(status, error, output, runtime=job.get("runtime"),
                                            mode=job.get("mode", "perf"), threads=job.get("threads"))}


def launch_native(dev: AdbDevice, job: dict[str, Any], job_dir: str, timeout: float) -> Launch:
    """Run the job's tool on the phone in `job_dir`; the Launch carries the finished record."""
    tool = tool_for_runtime(str(job.get("runtime")))
    mode = job.get("mode", "perf")
    if mode == "accuracy":
        record = empty_record(tool)
        record.update(status=Status.SKIPPED.value, mode=mode, threads=job.get("threads"),
                      error=f"{tool} measures latency only; use runner = \"python\" for accuracy")
        return Launch(res=_nothing(), record=record)
    assert dev.probed is not None
    binary = dev.tool_path(tool, dev.probed) or tool
    model = dev.device_input(job.get("model_path"))
    profile_prefix = f"{job_dir}/ort_profile" if tool == "onnxruntime_perf_test" and mode == "profile" else None
    if tool == "benchmark_model":
        argv = benchmark_model_argv(job, binary, model)
    else:
        argv = onnxruntime_perf_test_argv(job, binary, model, profile_prefix)
    cores = job.get("cores")
    if cores:
        argv = ["taskset", format(sum(1 << int(c) for c in cores), "x"), *argv]
    dev.run(["mkdir", "-p", job_dir], COMMAND_TIMEOUT_S).raise_for_status(dev.label)
    res = dev.run(dev.deadline(timeout) + argv, timeout, cwd=job_dir)
    output = res.stdout + ("\n" if res.stdout and res.stderr else "") + res.stderr
    if res.timed_out:
        return Launch(res=res, record=native_failure(
            Status.TIMEOUT, f"{dev.label}: {tool} gave no result within {timeout:.0f}s", job, tool))
    if res.returncode in (126, 127) and ("not found" in output or "ermission denied" in output):
        raise DeviceError(f"{dev.label}: cannot run {binary} on the phone ({reason_of(output)}): set "
                          f"[device] {tool} to an Android build of {tool} on this computer (it is "
                          f"pushed) or to its path on the phone")
    try:
        record = parse_output(output, tool, f"{tool} on {dev.label}")
    except NativeOutputError:
        record = native_failure(Status.FAILED, f"{dev.label}: {tool} exited {res.returncode}: "
                                f"{tail(output.strip(), 1500)}", job, tool)
    if res.returncode != 0 and record["status"] == Status.OK:
        record.update(status=Status.FAILED.value,
                      error=f"{tool} exited {res.returncode}: {tail(output.strip(), 800)}")
    record.update(mode=mode, threads=job.get("threads", record.get("threads")), affinity=cores or None,
                  native_argv=shlex.join(argv), native_output=output)
    if tool == "benchmark_model" and job.get("xnnpack") is not None:
        record["xnnpack"] = bool(job["xnnpack"])
    if profile_prefix:
        _pull_ort_profile(dev, job, job_dir, record)
    return Launch(res=res, record=record)


def _pull_ort_profile(dev: AdbDevice, job: dict[str, Any], job_dir: str, record: dict[str, Any]) -> None:
    """onnxruntime_perf_test -p PREFIX writes PREFIX_<date>.json: fetch it, keep the per-node rows."""
    res = dev.run(["ls", job_dir], COMMAND_TIMEOUT_S)
    names = sorted(n for n in res.stdout.split() if n.startswith("ort_profile") and n.endswith(".json"))
    if not names:
        record.setdefault("warnings", []).append("onnxruntime_perf_test wrote no profile file")
        return
    with tempfile.TemporaryDirectory(prefix="edgebench-adb-") as tmp:
        local = Path(tmp) / names[-1]
        dev.pull(f"{job_dir}/{names[-1]}", local)
        record["op_profile"] = parse_ort_profile(json.loads(local.read_text(encoding="utf-8")))
        if job.get("profile_ops_path"):
            shutil.copyfile(local, str(job["profile_ops_path"]))


def _nothing() -> Any:
    from ..base import CommandResult

    return CommandResult((), 0, "", "", 0.0)

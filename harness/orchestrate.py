"""`edgebench run` and `edgebench demo`: profiles -> jobs -> devices -> records on disk -> report.

Each device runs its jobs one at a time in its own thread (several profiles: devices concurrently).
Every result is appended to records.jsonl (flush + fsync) as soon as its job ends; a failure is a
record too. Ctrl-C or SIGTERM stops cleanly: the running jobs are killed and left without a record,
run.json says "interrupted", and `edgebench run --resume RUN_DIR` runs only the jobs still missing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import random
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .errors import DeviceError, DeviceLost, HarnessError, ProfileError, RunDirError, ZooError
from .jobs import Config, JobSpec, job_dict, plan_jobs, resolve_configs
from .paths import REPO_ROOT, devices_dir, results_dir
from .profiles import Profile, format_problems, load_profiles, overrides_from_args
from .progress import Progress
from .records import (RECORD_SCHEMA_VERSION, RECORDS_FILE, RUN_FILE, RUN_SCHEMA_VERSION, STATUS_SKIPPED,
                      append_record, job_key, latest_per_job, read_records, truncate_partial_line,
                      write_json_atomic)

# whole words of a variable or key name (PWD is the working directory, SSH_AUTH_SOCK a socket path)
SECRET_WORDS = ("password", "passwd", "passphrase", "token", "secret", "apikey", "key", "credential",
                "credentials")
# values too common to redact inside other strings (TOKENIZERS_PARALLELISM=false is no secret)
_TRIVIAL_VALUES = {"true", "false", "yes", "no", "on", "off", "none", "null"}


def is_secret_name(name: str) -> bool:
    """A name whose words (split on _ - . and case changes) include password, token, secret, key...:
    DB_PASSWORD, hfToken, api-key; not TOKENIZERS_PARALLELISM or KEYBOARD."""
    import re

    words = re.split(r"[_\-.\s]+|(?<=[a-z0-9])(?=[A-Z])", str(name))
    return any(w.lower() in SECRET_WORDS for w in words if w)


# ---------------------------------------------------------------------------------------------
# validation before the first job

def _load_manifest_or_none(problems: list[str]):
    from .manifest import load_manifest

    try:
        return load_manifest()
    except ZooError as exc:
        problems.append(str(exc))
        return None


def _input_spec(config: Config) -> tuple[list | None, str | None]:
    """(input shape, dtype) from the manifest, or from the ONNX graph for a model file."""
    if config.artifact:
        inp = config.artifact["inputs"][0]
        return list(inp["shape"]), inp["dtype"]
    if config.runtime == "onnxruntime":
        import onnx

        model = onnx.load(str(config.model_path), load_external_data=False)
        init = {i.name for i in model.graph.initializer}
        inputs = [i for i in model.graph.input if i.name not in init]
        dims = [d.dim_value if d.HasField("dim_value") else None
                for d in inputs[0].type.tensor_type.shape.dim]
        return dims, onnx.helper.tensor_dtype_to_np_dtype(inputs[0].type.tensor_type.elem_type).name
    return None, None


def validate_models(configs: list[Config], problems: list[str]) -> None:
    """Each model file once: exists, sha256 against the manifest, parses, input agrees with the data."""
    from .manifest import sha256_file

    seen: set[Path] = set()
    eval_shapes: dict[Path, tuple] = {}
    for c in configs:
        if c.model_path in seen:
            continue
        seen.add(c.model_path)
        if not c.model_path.exists():
            problems.append(f"{c.model_path}: model file not found")
            continue
        if c.artifact and sha256_file(c.model_path) != c.artifact["sha256"]:
            problems.append(f"{c.model_path}: sha256 does not match the zoo manifest (the file changed "
                            f"since it was built); rebuild with `edgebench models build --family "
                            f"{c.family} --force` or restore it with git")
            continue
        try:
            head = c.model_path.read_bytes()[:8]
            if c.runtime == "tflite" and head[4:8] != b"TFL3":
                raise ValueError("not a TFLite flatbuffer (no TFL3 identifier)")
            shape, _dtype = _input_spec(c)
        except Exception as exc:
            problems.append(f"{c.model_path}: cannot read the model ({exc}); is the file complete?")
            continue
        if c.eval_path is None or shape is None:
            continue
        if c.eval_path not in eval_shapes:
            if not c.eval_path.exists():
                problems.append(f"{c.eval_path}: eval data not found")
                continue
            try:
                import numpy as np

                with np.load(c.eval_path) as data:
                    eval_shapes[c.eval_path] = tuple(data["x"].shape[1:])
            except Exception as exc:
                problems.append(f"{c.eval_path}: cannot read eval data ({exc}); it needs arrays x and y")
                continue
        want = tuple(shape[1:])
        got = eval_shapes[c.eval_path]
        if len(want) != len(got) or any(w not in (None, 0) and w != g for w, g in zip(want, got)):
            problems.append(f"{c.model_path}: input shape {list(shape)} disagrees with the eval data "
                            f"{c.eval_path} (samples of shape {list(got)}); give eval data made for "
                            f"this model")


def plan(profiles: list[Profile], seed: int) -> tuple[dict[str, list[Config]], dict[str, list[JobSpec]]]:
    problems: list[str] = []
    manifest = _load_manifest_or_none(problems) if any(
        not str(m).endswith((".onnx", ".tflite")) for p in profiles for m in p.matrix["models"]) else None
    configs: dict[str, list[Config]] = {}
    jobs: dict[str, list[JobSpec]] = {}
    for prof in profiles:
        cs = resolve_configs(prof.name, prof.matrix, manifest, problems, f"{prof.path} [matrix] models")
        if not cs and not problems:
            problems.append(f"{prof.path}: the matrix selects no config (check models, runtimes, precisions)")
        configs[prof.name] = cs
        jobs[prof.name] = plan_jobs(cs, prof.matrix, seed)
    validate_models([c for cs in configs.values() for c in cs], problems)
    if problems:
        raise ProfileError(format_problems(problems))
    return configs, jobs


# ---------------------------------------------------------------------------------------------
# run folder

def git_commit() -> str | None:
    try:
        res = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if res.returncode != 0:
        return None
    return res.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def secret_values(extra: dict[str, Any] | None = None) -> list[str]:
    """Values of environment variables (and profile keys) whose names say they are secrets."""
    values = [v for k, v in os.environ.items() if is_secret_name(k)]

    def walk(obj: Any) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                if isinstance(v, str) and is_secret_name(k):
                    values.append(v)
                else:
                    walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)

    walk(extra or {})
    return sorted({v for v in values if len(v) >= 6 and v.lower() not in _TRIVIAL_VALUES},
                  key=len, reverse=True)


def scrub(obj: Any, secrets: list[str] | None = None) -> Any:
    """Redact values whose key names a secret (password, token...) and any known secret value inside
    strings, at any depth: results never carry secrets."""
    secrets = secret_values() if secrets is None else secrets
    if isinstance(obj, dict):
        return {k: ("<redacted>" if is_secret_name(k) else scrub(v, secrets))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [scrub(v, secrets) for v in obj]
    if isinstance(obj, str):
        for secret in secrets:
            if secret in obj:
                obj = obj.replace(secret, "<redacted>")
    return obj


@dataclass
class RunWriter:
    run_dir: Path
    meta: dict[str, Any]
    lock: threading.Lock = field(default_factory=threading.Lock)
    secrets: list[str] = field(default_factory=list)
    fatal: HarnessError | None = None

    def __post_init__(self) -> None:
        self.secrets = secret_values({"profiles": self.meta.get("profiles", [])})

    @property
    def records_path(self) -> Path:
        return self.run_dir / RECORDS_FILE

    def recorded_key(self, spec: JobSpec) -> tuple:
        """The job's key as its record carries it (a secret inside a model path is redacted there)."""
        return tuple(scrub(list(spec.key), self.secrets))

    def done_jobs(self, jobs: dict[str, list[JobSpec]], include_skipped: bool) -> set:
        """Planned job keys that have a current record (skipped ones only if include_skipped)."""
        if not self.records_path.exists():
            return set()
        recorded = {job_key(r) for r in latest_per_job(read_records(self.records_path).records)
                    if include_skipped or r.get("status") != STATUS_SKIPPED}
        return {j.key for js in jobs.values() for j in js if self.recorded_key(j) in recorded}

    def append(self, record: dict[str, Any]) -> None:
        """Append a record; a write that fails (disk full) stops the run with the records so far intact."""
        with self.lock:
            try:
                append_record(self.records_path, scrub(record, self.secrets))
            except OSError as exc:
                self.fatal = RunDirError(
                    f"{self.records_path}: cannot write a record ({exc.strerror or exc}); the records "
                    f"before it are intact. Free some space, then: edgebench run --resume {self.run_dir}")
                raise self.fatal from exc

    def update_meta(self, **changes: Any) -> None:
        with self.lock:
            self.meta.update(changes)
            write_json_atomic(self.run_dir / RUN_FILE, scrub(self.meta, self.secrets))


def new_run_id(profiles: list[Profile]) -> str:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return stamp + "-" + "+".join(p.name for p in profiles)


# ---------------------------------------------------------------------------------------------
# executing

def _record(spec: JobSpec, result: dict[str, Any], run_id: str, device: Any, started: float,
            duration: float) -> dict[str, Any]:
    rec = {**spec.config.identity(), **result}
    rec.update({
        "schema_version": RECORD_SCHEMA_VERSION, "run_id": run_id, "mode": spec.mode,
        "trial": spec.trial, "emulated": bool(getattr(device, "emulated", False)),
        "started_at": dt.datetime.fromtimestamp(started, dt.timezone.utc).isoformat(),
        "duration_s": round(duration, 3),
    })
    if getattr(device, "emulated", False):
        rec["emulated_cpu"] = getattr(device, "cpu", None)
    rec.setdefault("status", "failed")
    return rec


def _device_paths(device: Any, configs: list[Config]) -> dict[str, str]:
    files = sorted({c.model_path for c in configs} | {c.eval_path for c in configs if c.eval_path})
    return device.prepare(files)


RETRY_DELAYS_S = (1.0, 3.0, 9.0)  # a lost device is retried after these pauses, then given up


def _skip_rest(pending: list[JobSpec], reason: str, writer: RunWriter, device: Any,
               progress: Progress) -> None:
    for spec in pending:
        writer.append(_record(spec, {"status": STATUS_SKIPPED, "error": reason}, writer.meta["run_id"],
                              device, time.time(), 0.0))
        progress.step(spec.label() + " skipped", ok=False)


def run_device(profile: Profile, device: Any, jobs: list[JobSpec], done: set, writer: RunWriter,
               progress: Progress, stop: threading.Event, retry_delays: tuple = RETRY_DELAYS_S) -> None:
    """One device's jobs in order, one at a time; every outcome becomes a record.

    A lost connection (DeviceLost) is retried with backoff; if the device stays away, its remaining
    jobs are recorded as skipped with the reason, and the other devices go on.
    """
    pending = [j for j in jobs if j.key not in done]
    finished: set = set()
    try:
        _run_device_jobs(profile, device, pending, finished, writer, progress, stop, retry_delays)
    except RunDirError:
        stop.set()  # the records file cannot be written: stop every device, keep what is on disk
    except Exception as exc:  # a bug or an OS error in this device's thread: the others go on
        import traceback

        progress.note(f"edgebench: {profile.name}: internal error, its remaining jobs are recorded as "
                      f"failed:\n{traceback.format_exc(limit=6)}")
        rest = [j for j in pending if j.key not in finished]
        if not stop.is_set():
            try:
                for spec in rest:
                    writer.append(_record(spec, {"status": "failed",
                                                 "error": f"internal error: {type(exc).__name__}: {exc}"},
                                          writer.meta["run_id"], device, time.time(), 0.0))
                    progress.step(spec.label() + " failed", ok=False)
            except RunDirError:
                stop.set()


def _run_device_jobs(profile: Profile, device: Any, pending: list[JobSpec], finished: set, writer: RunWriter,
                     progress: Progress, stop: threading.Event, retry_delays: tuple) -> None:
    """Run the pending jobs; `finished` collects the keys that got a record."""
    if not pending:
        return
    configs = list({j.config.config_id: j.config for j in pending}.values())
    try:
        mapping = _device_paths(device, configs)
    except HarnessError as exc:
        _skip_rest(pending, f"device not ready: {exc}", writer, device, progress)
        finished.update(j.key for j in pending)
        return
    cores = profile.device.get("cores")
    timeout = profile.job_timeout_s
    for i, spec in enumerate(pending):
        if stop.is_set():
            return
        c = spec.config
        job = job_dict(spec, profile.matrix, mapping[str(c.model_path)],
                       mapping.get(str(c.eval_path)) if c.eval_path else None, cores)
        started = time.time()
        t0 = time.monotonic()
        attempts = 0
        while True:
            try:
                result = device.execute(job, timeout)
                break
            except DeviceLost as exc:
                if stop.is_set():
                    return  # interrupted while the device was away: --resume runs the rest
                if attempts >= len(retry_delays):
                    reason = (f"device {profile.name} lost after {attempts + 1} attempts: {exc}")
                    progress.note(f"edgebench: {reason}; its remaining jobs are recorded as skipped")
                    _skip_rest(pending[i:], reason, writer, device, progress)
                    finished.update(j.key for j in pending[i:])
                    return
                progress.note(f"edgebench: {profile.name}: connection lost ({exc}); retrying in "
                              f"{retry_delays[attempts]:.0f}s")
                stop.wait(retry_delays[attempts])
                attempts += 1
                try:  # the device may have come back with an empty workdir
                    mapping = _device_paths(device, configs)
                except HarnessError:
                    pass
            except HarnessError as exc:
                result = {"status": "failed", "error": str(exc)}
                break
        if stop.is_set() and result.get("status") != "ok":
            return  # killed by the interrupt: no record, so --resume runs it again
        if attempts:
            result["retries"] = attempts
        rec = _record(spec, result, writer.meta["run_id"], device, started, time.monotonic() - t0)
        writer.append(rec)
        finished.add(spec.key)
        progress.step(spec.label() + ("" if rec["status"] == "ok" else f" {rec['status']}"),
                      ok=rec["status"] == "ok")


def open_devices(profiles: list[Profile]) -> dict[str, Any]:
    """Build every device and check it can run its matrix; all problems are reported together."""
    from .devices import make_device

    devices: dict[str, Any] = {}
    problems: list[str] = []
    for prof in profiles:
        try:
            dev = make_device(prof.device)
        except HarnessError as exc:
            problems.append(str(exc))
            continue
        devices[prof.name] = dev
        try:
            problems.extend(_device_check(dev, prof.matrix["runtimes"]))
        except HarnessError as exc:
            problems.append(str(exc))
    if problems:
        close_devices(devices)
        raise DeviceError(format_problems(problems))
    return devices


def close_devices(devices: dict[str, Any]) -> None:
    for dev in devices.values():
        try:
            dev.close()
        except Exception:  # closing must never hide the run's own outcome
            pass


def execute_run(profiles: list[Profile], writer: RunWriter, jobs: dict[str, list[JobSpec]],
                done: set, devices: dict[str, Any]) -> bool:
    """Run every device concurrently; returns False if interrupted."""
    from .devices.local import kill_active

    total = sum(1 for js in jobs.values() for j in js if j.key not in done)
    progress = Progress(total)
    stop = threading.Event()
    threads: list[threading.Thread] = []
    try:
        probes = {}
        for name, dev in devices.items():
            try:
                probes[name] = dev.probe()
            except HarnessError as exc:
                probes[name] = {"probe_error": str(exc)}
            probes[name]["emulated"] = bool(getattr(dev, "emulated", False))
        writer.update_meta(devices={**writer.meta.get("devices", {}), **probes})
        threads = [threading.Thread(target=run_device, name=f"device-{p.name}",
                                    args=(p, devices[p.name], jobs[p.name], done, writer, progress, stop),
                                    daemon=True) for p in profiles]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=0.2)
        if writer.fatal is not None:
            raise writer.fatal
        return True
    except KeyboardInterrupt:
        stop.set()
        kill_active()
        for dev in devices.values():
            if hasattr(dev, "interrupt"):
                dev.interrupt()
        for t in threads:
            t.join(timeout=30)
        kill_active()
        return False
    finally:
        close_devices(devices)


class _Terminate(KeyboardInterrupt):
    pass


def _raise_interrupt(signum, frame):  # SIGTERM behaves like Ctrl-C
    raise _Terminate()


def run(profiles: list[Profile], out_root: Path | None = None, run_id: str | None = None,
        seed: int | None = None, argv: list[str] | None = None, report: bool = True) -> Path:
    seed = seed if seed is not None else random.randrange(2**31)
    _configs, jobs = plan(profiles, seed)
    out_root = Path(out_root) if out_root else results_dir()
    run_id = run_id or new_run_id(profiles)
    run_dir = out_root / run_id
    if (run_dir / RUN_FILE).exists():
        raise RunDirError(f"{run_dir}: a run with this id exists; use --resume {run_dir} to continue it "
                          f"or pick another --run-id")
    devices = open_devices(profiles)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        close_devices(devices)
        raise RunDirError(f"{run_dir}: cannot create the run folder ({exc}); pick another --out") from exc
    meta = {
        "schema_version": RUN_SCHEMA_VERSION, "edgebench_version": __version__, "run_id": run_id,
        "status": "running", "created_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "command": shlex.join(argv if argv is not None else sys.argv), "git_commit": git_commit(),
        "host": {"python": platform.python_version(), "platform": platform.platform()},
        "seed": seed, "record_schema_version": RECORD_SCHEMA_VERSION,
        "profiles": [{"path": str(p.path), "device": p.device, "matrix": p.matrix} for p in profiles],
        "planned_jobs": sum(len(v) for v in jobs.values()),
    }
    writer = RunWriter(run_dir, meta)
    writer.update_meta()
    return _execute_and_finish(profiles, writer, jobs, set(), report, devices)


@contextlib.contextmanager
def _run_lock(run_dir: Path, devices: dict[str, Any]):
    """One edgebench process writes a run folder at a time (a second --resume would duplicate jobs)."""
    import fcntl

    fh = open(run_dir / ".lock", "w")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        close_devices(devices)
        raise RunDirError(f"{run_dir}: another edgebench process is writing this run; wait for it to end "
                          f"(or stop it) before resuming") from None
    try:
        yield
    finally:
        fh.close()


def _execute_and_finish(profiles, writer: RunWriter, jobs, done: set, report: bool,
                        devices: dict[str, Any]) -> Path:
    with _run_lock(writer.run_dir, devices):
        return _execute_locked(profiles, writer, jobs, done, report, devices)


def _execute_locked(profiles, writer: RunWriter, jobs, done: set, report: bool,
                    devices: dict[str, Any]) -> Path:
    in_main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGTERM, _raise_interrupt) if in_main else None
    try:
        print(f"edgebench: run {writer.run_dir}", file=sys.stderr)
        completed = execute_run(profiles, writer, jobs, done, devices)
    except RunDirError:
        try:
            writer.update_meta(status="interrupted",
                               interrupted_at=dt.datetime.now(dt.timezone.utc).isoformat())
        except OSError:
            pass
        raise
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    if not completed:
        writer.update_meta(status="interrupted", interrupted_at=now)
        raise HarnessError(f"interrupted; the records so far are in {writer.records_path}. "
                           f"Continue with: edgebench run --resume {writer.run_dir}")
    recorded = writer.done_jobs(jobs, include_skipped=True)
    missing = [j for js in jobs.values() for j in js if j.key not in recorded]
    writer.update_meta(status="incomplete" if missing else "complete", finished_at=now)
    if report and (recorded or not missing):
        from .collect import report_run

        report_run(writer.run_dir)
    if missing:
        raise HarnessError(f"{len(missing)} job(s) have no record (first: {missing[0].label()}); "
                           f"run them with: edgebench run --resume {writer.run_dir}")
    return writer.run_dir


def resume(run_dir: Path, report: bool = True) -> Path:
    """Run the jobs of an interrupted run that have no record yet (a cut-off last line is dropped)."""
    from .profiles import Profile as P, _check_matrix_values
    from .records import load_run

    run_dir = Path(run_dir)
    if not (run_dir / RUN_FILE).exists():
        raise RunDirError(f"{run_dir}: not a run folder (no {RUN_FILE}); nothing to resume")
    meta, _ = load_run(run_dir)
    if not isinstance(meta.get("profiles"), list) or "seed" not in meta:
        raise RunDirError(f"{run_dir / RUN_FILE}: has no profiles or seed (not written by `edgebench run`, "
                          f"or damaged); start a new run instead")
    if meta.get("status") == "complete":
        print(f"edgebench: {run_dir} is complete; rerunning only jobs without a record or skipped",
              file=sys.stderr)
    problems: list[str] = []
    profiles = []
    for p in meta["profiles"]:
        _check_matrix_values(Path(p["path"]), "", p["matrix"], problems)
        profiles.append(P(path=Path(p["path"]), device=p["device"], matrix=p["matrix"]))
    if problems:
        raise ProfileError(format_problems(problems))
    _configs, jobs = plan(profiles, meta["seed"])
    records_path = run_dir / RECORDS_FILE
    if truncate_partial_line(records_path):
        print(f"edgebench: dropped a cut-off last line of {records_path}; that job runs again",
              file=sys.stderr)
    writer = RunWriter(run_dir, meta)
    done = writer.done_jobs(jobs, include_skipped=False)  # skipped jobs (device lost) run again
    devices = open_devices(profiles)
    missing = sum(1 for js in jobs.values() for j in js if j.key not in done)
    print(f"edgebench: resuming {run_dir}: {len(done)} jobs recorded, {missing} to run", file=sys.stderr)
    writer.update_meta(status="running", resumed_at=dt.datetime.now(dt.timezone.utc).isoformat(),
                       resumes=int(meta.get("resumes", 0)) + 1)
    return _execute_and_finish(profiles, writer, jobs, done, report, devices)


# ---------------------------------------------------------------------------------------------
# commands

def cmd_run(args: Any) -> int:
    if args.resume:
        given = [flag for flag, value in (
            ("PROFILE", args.profiles), ("--models", args.models), ("--runtime", args.runtimes),
            ("--precisions", args.precisions), ("--threads", args.threads), ("--modes", args.modes),
            ("--trials", args.trials), ("--quick", args.quick), ("--out", args.out),
            ("--run-id", args.run_id), ("--seed", args.seed)) if value]
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
    _print_outputs(run_dir)
    return 0


def _print_outputs(run_dir: Path) -> None:
    for name in ("summary.csv", "pairs.csv", "opbreakdown.csv", "report.html"):
        path = run_dir / name
        if path.exists():
            print(f"{name:16s} {path}")
    print(f"{'records':16s} {run_dir / RECORDS_FILE}")


def cmd_demo(args: Any) -> int:
    profiles = load_profiles([str(devices_dir() / "local.toml")], {
        "models": ["digits"], "runtimes": ["onnxruntime", "tflite"], "precisions": ["fp32", "int8"],
        "threads": [1, 2], "modes": ["perf", "accuracy", "profile"], "quick": bool(args.quick)})
    run_dir = run(profiles, out_root=args.out, run_id=None, report=True)
    _print_outputs(run_dir)
    return 0


def _device_check(dev: Any, runtimes: list[str]) -> list[str]:
    """What the device lacks to run these runtimes (every transport has check(runtimes=...))."""
    return list(dev.check(runtimes=runtimes))


def check_profiles(paths: list[str]) -> int:
    """Validate profiles and models, reach each device, list what is missing with how to fix it."""
    from .devices import make_device

    profiles = load_profiles(paths)
    plan(profiles, seed=0)
    bad = 0
    for prof in profiles:
        print(f"{prof.name} ({prof.kind}, {prof.path}): profile and models ok")
        dev = None
        try:
            dev = make_device(prof.device)
            problems = _device_check(dev, prof.matrix["runtimes"])
            info = dev.probe() if not problems else {}
        except HarnessError as exc:
            problems = [str(exc)]
            info = {}
        finally:
            if dev is not None:
                dev.close()
        if info:
            from .devices.probe import describe

            print(f"  {describe(info)}")
        for p in problems:
            print(f"  problem: {p}")
        bad += len(problems)
    if bad:
        raise HarnessError(f"{bad} problem(s) found; fix them and run `edgebench devices check` again")
    return 0

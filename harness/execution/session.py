"""A run's lifecycle: plan, open the devices, create the run folder and take its lock before writing
anything, write run.json, turn SIGTERM into an interrupt, run the devices, mark run.json complete /
incomplete / interrupted, and write the report. `resume` continues an interrupted run with only the
jobs still missing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import platform
import random
import re
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .. import __version__
from ..conditions.sysfs import ConditionError
from ..errors import HarnessError, JobsFailed, ProfileError, RunDirError
from ..paths import REPO_ROOT, results_dir
from ..plan import Config, JobSpec, plan
from ..profiles import Profile, format_problems
from ..records import RECORD_SCHEMA_VERSION, RECORDS_FILE, RUN_FILE, RUN_SCHEMA_VERSION, truncate_partial_line
from ..util import deferred_signals
from .device_loop import interrupt_devices, run_devices
from .fleet import close_devices, expand_fanout, open_devices, pin_lab_places, probe_devices
from .writer import JobKey, RunWriter

if TYPE_CHECKING:
    from ..devices.base import Device

Jobs = dict[str, list[JobSpec]]


def git_commit() -> str | None:
    """HEAD of the edgebench checkout, with -dirty when tracked files changed; None outside git."""
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


def new_run_id(profiles: list[Profile]) -> str:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return stamp + "-" + "+".join(p.name for p in profiles)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def run_meta(profiles: list[Profile], run_id: str, seed: int, jobs: Jobs, argv: list[str] | None) -> dict[str, Any]:
    """run.json of a new run: what was planned, with what, from which commit."""
    return {
        "schema_version": RUN_SCHEMA_VERSION, "edgebench_version": __version__, "run_id": run_id,
        "status": "running", "created_at": _now(),
        "command": shlex.join(argv if argv is not None else sys.argv), "git_commit": git_commit(),
        "host": {"python": platform.python_version(), "platform": platform.platform()},
        "seed": seed, "record_schema_version": RECORD_SCHEMA_VERSION,
        "profiles": [{"path": str(p.path), "device": p.device, "matrix": p.matrix,
                      **({"conditions": p.conditions} if p.conditions else {})} for p in profiles],
        "planned_jobs": sum(len(v) for v in jobs.values()),
    }


RUN_ID_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def check_run_id(run_id: str) -> str:
    """A run id is a folder name inside the results root: one path component, never . or .."""
    if not RUN_ID_RULE.fullmatch(run_id) or run_id in (".", ".."):
        raise RunDirError(f"--run-id {run_id!r}: a run id is a name (letters, digits, '.', '_', '+', '-'; "
                          f"no '/' and not '.' or '..'); choose where runs go with --out")
    return run_id


def run(profiles: list[Profile], *, out_root: Path | None = None, run_id: str | None = None,
        seed: int | None = None, argv: list[str] | None = None, report: bool = True) -> Path:
    """Plan, check the devices, run every job into a new run folder; returns the folder."""
    seed = seed if seed is not None else random.randrange(2**31)
    run_id = check_run_id(run_id) if run_id else new_run_id(profiles)
    profiles = expand_fanout(profiles)  # a lab profile with `count` becomes one profile per place
    _configs, jobs = plan(profiles, seed)
    out_root = Path(out_root) if out_root else results_dir()
    run_dir = out_root / run_id
    if (run_dir / RUN_FILE).exists():
        take_run_lock(run_dir).close()  # a run still writing it is named as such
        _refuse_existing(run_dir)
    devices = open_devices(profiles, run_id)  # a device refused (its config, its host) before anything is written
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        lock = take_run_lock(run_dir)  # before any file of the run: a second run with this id stops here
    except OSError as exc:
        close_devices(devices)
        raise RunDirError(f"{run_dir}: cannot create the run folder ({exc}); pick another --out") from exc
    except RunDirError:
        close_devices(devices)
        raise
    try:
        if (run_dir / RUN_FILE).exists():
            _refuse_existing(run_dir)
        writer = RunWriter(run_dir, run_meta(profiles, run_id, seed, jobs, argv))
        writer.update_meta()
    except RunDirError:
        close_devices(devices)
        lock.close()
        raise
    try:
        return _execute_and_finish(profiles, writer, jobs, set(), report, devices)
    finally:
        lock.close()


def _refuse_existing(run_dir: Path) -> None:
    raise RunDirError(f"{run_dir}: a run with this id exists; use --resume {run_dir} to continue it "
                      f"or pick another --run-id")


def _profiles_of(run_dir: Path, meta: dict[str, Any]) -> list[Profile]:
    """The profiles as run.json recorded them (matrix values checked again); a value left out
    because its key names a secret is read again from the profile file."""
    from ..matrix import check_matrix_values
    from .secrets import expand_references

    problems: list[str] = []
    profiles = []
    for stored in meta["profiles"]:
        p = expand_references(stored, str(run_dir / RUN_FILE))
        check_matrix_values(p["matrix"], lambda key, path=p["path"]: str(path), problems)
        device = _restore_device_secrets(Path(p["path"]), p["device"], problems)
        profiles.append(Profile(path=Path(p["path"]), device=device, matrix=p["matrix"],
                                conditions=p.get("conditions") or {}))
    if problems:
        raise ProfileError(format_problems(problems))
    return profiles


def _restore_device_secrets(path: Path, device: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    """run.json never holds a secret a profile key names; resume takes it from the profile file again."""
    from ..profiles import parse_profile
    from .secrets import has_redacted, restore_secrets

    if not has_redacted(device):
        return device
    fresh = parse_profile(path, problems)
    try:
        if fresh is None:
            raise ValueError("unreadable")
        return restore_secrets(device, fresh.device)
    except (KeyError, IndexError, ValueError, TypeError):
        problems.append(f"{path}: run.json leaves out this profile's secrets and resume reads them from "
                        f"this file, which no longer has the same [device] table; restore it as it was")
        return device


def resume(run_dir: Path, *, report: bool = True) -> Path:
    """Run the jobs of an interrupted run that have no record yet (a cut-off last line is dropped)."""
    run_dir = Path(run_dir)
    if not (run_dir / RUN_FILE).exists():
        raise RunDirError(f"{run_dir}: not a run folder (no {RUN_FILE}); nothing to resume")
    lock = take_run_lock(run_dir)
    try:
        return _resume_locked(run_dir, report)
    finally:
        lock.close()


def _resume_locked(run_dir: Path, report: bool) -> Path:
    from ..records import load_run

    meta, _ = load_run(run_dir)
    if not isinstance(meta.get("profiles"), list) or "seed" not in meta:
        raise RunDirError(f"{run_dir / RUN_FILE}: has no profiles or seed (not written by `edgebench run`, "
                          f"or damaged); start a new run instead")
    if meta.get("status") == "complete":
        print(f"edgebench: {run_dir} is complete; rerunning only jobs without a record or skipped",
              file=sys.stderr)
    profiles = _profiles_of(run_dir, meta)
    configs, jobs = plan(profiles, meta["seed"])
    records_path = run_dir / RECORDS_FILE
    if truncate_partial_line(records_path):
        print(f"edgebench: dropped a cut-off last line of {records_path}; that job runs again",
              file=sys.stderr)
    writer = RunWriter(run_dir, meta)
    check_models_unchanged(writer, [c for cs in configs.values() for c in cs])
    done = writer.done_jobs(jobs, include_skipped=False)  # skipped jobs (device lost) run again
    devices = open_devices(pin_lab_places(profiles, meta.get("devices") or {}), meta.get("run_id"))
    missing = sum(1 for js in jobs.values() for j in js if j.key not in done)
    print(f"edgebench: resuming {run_dir}: {len(done)} jobs recorded, {missing} to run", file=sys.stderr)
    try:
        writer.update_meta(status="running", resumed_at=_now(), resumes=int(meta.get("resumes", 0)) + 1)
    except RunDirError:
        close_devices(devices)
        raise
    return _execute_and_finish(profiles, writer, jobs, done, report, devices)


def check_models_unchanged(writer: RunWriter, configs: list[Config]) -> None:
    """A model file (or zoo artifact) that changed since its config's first records would mix two
    models in one config: resume refuses, naming the file and both sha256 values."""
    from ..records import latest_per_job, read_records

    if not writer.records_path.exists():
        return
    recorded: dict[str, str] = {}
    for r in latest_per_job(read_records(writer.records_path).records):
        if r.get("model_sha256") and r.get("config_id"):
            recorded.setdefault(r["config_id"], r["model_sha256"])
    for c in configs:
        then = recorded.get(c.config_id)
        if then and c.model_sha256 and then != c.model_sha256:
            raise RunDirError(f"{c.model_path}: changed since this run recorded {c.config_id} (sha256 "
                              f"{then[:12]} then, {c.model_sha256[:12]} now); restore that file, or start "
                              f"a new run for the new one")


def take_run_lock(run_dir: Path) -> IO[str]:
    """One edgebench process writes a run folder at a time (a second run or --resume would mix or
    duplicate jobs); the lock is held until the returned file is closed."""
    import fcntl

    fh = open(run_dir / ".lock", "w")  # noqa: SIM115 - held open for the whole run
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise RunDirError(f"another edgebench run is writing {run_dir}; wait for it to end (or stop it), "
                          f"then resume it with: edgebench run --resume {run_dir}") from None
    return fh


class _Terminate(KeyboardInterrupt):
    pass


def _raise_interrupt(signum: int, frame: Any) -> None:  # SIGTERM behaves like Ctrl-C
    raise _Terminate()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """In the main thread, SIGTERM raises KeyboardInterrupt, so it stops a run like Ctrl-C."""
    in_main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGTERM, _raise_interrupt) if in_main else None
    try:
        yield
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)


def _probe_and_run(profiles: list[Profile], writer: RunWriter, jobs: Jobs, done: set[JobKey],
            devices: dict[str, Device]) -> bool:
    """Probe the devices into run.json, set their [conditions], then run every device; False if
    interrupted. Puts the conditions back and closes the devices."""
    from ..conditions.hooks import ConditionHooks

    hooks: dict[str, ConditionHooks] = {}
    try:
        try:
            writer.update_meta(devices={**writer.meta.get("devices", {}), **probe_devices(devices)})
            for p in profiles:  # the governor is set here for the whole run (pair rounds included)
                hooks[p.name] = ConditionHooks(p.name, p.conditions, devices[p.name]).open()
        except KeyboardInterrupt:
            interrupt_devices(devices)
            return False
        return (run_devices(profiles, devices, jobs, done, writer, hooks=hooks)
                and _pair_rounds(profiles, devices, jobs, writer, hooks))
    finally:
        with deferred_signals():  # putting the governor back and closing are never cut short
            for h in hooks.values():
                h.close()
            close_devices(devices)


def _pair_rounds(profiles: list[Profile], devices: dict[str, Device], jobs: Jobs, writer: RunWriter,
                 hooks: dict[str, Any] | None = None) -> bool:
    """The pair stopping rule (execution/pair_rule.py): extra interleaved rounds of the twin pairs whose
    speedup is not yet within matrix.pair_target; False if interrupted."""
    from ..records import latest_per_job, read_records
    from ..stats import pair_job_medians, trial_medians_by_config
    from .pair_rule import PairRule, twin_pairs

    rules = {p.name: rule for p in profiles
             if (rule := PairRule.from_matrix(p.matrix, paired=devices[p.name].pair_jobs)) is not None}
    pairs = {name: twin_pairs(jobs[name]) for name in rules}
    if not any(pairs.values()):
        return True
    taken = {(j.config.config_id, j.mode, j.trial) for js in jobs.values() for j in js if j.mode in ("perf", "pair")}
    while True:
        records = latest_per_job(read_records(writer.records_path).records) if writer.records_path.exists() else []
        taken |= {(r["config_id"], r["mode"], int(r.get("trial") or 0)) for r in records
                  if r.get("mode") in ("perf", "pair")}
        medians = trial_medians_by_config(records)
        paired = pair_job_medians(records)
        extra = {name: rules[name].next_round(pairs[name], medians, taken, paired) for name in pairs}
        writer.update_meta(pair_rule={name: {"rule": rules[name].describe(), "pairs": rules[name].outcome}
                                      for name in rules})
        if not any(extra.values()):
            return True
        more = sum(len(v) for v in extra.values())
        print(f"edgebench: pair rule: {more} more jobs (a round of the pairs not yet within their target)",
              file=sys.stderr)
        if not run_devices(profiles, devices, {p.name: extra.get(p.name, []) for p in profiles}, set(), writer,
                           hooks=hooks):
            return False


def _execute_and_finish(profiles: list[Profile], writer: RunWriter, jobs: Jobs, done: set[JobKey],
                        report: bool, devices: dict[str, Device]) -> Path:
    """Run under the run lock the caller holds; mark run.json and report."""
    try:
        with sigterm_as_interrupt():
            print(f"edgebench: run {writer.run_dir}", file=sys.stderr)
            completed = _probe_and_run(profiles, writer, jobs, done, devices)
    except RunDirError:
        with contextlib.suppress(OSError, RunDirError):
            writer.update_meta(status="interrupted", interrupted_at=_now())
        raise
    except ConditionError as exc:  # governor_required and not settable: stopped before any job
        with contextlib.suppress(OSError, RunDirError):
            writer.update_meta(status="stopped", stopped_at=_now(), error=str(exc))
        raise
    return _finish(writer, jobs, completed, report)


def _add_to_history(run_dir: Path) -> None:
    """Every finished run joins the history store; a store that cannot take it never fails the run."""
    from ..history import add_run, default_store_path

    try:
        rows = add_run(run_dir)
    except HarnessError as exc:
        print(f"edgebench: warning: not added to the history store: {exc}", file=sys.stderr)
        return
    print(f"edgebench: added to the history store {default_store_path()} ({rows} points)", file=sys.stderr)


def _finish(writer: RunWriter, jobs: Jobs, completed: bool, report: bool) -> Path:
    """Mark run.json, write the report, and say what is left to do if anything is."""
    now = _now()
    if not completed:
        writer.update_meta(status="interrupted", interrupted_at=now)
        raise HarnessError(f"interrupted; the records so far are in {writer.records_path}. "
                           f"Continue with: edgebench run --resume {writer.run_dir}")
    recorded = writer.done_jobs(jobs, include_skipped=True)
    missing = [j for js in jobs.values() for j in js if j.key not in recorded]
    writer.update_meta(status="incomplete" if missing else "complete", finished_at=now)
    if report and (recorded or not missing):
        from ..report.write import report_run

        report_run(writer.run_dir)
    if not missing:
        _add_to_history(writer.run_dir)
    if missing:
        raise JobsFailed(f"{len(missing)} job(s) have no record (first: {missing[0].label()}); "
                           f"run them with: edgebench run --resume {writer.run_dir}")
    return writer.run_dir

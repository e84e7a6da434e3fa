"""The `ssh` device kind: a board (a Raspberry Pi, most often) reached with the system ssh client.

Files travel inside the ssh channel: a tar stream on stdin for uploads, `cat` on stdout for
downloads. scp/sftp are not used because their reading of remote paths differs between OpenSSH
versions (shell words in legacy scp, globs in sftp mode); a quoted argument means one thing everywhere.
A job is one round trip (remote.EXEC_SCRIPT): job.json in, the runner run under `timeout`, out.json
and the temperatures before and after back, as execute.py's protocol expects.

Layout of the workdir on the device (default ~/edgebench):
    runner/harness/...        the runner bundle (PYTHONPATH for `python3 -m harness.runner`)
    runner/probe_script.py    the device probe (also run before/after each job for temperatures)
    files/...                 models and eval data (files/<repo-relative path>, or files/ext/<name>)
    jobs/<id>/                one job's job.json, out.json and temperature readings (removed after)
"""

from __future__ import annotations

import json
import math
import os
import posixpath
import re
import shlex
import tarfile
import tempfile
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ...errors import DeviceError, DeviceUnusable
from ...paths import REPO_ROOT
from ...util import json_or_none, tail
from .. import probe as probe_mod
from ..base import CommandResult, Device
from ..config import SshConfig
from ..execute import DEADLINE_EXITS, INPUT_KEYS, Launch, execute_job
from ..sync import Sync, SyncReport, Upload
from . import remote as scripts
from .check import MIN_FREE_BYTES, check_device, with_install_hint
from .remote import EXIT_WORKDIR, confine, parse_df_free, parse_sha256sum, split_sections
from .transport import SshError, SshTransport

COMMAND_TIMEOUT_S = 120.0          # short housekeeping calls (hashing, mkdir, probe)
MIN_TRANSFER_BYTES_PER_S = 256 * 1024  # a slow Wi-Fi link; sizes the transfer timeouts
JOB_MARGIN_S = 60.0                # runner start-up, temperature readings and the result's way back

RUNNER_DIR = "runner"
FILES_DIR = "files"
JOBS_DIR = "jobs"
PROBE_REL = "runner/probe_script.py"  # where the bundle puts the probe (added when it does not)

# Profile keys this kind reads from [device] (the schema is config.SshConfig).
PROFILE_KEYS = ("name", "kind", "host", "user", "port", "identity", "ssh_config", "ssh_options",
                "connect_timeout", "python", "workdir", "cleanup", "cores", "allow_local_commands")

PrepareReport = SyncReport  # what one prepare() sent: device paths relative to the workdir


class SshDevice(SshTransport, Device):
    """A device reached with the system ssh client, built from a profile's [device] table
    (config.SshConfig). `source` (the profile file) anchors relative identity/ssh_config paths and
    prefixes error messages; `bundle` replaces the runner bundle."""

    kind = "ssh"

    def __init__(self, table: Mapping[str, Any], *, source: str | Path | None = None,
                 bundle: Sequence[tuple[Path, str]] | None = None):
        super().__init__(SshConfig.from_table(table, source))
        self.python: str = self.config.python
        self.workdir: str = self.config.workdir
        self.cleanup_on_close: bool = self.config.cleanup
        self.cores = self.config.cores
        self.bundle = bundle
        self.last_prepare: PrepareReport | None = None
        self.paths: dict[str, str] = {}  # local path (as given, and resolved) -> device path
        self._workdir_abs: str | None = None
        self._rel_of: dict[str, str] = {}
        self._active_job: str | None = None
        self._sync = Sync(self.label, self._remote_hashes, self._upload_tar, remember=False)

    def __repr__(self) -> str:
        return f"SshDevice({self.label})"

    # the transport's primitives --------------------------------------------------------------------
    def run(self, argv: Sequence[str], timeout: float) -> CommandResult:
        """Run argv on the device (in the workdir when it exists). A timeout is a result, not an error."""
        if isinstance(argv, str):
            raise TypeError("run() takes an argument list, not a shell string")
        try:
            return self.call(scripts.RUN_SCRIPT, [self._workdir_arg(), *argv], timeout, what=shlex.join(argv))
        except SshError as exc:
            if exc.reason != "command-timeout":
                raise
            return CommandResult(argv=tuple(argv), returncode=None, stdout="", stderr=str(exc),
                                 duration_s=float(timeout), timed_out=True)

    def push(self, local: Path, remote: str) -> None:
        local = Path(local)
        target = self.device_path(remote)
        size = local.stat().st_size
        with open(local, "rb") as fh:
            result = self.call(scripts.WRITE_SCRIPT, [target], self._transfer_timeout(size),
                               what=f"uploading {local.name}", stdin=fh)
        self._raise_for_storage(result, f"uploading {local} to {target}", size)

    def pull(self, remote: str, local: Path) -> None:
        local = Path(local)
        source = self.device_path(remote)
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(local.name + ".part")
        with open(tmp, "wb") as fh:
            result = self.call(scripts.READ_SCRIPT, [source], COMMAND_TIMEOUT_S + self._transfer_timeout(0),
                               what=f"downloading {source}", stdout_file=fh)
        if not result.ok:
            tmp.unlink(missing_ok=True)
            raise DeviceError(f"{self.label}: cannot download {source}: {tail(result.stderr.strip(), 300)}")
        os.replace(tmp, local)

    def interrupt(self) -> None:
        """Ctrl-C: stop the job in flight, here (the ssh client) and on the device (its runner)."""
        jobdir, base = self._active_job, self._workdir_abs
        self.kill_calls()
        if jobdir and base:
            pattern = re.escape(jobdir) + "/job\\.json"  # the runner's argv, not the script's own
            try:
                self.call(scripts.INTERRUPT_SCRIPT, [base, jobdir, pattern], 15 + self.connect_timeout,
                          what="stopping the job on the device")
            except DeviceError:
                pass

    def close(self) -> None:
        """Remove the workdir when the profile says cleanup = true (a lost device is left as is)."""
        if self.cleanup_on_close:
            try:
                self.cleanup()
            except DeviceError:
                pass

    # probe -----------------------------------------------------------------------------------------
    def probe(self) -> dict[str, Any]:
        """The full device probe (the probe script piped to the device's Python)."""
        result = self.call(scripts.RUN_SCRIPT, [self._workdir_arg(), *probe_mod.stdin_argv(self.python)],
                           COMMAND_TIMEOUT_S, what="the device probe",
                           stdin=probe_mod.script_text().encode())
        self._raise_for_python(result)
        if not result.ok:
            raise DeviceError(f"{self.label}: the device probe failed (exit {result.returncode}): "
                              f"{tail(result.stderr.strip(), 500)}")
        return probe_mod.parse_probe_output(result.stdout, self.label)

    def temperature(self) -> dict[str, Any]:
        """Quick temperature reading; every key None when it cannot be read (never fails a job)."""
        try:
            argv = [self._workdir_arg(), *probe_mod.stdin_argv(self.python, quick=True)]
            result = self.call(scripts.RUN_SCRIPT, argv,
                               COMMAND_TIMEOUT_S, what="reading the temperature",
                               stdin=probe_mod.script_text().encode())
            if result.ok:
                return probe_mod.parse_probe_output(result.stdout, self.label, quick=True)
        except SshError as exc:
            if exc.reason in ("unreachable", "lost", "auth", "hostkey"):
                raise
        except DeviceError:
            pass
        return {key: None for key in probe_mod.TEMPERATURE_KEYS}

    # prepare ---------------------------------------------------------------------------------------
    def prepare(self, files: Sequence[Path] = ()) -> dict[str, str]:
        """Push the runner bundle, the probe and `files` to the workdir, skipping every file whose
        sha256 there already matches (one hashing call, then one upload for the rest).
        Returns local path -> absolute device path for `files`; details in `last_prepare`."""
        pairs = [(Path(local), confine(posixpath.join(RUNNER_DIR, rel), self.label))
                 for local, rel in self._bundle()]
        if PROBE_REL not in {rel for _, rel in pairs}:
            pairs.append((probe_mod.PROBE_SCRIPT, PROBE_REL))
        mapping: dict[str, str] = {}
        for local in files:
            local = Path(local)
            if not local.is_file():
                raise DeviceError(f"{self.label}: cannot upload {local}: no such file")
            mapping[str(local)] = confine(self._rel_for(local), self.label)
            pairs.append((local, mapping[str(local)]))
        self.last_prepare = self._sync.sync(pairs)
        out = {local: posixpath.join(self._workdir_abs, rel) for local, rel in mapping.items()}
        for local, device in out.items():
            self.paths[local] = device
            self.paths[str(Path(local).resolve())] = device
        return out

    def _remote_hashes(self, rels: list[str]) -> dict[str, str] | None:
        """Create and resolve the workdir, and hash these files there (None: no sha256sum)."""
        result = self.call(scripts.INIT_SCRIPT, [self.workdir, *rels], COMMAND_TIMEOUT_S,
                           what="hashing the files already on the device")
        self._raise_for_workdir(result)
        lines = result.stdout.splitlines()
        if "@@hashes" not in lines:
            raise DeviceError(f"{self.label}: unexpected answer while preparing the workdir: "
                              f"{tail(result.stdout + result.stderr, 300)}")
        at = lines.index("@@hashes")
        self._workdir_abs = lines[at - 1].strip() if at else None
        if not self._workdir_abs or not self._workdir_abs.startswith("/"):
            raise DeviceError(f"{self.label}: could not resolve the workdir {self.workdir!r}")
        hash_lines = lines[at + 1:]
        return None if "@@nosha" in hash_lines else parse_sha256sum("\n".join(hash_lines))

    def _bundle(self) -> list[tuple[Path, str]]:
        if self.bundle is not None:
            return [(Path(p), r) for p, r in self.bundle]
        return runner_bundle()

    def _rel_for(self, local: Path) -> str:
        """files/<repo-relative path> for the repository's files, files/ext/<name> for others
        (files/ext/2/<name>, ... when two different files share a name). Stable for a device."""
        resolved = str(local.resolve())
        if resolved in self._rel_of:
            return self._rel_of[resolved]
        try:
            rel = posixpath.join(FILES_DIR, Path(resolved).relative_to(REPO_ROOT).as_posix())
        except ValueError:
            taken = set(self._rel_of.values())
            n = 1
            while True:
                rel = posixpath.join(FILES_DIR, "ext", *([str(n)] if n > 1 else []), local.name)
                if rel not in taken:
                    break
                n += 1
        self._rel_of[resolved] = rel
        return rel

    def _upload_tar(self, uploads: Sequence[Upload]) -> None:
        total = sum(u.size for u in uploads)
        with tempfile.TemporaryFile() as spool:
            with tarfile.open(fileobj=spool, mode="w", format=tarfile.GNU_FORMAT) as tar:
                for u in uploads:
                    with open(u.local, "rb") as fh:  # the file a symlink points to, never the link
                        info = tar.gettarinfo(fileobj=fh, arcname=u.dest)
                        info.mode, info.uid, info.gid, info.uname, info.gname = 0o644, 0, 0, "", ""
                        tar.addfile(info, fh)
            spool.seek(0)
            result = self.call(scripts.UNTAR_SCRIPT, [self._workdir_abs], self._transfer_timeout(total),
                               what=f"uploading {len(uploads)} file(s), {total / 1e6:.1f} MB", stdin=spool)
        self._raise_for_storage(result, f"uploading {len(uploads)} file(s) to {self._workdir_abs}", total)

    def _transfer_timeout(self, nbytes: int) -> float:
        return self.connect_timeout + COMMAND_TIMEOUT_S + nbytes / MIN_TRANSFER_BYTES_PER_S

    # paths -----------------------------------------------------------------------------------------
    def _workdir_arg(self) -> str:
        return self._workdir_abs or self.workdir

    def _ensure_workdir(self) -> str:
        if self._workdir_abs is None:
            self._remote_hashes([])
        assert self._workdir_abs is not None
        return self._workdir_abs

    def device_path(self, remote: str) -> str:
        """An absolute device path inside the workdir: relative paths are taken from the workdir;
        anything that would leave it (`..`, another absolute folder) is refused."""
        base = self._ensure_workdir()
        if remote.startswith("/"):
            norm = posixpath.normpath(remote)
            if (norm != base and not norm.startswith(base + "/")) or ".." in remote.split("/"):
                raise DeviceError(f"{self.label}: {remote!r} is outside the workdir {base}; "
                                  "the harness only writes inside its workdir")
            return norm
        return posixpath.join(base, confine(remote, self.label))

    # execute ---------------------------------------------------------------------------------------
    def execute(self, job: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        """One job through execute.py's protocol, in one ssh round trip (job.json in; out.json and the
        temperatures before and after back). Losing the device raises SshLost."""
        base = self._ensure_workdir()
        jobdir = posixpath.join(JOBS_DIR, uuid.uuid4().hex[:12])
        job = dict(job)
        for key in INPUT_KEYS:
            if job.get(key):
                job[key] = self._device_input(str(job[key]), key)
        outputs = any(job.get(k) for k in ("profile_ops_path", "save_outputs_path"))
        what = f"the job ({job.get('runtime', '?')} {Path(str(job.get('model_path', ''))).name})"

        def launch(device_job: dict[str, Any]) -> Launch:
            return self._round_trip(device_job, base, jobdir, timeout, keep=outputs, what=what)

        record = execute_job(job, timeout, label=self.label, job_dir=posixpath.join(base, jobdir),
                             cores=self.cores, launch=launch, fetch=self.pull,
                             deadline_exits=DEADLINE_EXITS,
                             hint=lambda error: with_install_hint(error, self.python))
        if outputs:
            self.call(scripts.RUN_SCRIPT, [base, "rm", "-rf", "--", jobdir], COMMAND_TIMEOUT_S,
                      what="removing the job folder")
        return record

    def _round_trip(self, device_job: dict[str, Any], base: str, jobdir: str, timeout: float, *,
                    keep: bool, what: str) -> Launch:
        limit = max(1, math.ceil(timeout))
        marker = f"@@edgebench-{uuid.uuid4().hex}@@"
        payload = json.dumps(device_job, sort_keys=True).encode()
        self._active_job = jobdir
        try:
            result = self.call(scripts.EXEC_SCRIPT, [base, jobdir, str(limit), marker, self.python,
                                                     "1" if keep else "0"],
                               timeout + self.connect_timeout + JOB_MARGIN_S, what=what, stdin=payload)
        except SshError as exc:
            if exc.reason != "command-timeout":
                raise
            return Launch(res=CommandResult(argv=(), returncode=None, stdout="", stderr=str(exc),
                                            duration_s=timeout, timed_out=True))
        finally:
            self._active_job = None
        self._raise_for_workdir(result)
        sections = split_sections(result.stdout, marker)
        if not isinstance(json_or_none(sections.get("out")), dict):
            self._raise_for_python(result)
        res = CommandResult(result.argv, result.returncode, sections.get("", ""), result.stderr,
                            result.duration_s)
        return Launch(res=res, out_text=sections.get("out"),
                      temps=(json_or_none(sections.get("temp_before")), json_or_none(sections.get("temp_after"))))

    def _device_input(self, value: str, key: str) -> str:
        if value in self.paths:
            return self.paths[value]
        resolved = str(Path(value).resolve())
        if resolved in self.paths:
            return self.paths[resolved]
        base = self._workdir_abs or ""
        if base and value.startswith(base + "/"):
            return value
        if Path(value).is_file():
            return self.prepare([Path(value)])[value]
        raise DeviceError(f"{self.label}: job {key} {value!r} was neither prepared nor found here; "
                          "pass it to prepare() first")

    # cleanup and check -----------------------------------------------------------------------------
    def cleanup(self) -> None:
        """Remove what edgebench put in the workdir, and the workdir itself, only when edgebench created
        it (its marker file); a folder that held other files is kept. Refuses `/` and the home folder."""
        result = self.call(scripts.CLEANUP_SCRIPT,
                           [self.workdir], COMMAND_TIMEOUT_S, what="resolving the workdir")
        self._raise_for_workdir(result)
        lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        if len(lines) < 3:
            return  # nothing there
        target, home, marked = lines[0], lines[1], lines[2] == "marked"
        if target in ("/", home) or len(Path(target).parts) < 3:
            raise DeviceError(f"{self.label}: refusing to delete {target}: choose a dedicated workdir "
                              "such as ~/edgebench")
        if marked:
            self.call(scripts.REMOVE_SCRIPT, [target], COMMAND_TIMEOUT_S,
                      what="removing the workdir").raise_for_status(self.label)
        self._workdir_abs = None

    def check(self, runtimes: Iterable[str] = ("onnxruntime", "tflite"),
              min_free_bytes: int = MIN_FREE_BYTES) -> list[str]:
        """What stops this device from running jobs, each with the fix; [] when ready."""
        return check_device(self, runtimes, min_free_bytes)

    # errors ----------------------------------------------------------------------------------------
    def _raise_for_python(self, result: CommandResult) -> None:
        if result.returncode == 127:
            raise DeviceError(
                f"{self.label}: {self.python} not found on the device; install Python 3 there "
                "(sudo apt install python3) or set python = \"/path/to/python3\" in the profile")

    def _raise_for_workdir(self, result: CommandResult) -> None:
        if result.returncode == EXIT_WORKDIR:
            reason = tail(result.stderr.strip(), 300) or "permission denied"
            if "No space left" in reason:
                raise DeviceUnusable(f"{self.label}: no space left on the device for workdir {self.workdir}; "
                                  "free some space or set workdir = ... on a bigger disk")
            raise DeviceUnusable(f"{self.label}: workdir {self.workdir} is not writable ({reason}); set "
                              "workdir = \"/tmp/edgebench-USER\" (a folder the login user owns) in the "
                              "profile, or fix its permissions on the device")

    def _raise_for_storage(self, result: CommandResult, what: str, nbytes: int = 0) -> None:
        if result.ok:
            return
        df = re.search(r"^@@df (.*)$", result.stderr, re.MULTILINE)
        free = parse_df_free(df.group(1)) if df else None
        if re.search(r"No space left|Disk quota exceeded|Wrote only \d+ of", result.stderr) or \
                (free is not None and free < max(nbytes, 1 << 20)):
            raise DeviceUnusable(f"{self.label}: no space left on the device while {what}; free some "
                              "space there or set workdir = ... on a bigger disk")
        self._raise_for_workdir(result)
        if "Permission denied" in result.stderr or "Read-only file system" in result.stderr:
            raise DeviceUnusable(f"{self.label}: cannot write while {what} ({tail(result.stderr.strip(), 300)}); "
                              "set workdir = ... to a folder the login user can write")
        if result.returncode == 127 or "tar: not found" in result.stderr:
            raise DeviceError(f"{self.label}: `tar` is missing on the device; install it (apt-get install tar)")
        raise DeviceError(f"{self.label}: failed {what} (exit {result.returncode}): "
                          f"{tail(result.stderr.strip(), 500)}")


def runner_bundle() -> list[tuple[Path, str]]:
    """(local file, path under runner/) for everything `python3 -m harness.runner` needs."""
    from ...runner.bundle import bundle_files

    return [(Path(local), str(rel)) for local, rel in bundle_files()]

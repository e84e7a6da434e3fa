# ruff: noqa: E501  (embedded shell scripts read better unwrapped)
"""The device side of the ssh kind: fixed `sh -c` scripts and parsers of what they print.

Each script is constant text; everything that varies (paths, the python command, limits) reaches it
as a positional argument through shlex.join, so no profile value or file name is ever shell code on
the device. `~/` in a workdir or python path is expanded there by `home_path`.
"""

from __future__ import annotations

import posixpath
import re

from ...errors import DeviceError

# Exit code of the scripts below that means "the workdir is the problem".
EXIT_WORKDIR = 90

PRELUDE = r"""set -u
home_path() { case $1 in "~") printf '%s\n' "$HOME";; "~/"*) printf '%s\n' "$HOME/${1#"~/"}";; *) printf '%s\n' "$1";; esac; }
"""

# $1 workdir; $2.. files (relative to it) to hash. Prints the absolute workdir, then sha256sum lines.
INIT_SCRIPT = PRELUDE + r"""w=$(home_path "$1"); shift
fresh=0; if [ ! -d "$w" ] || [ -z "$(ls -A -- "$w" 2>/dev/null)" ]; then fresh=1; fi
mkdir -p -- "$w" || exit 90
cd -- "$w" || exit 90
if [ $fresh = 1 ]; then ( : > .edgebench-workdir ) || exit 90; fi
t=".edgebench-write-test.$$"
( : > "$t" ) || exit 90
rm -f -- "$t"
pwd -P
echo "@@hashes"
if [ $# -gt 0 ]; then
  if command -v sha256sum >/dev/null 2>&1; then sha256sum -- "$@" 2>/dev/null; else echo "@@nosha"; fi
fi
exit 0
"""

# $1 absolute workdir. Unpacks a tar stream from stdin there; on failure reports the free space
# (tars word a full disk differently: "No space left", "Wrote only N of M bytes").
UNTAR_SCRIPT = r"""set -u
cd -- "$1" || exit 90
if ! tar -xf -; then
  echo "@@df $(df -Pk . 2>/dev/null | tail -n 1)" >&2
  exit 91
fi
"""

# $1 absolute path. Writes stdin into it (creating its folder) / prints it.
WRITE_SCRIPT = r"""set -u
mkdir -p -- "$(dirname -- "$1")" || exit 90
cat > "$1"
"""
READ_SCRIPT = r"""set -u
exec cat -- "$1"
"""

# $1 workdir (may not exist), then argv: run argv there (or in the login folder).
RUN_SCRIPT = PRELUDE + r"""w=$(home_path "$1"); c=$(home_path "$2"); shift 2
cd -- "$w" 2>/dev/null || true
exec "$c" "$@"
"""

# $1 abs workdir, $2 job folder (relative), $3 time limit (s), $4 marker, $5 python, $6 keep (1: the
# caller pulls files from the job folder and removes it). stdin: job.json. stdout: runner output, then
# each of out / temp_before / temp_after after a marker line.
EXEC_SCRIPT = PRELUDE + r"""w=$1; jd=$2; limit=$3; marker=$4; py=$(home_path "$5"); keep=$6
cd -- "$w" || exit 90
mkdir -p -- "$jd" || exit 90
cat > "$jd/job.json" || exit 90
temp() { if [ -f runner/probe_script.py ]; then "$py" runner/probe_script.py --temperature 2>/dev/null; fi; }
temp > "$jd/temp_before.json"
if command -v timeout >/dev/null 2>&1; then
  PYTHONPATH="$w/runner" timeout -k 5 "$limit" "$py" -m harness.runner "$jd/job.json" "$jd/out.json"
else
  PYTHONPATH="$w/runner" "$py" -m harness.runner "$jd/job.json" "$jd/out.json"
fi
rc=$?
temp > "$jd/temp_after.json"
for part in out temp_before temp_after; do
  printf '\n%s %s\n' "$marker" "$part"
  cat -- "$jd/$part.json" 2>/dev/null
done
[ "$keep" = 1 ] || rm -rf -- "$jd"
exit $rc
"""

# $1 absolute workdir, $2 job folder (relative), $3 pkill pattern matching the job's runner (and its
# `timeout`). Ctrl-C: stop the runner, kill it if it lingers, and remove its job folder.
INTERRUPT_SCRIPT = r"""set -u
pkill -TERM -f -- "$3" 2>/dev/null
i=0; while [ $i -lt 20 ] && pgrep -f -- "$3" >/dev/null 2>&1; do sleep 0.1; i=$((i + 1)); done
pkill -KILL -f -- "$3" 2>/dev/null
case $2 in jobs/?*) rm -rf -- "$1/$2";; esac
exit 0
"""

# $1 workdir, $2 python. key=value lines describing what a job needs on the device.
CHECK_SCRIPT = PRELUDE + r"""w=$(home_path "$1"); py=$(home_path "$2")
echo "user=$(id -un 2>/dev/null)"
echo "arch=$(uname -m 2>/dev/null)"
if command -v "$py" >/dev/null 2>&1; then echo "python=$(command -v "$py")"; else echo "python="; fi
if err=$(mkdir -p -- "$w" 2>&1); then
  t="$w/.edgebench-write-test.$$"
  if err=$( ( : > "$t" ) 2>&1 ); then rm -f -- "$t"; echo "writable=1"; else echo "writable=0"; echo "workdir_error=$(printf '%s' "$err" | head -n 1)"; fi
else
  echo "writable=0"; echo "workdir_error=$(printf '%s' "$err" | head -n 1)"
fi
d=$w; while [ ! -d "$d" ]; do d=$(dirname -- "$d"); done
echo "df=$(df -Pk -- "$d" 2>/dev/null | tail -n 1)"
echo "workdir=$w"
echo "timeout=$(command -v timeout 2>/dev/null)"
echo "tar=$(command -v tar 2>/dev/null)"
"""


# $1 workdir. Prints its real path, the home folder's and whether edgebench created it (MARKER);
# nothing when it does not exist.
CLEANUP_SCRIPT = PRELUDE + r"""w=$(home_path "$1"); [ -d "$w" ] || exit 0
cd -- "$w" || exit 90
pwd -P
(cd && pwd -P)
if [ -f .edgebench-workdir ]; then echo marked; else echo unmarked; fi
"""

# $1 absolute workdir that carries the marker. Removes edgebench's own entries, then the folder when
# nothing else is left in it.
REMOVE_SCRIPT = r"""set -u
cd -- "$1" || exit 90
rm -rf -- runner files jobs .edgebench-workdir
cd / && rmdir -- "$1" 2>/dev/null
exit 0
"""


def confine(rel: str, device: str) -> str:
    """A device path relative to the workdir that cannot leave it."""
    parts = rel.split("/")
    if not rel or rel.startswith("/") or ".." in parts or "\x00" in rel:
        raise DeviceError(f"{device}: {rel!r} would leave the workdir; use a path inside it")
    return posixpath.normpath(rel)


def parse_sha256sum(text: str) -> dict[str, str]:
    """GNU/BusyBox `sha256sum` lines -> {name: hash}; undoes the escaping GNU applies to names with
    a backslash or a newline (such lines start with a backslash)."""
    out = {}
    for line in text.splitlines():
        escaped = line.startswith("\\")
        if escaped:
            line = line[1:]
        match = re.match(r"^([0-9a-fA-F]{64}) [ *](.*)$", line)
        if not match:
            continue
        name = match.group(2)
        if escaped:
            name = re.sub(r"\\(.)", lambda m: {"n": "\n", "\\": "\\", "r": "\r"}.get(m.group(1), m.group(1)), name)
        out[posixpath.normpath(name)] = match.group(1).lower()
    return out


def split_sections(stdout: str, marker: str) -> dict[str, str]:
    """Split the job script's stdout at `MARKER name` lines; text before the first marker is ''."""
    sections: dict[str, list[str]] = {"": []}
    current = ""
    for line in stdout.splitlines():
        if line.startswith(marker + " "):
            current = line[len(marker) + 1:].strip()
            sections[current] = []
        else:
            sections[current].append(line)
    return {name: "\n".join(lines).strip() for name, lines in sections.items()}


def parse_df_free(line: str) -> int | None:
    """Available bytes from one `df -Pk` data line."""
    fields = line.split()
    if len(fields) >= 4 and fields[3].isdigit():
        return int(fields[3]) * 1024
    return None

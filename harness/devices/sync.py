"""Uploads that skip what the device already has: one sha256 comparison for every device kind.

The local side hashes each file once per (path, size, mtime) (HashCache); the device side answers
with the hashes of the files it holds (one call for all of them); only files whose hash differs
travel. What a device is known to hold is remembered, so a device that keeps its files between
jobs is not asked again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import DeviceError
from ..util import sha256_file


class HashCache:
    """sha256 of local files, keyed by (resolved path, size, mtime): a 100 MB model is hashed once."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, int, int], str] = {}

    def sha256(self, path: Path) -> str:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        digest = self._known.get(key)
        if digest is None:
            digest = self._known[key] = sha256_file(path)
        return digest


@dataclass(frozen=True)
class Upload:
    """One file to send: where it is here, where it goes on the device, its hash and size."""

    local: Path
    dest: str
    sha256: str
    size: int


@dataclass(frozen=True)
class SyncReport:
    """What one sync sent (device paths as the caller named them)."""

    uploaded: tuple[str, ...]
    skipped: tuple[str, ...]
    bytes_uploaded: int
    hashing: str = "sha256sum"  # "unavailable" when the device cannot hash (everything was sent)


# dests -> {dest: sha256} of those the device holds; None when it cannot hash at all
RemoteHashes = Callable[[list[str]], "dict[str, str] | None"]


class Sync:
    """Upload-skipping for one device over its transport's `remote_hashes` and `upload` calls.

    `remember=False` asks the device about every file on every sync (a device whose files may
    vanish between calls, or whose hashing call does other work too)."""

    def __init__(self, label: str, remote_hashes: RemoteHashes, upload: Callable[[list[Upload]], None],
                 *, hashes: HashCache | None = None, remember: bool = True) -> None:
        self.label = label
        self.remote_hashes = remote_hashes
        self.upload = upload
        self.hashes = hashes or HashCache()
        self.remember = remember
        self.known: dict[str, str] = {}  # device path -> sha256 it is known to hold

    def entry(self, local: Path | str, dest: str) -> Upload:
        local = Path(local)
        if not local.is_file():
            raise DeviceError(f"{self.label}: cannot upload {local}: no such file here")
        return Upload(local=local, dest=dest, sha256=self.hashes.sha256(local), size=local.stat().st_size)

    def sync(self, pairs: Iterable[tuple[Path | str, str]]) -> SyncReport:
        """Send every (local, device path) pair whose file the device does not already hold."""
        uploads = list({dest: self.entry(local, dest) for local, dest in pairs}.values())
        unknown = [u for u in uploads if not self.remember or self.known.get(u.dest) != u.sha256]
        there = self.remote_hashes([u.dest for u in unknown]) if unknown or not self.remember else {}
        changed = [u for u in unknown if there is None or there.get(u.dest) != u.sha256]
        if changed:
            self.upload(changed)
        for u in uploads:
            self.known[u.dest] = u.sha256
        sent = {u.dest for u in changed}
        return SyncReport(uploaded=tuple(u.dest for u in changed),
                          skipped=tuple(u.dest for u in uploads if u.dest not in sent),
                          bytes_uploaded=sum(u.size for u in changed),
                          hashing="unavailable" if there is None else "sha256sum")

    def forget(self, dests: Sequence[str] | None = None) -> None:
        """The device no longer holds these files (or any, when None)."""
        if dests is None:
            self.known.clear()
        for dest in dests or ():
            self.known.pop(dest, None)

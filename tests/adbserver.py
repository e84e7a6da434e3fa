"""A stand-in adb server for tests: the real `adb -P PORT ...` client talks to it over loopback.

No Android phone or adbd can run here, so this plays the part of the adb server (the host-side
daemon the `adb` command talks to) and of the phone behind it. It speaks adb's real client-server
("smart socket") protocol: 4-hex-digit length-prefixed requests answered with OKAY / FAIL,
host services (version, features, devices[-l], get-state, transport switching including the
`host:tport:` form that returns an 8-byte transport id), the shell v2 protocol (stdout, stderr and
exit-code packets) or the plain v1 shell when a device does not advertise shell_v2, and the sync
protocol (STAT/STA2/LST2, LIST/LIS2, SEND/DATA/DONE, RECV, QUIT) used by push and pull.

The "device" is a temporary folder: device paths (/data, /sdcard, /system, /proc/cpuinfo, /sys/...)
map into it. Shell commands run through /bin/sh with that folder as the current directory, device
paths in the command rewritten to the mapped ones and mapped paths in the output written back, so
the client only ever sees device paths. /system/bin holds a toolbox of host commands (like
Android's toybox), a `getprop` backed by the device's properties and an Android `uname`; nothing
else of the host is on PATH, so a device without python3 really has none.

Protocol references: AOSP packages/modules/adb, SERVICES.TXT, SYNC.TXT, shell_protocol.h.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ADB_SERVER_VERSION = 41  # what adb 1.0.41 clients expect from host:version
# What an Android 10+ adbd advertises, limited to what this stand-in implements (a real server also
# answers host:features with the device's features intersected with its own).
DEFAULT_FEATURES = ("shell_v2", "cmd", "stat_v2", "ls_v2", "fixed_push_mkdir", "apex", "abb",
                    "fixed_push_symlink_timestamp", "abb_exec", "remount_shell")
SYNC_DATA_MAX = 64 * 1024

# Shell protocol v2 packet ids (shell_protocol.h).
SHELL_STDIN, SHELL_STDOUT, SHELL_STDERR, SHELL_EXIT, SHELL_CLOSE_STDIN, SHELL_WINDOW = range(6)

UNAUTHORIZED_MESSAGE = ("device unauthorized.\nThis adb server's $ADB_VENDOR_KEYS is not set\n"
                        "Try 'adb kill-server' if that seems wrong.\n"
                        "Otherwise check for a confirmation dialog on your device.")

# Device paths that live in the device folder (everything else, e.g. /dev/null, is the host's).
MAPPED_PREFIXES = ("/data", "/sdcard", "/storage", "/system", "/vendor", "/product", "/apex",
                   "/proc/cpuinfo", "/proc/meminfo", "/proc/version", "/sys/devices/system/cpu",
                   "/sys/class/thermal", "/sys/class/power_supply")

TOOLBOX = ("sh", "cat", "ls", "mkdir", "rm", "rmdir", "mv", "cp", "chmod", "touch", "ln", "echo",
           "test", "printf", "sha256sum", "md5sum", "head", "tail", "wc", "grep", "sed", "awk",
           "cut", "tr", "sort", "id", "df", "du", "stat", "readlink", "dirname", "basename", "env",
           "sleep", "timeout", "kill", "nproc", "find", "date", "true", "false", "xargs", "tee",
           "taskset", "which")

# A Snapdragon 855-like phone: 4x Cortex-A55 + 3x Cortex-A76 + 1x Cortex-A76 prime core.
DEFAULT_CPUS = ((1785600, "0xd05"),) * 4 + ((2419200, "0xd0b"),) * 3 + ((2841600, "0xd0b"),)
DEFAULT_PROPS = {
    "ro.product.model": "Pixel 4",
    "ro.product.manufacturer": "Google",
    "ro.product.name": "flame",
    "ro.product.device": "flame",
    "ro.product.cpu.abi": "arm64-v8a",
    "ro.soc.manufacturer": "Qualcomm",
    "ro.soc.model": "SM8150",
    "ro.board.platform": "msmnile",
    "ro.hardware": "flame",
    "ro.build.version.sdk": "33",
    "ro.build.version.release": "13",
    "ro.build.fingerprint": "google/flame/flame:13/TP1A.221005.002/9012097:user/release-keys",
}
DEFAULT_THERMAL = (("cpu-0-0-usr", 41200), ("cpu-1-0-usr", 43800), ("battery", 29000))


@dataclass
class FakeDevice:
    """One phone behind the stand-in server. `state` is what `adb devices` shows."""

    serial: str = "EDGE0001"
    state: str = "device"  # device | offline | unauthorized
    features: tuple[str, ...] = DEFAULT_FEATURES
    props: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PROPS))
    cpus: tuple[tuple[int, str], ...] = DEFAULT_CPUS  # (cpuinfo_max_freq kHz, CPU part) per core
    governor: str = "schedutil"
    thermal: tuple[tuple[str, int], ...] = DEFAULT_THERMAL  # (zone type, millidegrees C)
    mem_total_kb: int = 5774048
    kernel: str = "4.14.302-ga2d5f6fc4c1a-ab9603045"
    # Host interpreter that plays the device's python3 (Termux-style), or None: no python3 at all.
    python: str | None = None
    python_path: str = "/data/data/com.termux/files/usr/bin/python3"
    free_bytes: int | None = None  # pushes beyond this fail with ENOSPC, like a full /data
    readonly: tuple[str, ...] = ("/system", "/vendor", "/product")  # pushes there fail (EACCES)
    # When the server runs as root, run shell commands as this uid (Android's shell user is 2000) so
    # file permissions apply to them; None runs them as the server's own user.
    shell_uid: int | None = None
    files: dict[str, str | bytes] = field(default_factory=dict)  # extra device files: path -> data
    executables: dict[str, str] = field(default_factory=dict)  # device path -> sh script body (0755)
    root: Path | None = None  # set by the server: the folder that plays the device's "/"

    # -- paths -------------------------------------------------------------------------------
    def host_path(self, device_path: str) -> Path:
        """Where a device path lives on the host (every sync path maps into the device folder)."""
        assert self.root is not None
        clean = os.path.normpath("/" + device_path.lstrip("/"))
        return self.root / clean.lstrip("/")

    def rewrite_command(self, command: str) -> str:
        assert self.root is not None
        pattern = "|".join(re.escape(p) for p in sorted(MAPPED_PREFIXES, key=len, reverse=True))
        rx = re.compile(r"(?<![\w.~/-])(" + pattern + r")(?=[/\s'\";:|&)*?\[]|$)")
        return rx.sub(lambda m: str(self.root) + m.group(1), command)

    def rewrite_output(self, data: bytes) -> bytes:
        assert self.root is not None
        return data.replace(str(self.root).encode(), b"")

    # -- setup -------------------------------------------------------------------------------
    def build(self) -> None:
        """Create the device folder: Android's directories, procfs/sysfs files, toolbox, getprop."""
        self.root = Path(tempfile.mkdtemp(prefix=f"adbdev-{self.serial}-"))
        os.chmod(self.root, 0o755)
        for d in ("data/local/tmp", "sdcard", "system/bin", "system/etc", "vendor/bin", "product",
                  "proc", "sys/class/thermal"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        bin_dir = self.root / "system/bin"
        for tool in TOOLBOX:
            found = shutil.which(tool)
            if found:
                os.symlink(found, bin_dir / tool)
        props = self.root / "system/etc/props.txt"
        props.write_text("".join(f"{k}={v}\n" for k, v in self.props.items()))
        self._script(bin_dir / "getprop",
                     f'P={_sq(str(props))}\n'
                     'if [ $# -eq 0 ]; then\n'
                     '  /usr/bin/awk \'{i=index($0,"="); printf "[%s]: [%s]\\n", substr($0,1,i-1), substr($0,i+1)}\' "$P"\n'
                     'else\n'
                     '  /usr/bin/awk -v k="$1" \'{i=index($0,"="); if (substr($0,1,i-1)==k) {print substr($0,i+1); exit}}\' "$P"\n'
                     'fi\n')
        self._script(bin_dir / "uname",
                     'case "$1" in\n'
                     '  -m) echo aarch64 ;;\n'
                     f'  -r) echo {_sq(self.kernel)} ;;\n'
                     '  -s|"") echo Linux ;;\n'
                     f'  *) echo Linux localhost {_sq(self.kernel)} \'#1 SMP PREEMPT\' aarch64 ;;\n'
                     'esac\n')
        self._cpu_files()
        (self.root / "proc/meminfo").write_text(
            f"MemTotal:        {self.mem_total_kb} kB\nMemFree:          412332 kB\n"
            f"MemAvailable:    {self.mem_total_kb // 2} kB\n")
        (self.root / "proc/version").write_text(f"Linux version {self.kernel} (android-build@abfarm)\n")
        for i, (kind, milli) in enumerate(self.thermal):
            zone = self.root / f"sys/class/thermal/thermal_zone{i}"
            zone.mkdir(parents=True)
            (zone / "type").write_text(kind + "\n")
            (zone / "temp").write_text(f"{milli}\n")
        if self.python:
            self._script(self.host_path(self.python_path), f"exec {_sq(self.python)} \"$@\"\n")
        for path, data in self.files.items():
            target = self.host_path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data.encode() if isinstance(data, str) else data)
        for path, text in self.executables.items():  # scripts speak of device paths, like the command line
            self._script(self.host_path(path), self.rewrite_command(text))
        self._apply_permissions()

    def _cpu_files(self) -> None:
        assert self.root is not None
        blocks = []
        for i, (khz, part) in enumerate(self.cpus):
            blocks.append(f"processor\t: {i}\nBogoMIPS\t: 38.40\nFeatures\t: fp asimd evtstrm aes pmull "
                          f"sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\n"
                          f"CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x1\n"
                          f"CPU part\t: {part}\nCPU revision\t: 0\n")
            cpu = self.root / f"sys/devices/system/cpu/cpu{i}/cpufreq"
            cpu.mkdir(parents=True)
            (cpu / "cpuinfo_max_freq").write_text(f"{khz}\n")
            (cpu / "scaling_cur_freq").write_text(f"{khz // 2}\n")
            (cpu / "scaling_governor").write_text(self.governor + "\n")
        (self.root / "sys/devices/system/cpu/online").write_text(f"0-{len(self.cpus) - 1}\n")
        (self.root / "proc/cpuinfo").write_text(
            "\n".join(blocks) + f"\nHardware\t: Qualcomm Technologies, Inc {self.props.get('ro.soc.model', '')}\n")

    def _script(self, path: Path, body: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(0o755)

    def _apply_permissions(self) -> None:
        """Read-only places are 0555; with a shell uid, writable places belong to that uid."""
        assert self.root is not None
        uid = self._effective_shell_uid()
        if uid is not None:
            for d in ("data/local/tmp", "sdcard"):
                for p in [self.root / d, *(self.root / d).rglob("*")]:
                    os.lchown(p, uid, uid)
        for ro in self.readonly:
            p = self.host_path(ro)
            if p.is_dir():
                p.chmod(0o555)

    def _effective_shell_uid(self) -> int | None:
        return self.shell_uid if (self.shell_uid is not None and os.geteuid() == 0) else None

    def write_error(self, directory: Path) -> str | None:
        """Why the device's shell user may not create files in `directory` (None: it may)."""
        assert self.root is not None
        device_dir = "/" + str(directory.relative_to(self.root)).lstrip(".")
        if any(device_dir == ro or device_dir.startswith(ro + "/") for ro in self.readonly):
            return "Read-only file system"
        uid = self._effective_shell_uid()
        if uid is None:
            allowed = os.access(directory, os.W_OK | os.X_OK)
        else:
            st = directory.stat()
            allowed = bool(st.st_mode & (stat.S_IWUSR if st.st_uid == uid else stat.S_IWOTH))
        return None if allowed else "Permission denied"

    def spawn(self, command: str, merge_stderr: bool) -> subprocess.Popen:
        assert self.root is not None
        path = [str(self.root / "system/bin"), str(self.root / "vendor/bin")]
        env = {"PATH": ":".join(path), "HOME": str(self.root / "data/local/tmp"),
               "TMPDIR": str(self.root / "data/local/tmp"), "ANDROID_DATA": str(self.root / "data"),
               "ANDROID_ROOT": str(self.root / "system"), "LANG": "C.UTF-8"}
        argv = ["/bin/sh", "-c", self.rewrite_command(command)] if command else ["/bin/sh"]
        uid = self._effective_shell_uid()
        extra = {"user": uid, "group": uid, "extra_groups": []} if uid is not None else {}
        return subprocess.Popen(argv, cwd=self.root, env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
                                start_new_session=True, **extra)

    def cleanup(self) -> None:
        if self.root is not None and self.root.exists():
            for p in [self.root, *self.root.rglob("*")]:
                if p.is_dir() and not p.is_symlink():
                    p.chmod(0o755)
            shutil.rmtree(self.root, ignore_errors=True)


def _sq(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


class _Closed(Exception):
    pass


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise _Closed()
        buf += chunk
    return bytes(buf)


def _okay_string(conn: socket.socket, text: str) -> None:
    data = text.encode()
    conn.sendall(b"OKAY" + b"%04x" % len(data) + data)


def _fail(conn: socket.socket, message: str) -> None:
    data = message.encode()
    conn.sendall(b"FAIL" + b"%04x" % len(data) + data)


class _LineRewriter:
    """Rewrites mapped host paths back to device paths, only on whole lines (a path never splits)."""

    def __init__(self, device: FakeDevice) -> None:
        self.device = device
        self.pending = b""

    def feed(self, data: bytes) -> bytes:
        self.pending += data
        cut = self.pending.rfind(b"\n") + 1
        if cut == 0 and len(self.pending) < 65536:
            return b""
        cut = cut or len(self.pending)
        out, self.pending = self.pending[:cut], self.pending[cut:]
        return self.device.rewrite_output(out)

    def flush(self) -> bytes:
        out, self.pending = self.pending, b""
        return self.device.rewrite_output(out)


class AdbServer:
    """The stand-in server on 127.0.0.1, in a thread. Use as a context manager; `port` for `adb -P`.

    `requests` records every service request in order and `sync_log` every sync command with its
    path, so tests can assert what the client really asked for (e.g. that an unchanged file was not
    sent again).
    """

    def __init__(self, devices: Iterable[FakeDevice] | None = None) -> None:
        self.devices = [FakeDevice()] if devices is None else list(devices)
        self.port = 0
        self.requests: list[str] = []
        self.sync_log: list[tuple[str, str]] = []
        self._sock: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._procs: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self):  # returns self (a context manager)
        for dev in self.devices:
            dev.build()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        t = threading.Thread(target=self._accept_loop, name="adbserver-accept", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopping.set()
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            _kill_group(proc)
        for t in self._threads:
            t.join(timeout=5)
        for dev in self.devices:
            dev.cleanup()

    def device(self, serial: str | None = None) -> FakeDevice:
        return next(d for d in self.devices if serial is None or d.serial == serial)

    def _accept_loop(self) -> None:
        assert self._sock is not None
        self._sock.settimeout(0.1)  # closing a socket does not wake accept(): poll for stop()
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t = threading.Thread(target=self._serve, args=(conn,), name="adbserver-conn", daemon=True)
            t.start()
            with self._lock:
                self._threads = [x for x in self._threads if x.is_alive()] + [t]

    # -- smart-socket requests ---------------------------------------------------------------
    def _serve(self, conn: socket.socket) -> None:
        transport: FakeDevice | None = None
        try:
            while True:
                length = int(_recv_exact(conn, 4), 16)
                request = _recv_exact(conn, length).decode("utf-8", "replace")
                with self._lock:
                    self.requests.append(request)
                if transport is None:
                    transport = self._host_request(conn, request)
                    if transport is None:
                        return
                    continue
                self._device_service(conn, transport, request)
                return
        except (_Closed, ConnectionError, OSError, ValueError):
            return
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _acquire(self, serial: str | None, any_state: bool = False) -> tuple[FakeDevice | None, str]:
        if serial is not None:
            found = [d for d in self.devices if d.serial == serial]
            if not found:
                return None, f"device '{serial}' not found"
            dev = found[0]
        else:
            if not self.devices:
                return None, "no devices/emulators found"
            if len(self.devices) > 1:
                return None, "more than one device/emulator"
            dev = self.devices[0]
        if not any_state:
            if dev.state == "offline":
                return None, "device offline"
            if dev.state == "unauthorized":
                return None, UNAUTHORIZED_MESSAGE
        return dev, ""

    def _host_request(self, conn: socket.socket, request: str) -> FakeDevice | None:
        """Answer a host service. Returns the device when the request switched the transport."""
        if request == "host:version":
            _okay_string(conn, f"{ADB_SERVER_VERSION:04x}")
            return None
        if request == "host:kill":
            conn.sendall(b"OKAY")  # a test server outlives kill requests; the test stops it
            return None
        if request == "host:host-features":
            _okay_string(conn, ",".join(DEFAULT_FEATURES))
            return None
        if request in ("host:devices", "host:devices-l"):
            _okay_string(conn, "".join(self._device_line(d, request.endswith("-l")) for d in self.devices))
            return None
        # Transport switches: afterwards the same connection talks to the device.
        serial: str | None = None
        switch = None
        for prefix, with_id in (("host:transport:", False), ("host:tport:serial:", True)):
            if request.startswith(prefix):
                serial, switch = request[len(prefix):], with_id
        if request in ("host:transport-any", "host:transport-usb", "host:transport-local"):
            switch = False
        if request in ("host:tport:any", "host:tport:usb", "host:tport:local"):
            switch = True
        if request.startswith("host:transport-id:"):
            index = int(request.rsplit(":", 1)[1]) - 1
            serial, switch = (self.devices[index].serial if 0 <= index < len(self.devices) else "?"), False
        if switch is not None:
            dev, error = self._acquire(serial)
            if dev is None:
                _fail(conn, error)
                return None
            conn.sendall(b"OKAY" + (struct.pack("<Q", self.devices.index(dev) + 1) if switch else b""))
            return dev
        # Per-device queries: host:<q>, host-serial:<serial>:<q>, host-usb:<q>, host-local:<q>.
        query_serial: str | None = None
        if request.startswith("host-serial:"):
            query_serial, query = request[len("host-serial:"):].rsplit(":", 1)
        else:
            query = request.split(":", 1)[1] if ":" in request else request
        if query in ("features", "get-state", "get-serialno", "get-devpath"):
            dev, error = self._acquire(query_serial, any_state=query != "features")
            if dev is None:
                _fail(conn, error)
            elif query == "features":
                _okay_string(conn, ",".join(f for f in dev.features if f in DEFAULT_FEATURES))
            elif query == "get-state":
                _okay_string(conn, dev.state)
            elif query == "get-serialno":
                _okay_string(conn, dev.serial)
            else:
                _okay_string(conn, "usb:1-1")
            return None
        _fail(conn, f"unknown host service '{request}'")
        return None

    def _device_line(self, dev: FakeDevice, long: bool) -> str:
        if not long:
            return f"{dev.serial}\t{dev.state}\n"
        extra = ""
        if dev.state == "device":
            model = dev.props.get("ro.product.model", "").replace(" ", "_")
            extra = (f" product:{dev.props.get('ro.product.name', '')} model:{model}"
                     f" device:{dev.props.get('ro.product.device', '')}")
        return f"{dev.serial:<22} {dev.state} usb:1-1{extra} transport_id:{self.devices.index(dev) + 1}\n"

    # -- device services ---------------------------------------------------------------------
    def _device_service(self, conn: socket.socket, dev: FakeDevice, request: str) -> None:
        if request.startswith("shell"):
            head, _, command = request.partition(":")
            args = head.split(",")[1:]
            if "v2" in args and "shell_v2" in dev.features:
                self._shell_v2(conn, dev, command)
            else:
                self._shell_raw(conn, dev, command, merge_stderr=True)
        elif request.startswith("exec:"):
            self._shell_raw(conn, dev, request[len("exec:"):], merge_stderr=False)
        elif request == "sync:":
            conn.sendall(b"OKAY")
            _SyncSession(self, conn, dev).run()
        else:
            _fail(conn, f"closed: unsupported service '{request}'")

    def _track(self, proc: subprocess.Popen, add: bool) -> None:
        with self._lock:
            (self._procs.add if add else self._procs.discard)(proc)

    def _shell_v2(self, conn: socket.socket, dev: FakeDevice, command: str) -> None:
        """Shell protocol v2: [id:1][length:4 LE][data] packets; the exit code arrives in id 3."""
        conn.sendall(b"OKAY")
        proc = dev.spawn(command, merge_stderr=False)
        self._track(proc, True)
        send_lock = threading.Lock()

        def send(packet_id: int, data: bytes) -> None:
            with send_lock:
                conn.sendall(struct.pack("<BI", packet_id, len(data)) + data)

        def pump(stream, packet_id: int) -> None:
            rewriter = _LineRewriter(dev)
            try:
                while True:
                    chunk = os.read(stream.fileno(), 65536)
                    if not chunk:
                        break
                    out = rewriter.feed(chunk)
                    if out:
                        send(packet_id, out)
                rest = rewriter.flush()
                if rest:
                    send(packet_id, rest)
            except OSError:
                _kill_group(proc)

        def feed() -> None:
            try:
                while True:
                    packet_id, length = struct.unpack("<BI", _recv_exact(conn, 5))
                    data = _recv_exact(conn, length)
                    if packet_id == SHELL_STDIN and proc.stdin:
                        proc.stdin.write(data)
                        proc.stdin.flush()
                    elif packet_id == SHELL_CLOSE_STDIN and proc.stdin:
                        proc.stdin.close()
            except (_Closed, OSError, ValueError):
                if proc.poll() is None:  # the client went away (e.g. killed at its timeout)
                    _kill_group(proc)

        pumps = [threading.Thread(target=pump, args=(proc.stdout, SHELL_STDOUT), daemon=True),
                 threading.Thread(target=pump, args=(proc.stderr, SHELL_STDERR), daemon=True)]
        threading.Thread(target=feed, daemon=True).start()
        for t in pumps:
            t.start()
        for t in pumps:
            t.join()
        code = proc.wait()
        self._track(proc, False)
        code = 128 - code if code < 0 else code
        try:
            send(SHELL_EXIT, bytes([code & 0xFF]))
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _shell_raw(self, conn: socket.socket, dev: FakeDevice, command: str, merge_stderr: bool) -> None:
        """The v1 shell (and exec:): raw output, no exit code; the socket closes when it ends."""
        conn.sendall(b"OKAY")
        proc = dev.spawn(command, merge_stderr=merge_stderr)
        self._track(proc, True)

        def feed() -> None:
            try:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    if proc.stdin:
                        proc.stdin.write(data)
                        proc.stdin.flush()
            except OSError:
                pass
            try:
                if proc.stdin:
                    proc.stdin.close()
            except OSError:
                pass

        threading.Thread(target=feed, daemon=True).start()
        rewriter = _LineRewriter(dev)
        try:
            while True:
                chunk = os.read(proc.stdout.fileno(), 65536)  # type: ignore[union-attr]
                if not chunk:
                    break
                conn.sendall(rewriter.feed(chunk))
            conn.sendall(rewriter.flush())
        except OSError:
            _kill_group(proc)
        proc.wait()
        self._track(proc, False)
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class _SyncSession:
    """The sync: service. Requests are [id:4][length:4 LE][path]; see SYNC.TXT."""

    STAT_V2 = struct.Struct("<4sIQQIIIIQqqq")  # id, error, dev, ino, mode, nlink, uid, gid, size, a/m/ctime
    DENT_V1 = struct.Struct("<4sIIII")  # id, mode, size, mtime, namelen
    DENT_V2 = struct.Struct("<4sIQQIIIIQqqqI")

    def __init__(self, server: AdbServer, conn: socket.socket, dev: FakeDevice) -> None:
        self.server, self.conn, self.dev = server, conn, dev

    def run(self) -> None:
        while True:
            ident, length = struct.unpack("<4sI", _recv_exact(self.conn, 8))
            name = ident.decode("ascii", "replace")
            if name == "QUIT":
                return
            if length > 1024:
                self._fail("path too long")
                return
            path = _recv_exact(self.conn, length).decode("utf-8", "replace")
            with self.server._lock:
                self.server.sync_log.append((name, path))
            if name == "STAT":
                self._stat_v1(path)
            elif name in ("STA2", "LST2"):
                self._stat_v2(name, path)
            elif name in ("LIST", "LIS2"):
                self._list(name, path)
            elif name == "SEND":
                if not self._send(path):
                    return
            elif name == "RECV":
                if not self._recv(path):
                    return
            else:
                self._fail(f"unknown sync command {name!r}")
                return

    def _fail(self, message: str) -> None:
        data = message.encode()
        self.conn.sendall(b"FAIL" + struct.pack("<I", len(data)) + data)

    def _stat_v1(self, path: str) -> None:
        try:
            st = os.lstat(self.dev.host_path(path))
            self.conn.sendall(struct.pack("<4sIII", b"STAT", st.st_mode, st.st_size & 0xFFFFFFFF,
                                          int(st.st_mtime)))
        except OSError:
            self.conn.sendall(struct.pack("<4sIII", b"STAT", 0, 0, 0))

    def _stat_tuple(self, st: os.stat_result) -> tuple:
        return (st.st_dev, st.st_ino, st.st_mode, st.st_nlink, 2000, 2000, st.st_size,
                int(st.st_atime), int(st.st_mtime), int(st.st_ctime))

    def _stat_v2(self, name: str, path: str) -> None:
        host = self.dev.host_path(path)
        try:
            st = os.lstat(host) if name == "LST2" else os.stat(host)
            self.conn.sendall(self.STAT_V2.pack(name.encode(), 0, *self._stat_tuple(st)))
        except OSError as exc:
            self.conn.sendall(self.STAT_V2.pack(name.encode(), exc.errno or 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))

    def _list(self, name: str, path: str) -> None:
        host = self.dev.host_path(path)
        try:
            entries = sorted(os.listdir(host))
        except OSError:
            entries = []
        for entry in entries:
            try:
                st = os.lstat(host / entry)
            except OSError:
                continue
            raw = entry.encode()
            if name == "LIST":
                self.conn.sendall(self.DENT_V1.pack(b"DENT", st.st_mode, st.st_size & 0xFFFFFFFF,
                                                    int(st.st_mtime), len(raw)) + raw)
            else:
                self.conn.sendall(self.DENT_V2.pack(b"DNT2", 0, *self._stat_tuple(st), len(raw)) + raw)
        if name == "LIST":
            self.conn.sendall(self.DENT_V1.pack(b"DONE", 0, 0, 0, 0))
        else:
            self.conn.sendall(self.DENT_V2.pack(b"DONE", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))

    def _drain_until_done(self) -> None:
        """After a failure adbd reads and drops the rest of the file, so the client sees the FAIL."""
        while True:
            ident, length = struct.unpack("<4sI", _recv_exact(self.conn, 8))
            if ident == b"DONE":
                return
            _recv_exact(self.conn, length)

    def _send(self, spec: str) -> bool:
        path, _, mode_text = spec.rpartition(",")
        mode = int(mode_text) if mode_text.isdigit() else 0o644
        host = self.dev.host_path(path)
        error = self._prepare_parent(host.parent)
        chunks: list[bytes] = []
        total = 0
        while True:
            ident, length = struct.unpack("<4sI", _recv_exact(self.conn, 8))
            if ident == b"DATA":
                data = _recv_exact(self.conn, length)
                total += len(data)
                if error is None and self.dev.free_bytes is not None and total > self.dev.free_bytes:
                    error = "write failed: No space left on device"
                    self._fail(error)
                    self._drain_until_done()
                    return False
                chunks.append(data)
            elif ident == b"DONE":
                mtime = length
                break
            else:
                self._fail(f"invalid data message {ident!r}")
                return False
        if error is not None:
            self._fail(error)
            return False
        try:
            if stat.S_ISLNK(mode):
                if host.is_symlink() or host.exists():
                    host.unlink()
                os.symlink(b"".join(chunks).decode(), host)
            else:
                tmp = host.with_name(host.name + ".adbtmp")
                tmp.write_bytes(b"".join(chunks))
                os.chmod(tmp, stat.S_IMODE(mode) or 0o644)
                os.utime(tmp, (mtime, mtime))
                os.replace(tmp, host)
                uid = self.dev._effective_shell_uid()
                if uid is not None:
                    os.lchown(host, uid, uid)
        except OSError as exc:
            self._fail(f"couldn't create file: {os.strerror(exc.errno or 5)}")
            return False
        if self.dev.free_bytes is not None:
            self.dev.free_bytes -= total
        self.conn.sendall(b"OKAY" + struct.pack("<I", 0))
        return True

    def _prepare_parent(self, directory: Path) -> str | None:
        """mkdir -p as the device's shell user would; an error message, or None when writable."""
        missing = []
        d = directory
        while not d.exists():
            missing.append(d)
            d = d.parent
        if not d.is_dir():
            return "secure_mkdirs() failed: Not a directory"
        why = self.dev.write_error(d)
        if why is not None:
            return f"secure_mkdirs() failed: {why}" if missing else f"couldn't create file: {why}"
        uid = self.dev._effective_shell_uid()
        for m in reversed(missing):
            m.mkdir()
            if uid is not None:
                os.lchown(m, uid, uid)
        return None

    def _recv(self, path: str) -> bool:
        host = self.dev.host_path(path)
        try:
            with open(host, "rb") as fh:
                while True:
                    chunk = fh.read(SYNC_DATA_MAX)
                    if not chunk:
                        break
                    self.conn.sendall(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
        except OSError as exc:
            self._fail(f"open failed: {os.strerror(exc.errno or 2)}")
            return False
        self.conn.sendall(b"DONE" + struct.pack("<I", 0))
        return True

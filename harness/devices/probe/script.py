"""What is this device? A self-contained probe that runs ON the device with only the standard library.

It is pushed next to the runner (or piped to `python3 -`) and prints one JSON object:

    python3 probe_script.py                full probe (PROBE_KEYS)
    python3 probe_script.py --temperature  quick mode for before/after each job (TEMPERATURE_KEYS)

Nothing here imports a runtime: versions come from importlib.metadata, so probing never costs the
memory or the seconds of loading ONNX Runtime or LiteRT. Every key is always present (None when the
device does not say), values are scalars, lists of scalars, or (thermal_zones) one name -> value map.
Keep it importable by old Pythons (3.7, as on older Raspberry Pi OS images): no newer syntax.
"""

import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys

PROBE_VERSION = 1

# Documented output. Units are in the names; lists are per logical CPU in cpu order.
PROBE_KEYS = {
    "probe_version": "version of this probe's output",
    "hostname": "network name of the device",
    "arch": "machine architecture from uname (aarch64, armv7l, x86_64)",
    "system": "kernel family (Linux)",
    "kernel": "kernel release (uname -r)",
    "kernel_version": "kernel build string (uname -v)",
    "os_name": "PRETTY_NAME from /etc/os-release (or Android release)",
    "os_id": "ID from /etc/os-release (debian, raspbian, ubuntu)",
    "os_version_id": "VERSION_ID from /etc/os-release",
    "board_model": "board name from the device tree, e.g. 'Raspberry Pi 4 Model B Rev 1.4'",
    "soc": "SoC from the device tree 'compatible' (e.g. brcm,bcm2711) or Android ro.soc.model",
    "cpu_model": "CPU model name (x86 'model name'; ARM core names derived from 'CPU part')",
    "cpu_parts": "core type per CPU (Cortex-A72, Cortex-A55, ... or the x86 model name)",
    "cpu_max_freq_khz": "cpufreq cpuinfo_max_freq per CPU (None where sysfs does not say)",
    "cpu_core_types": "summary of core clusters, e.g. '4x Cortex-A55 @1.80GHz + 4x Cortex-A76 @2.40GHz'",
    "cpu_big_little": "true when the cores differ in type or maximum frequency",
    "cpu_cores": "logical CPUs in the system",
    "cpu_cores_available": "CPUs this process may run on (affinity mask)",
    "cpu_features": "inference-relevant ISA features (neon/asimd, asimddp, i8mm, avx2, avx512_vnni...)",
    "governor": "cpufreq scaling governor (comma-joined when CPUs differ)",
    "cpu_governors": "scaling_governor per CPU",
    "ram_total_bytes": "MemTotal from /proc/meminfo",
    "ram_available_bytes": "MemAvailable from /proc/meminfo",
    "swap_total_bytes": "SwapTotal from /proc/meminfo",
    "load_avg_1m": "1-minute load average when probed (other work on the device skews timings)",
    "temp_c": "hottest reading in degrees C (thermal zones, or vcgencmd when zones are absent)",
    "thermal_zones": "thermal zone type -> degrees C (/sys/class/thermal/thermal_zone*/)",
    "vcgencmd_temp_c": "`vcgencmd measure_temp` on a Raspberry Pi, degrees C",
    "throttled": "`vcgencmd get_throttled` bit mask, e.g. '0x0' (Raspberry Pi)",
    "throttled_flags": "decoded throttled bits (under-voltage, throttled, ... now / has occurred)",
    "python_version": "version of the Python running the probe",
    "python_implementation": "CPython, PyPy...",
    "python_executable": "path of that Python",
    "numpy_version": "installed numpy (importlib.metadata; not imported)",
    "onnxruntime_version": "installed onnxruntime (any of its CPU/GPU distributions)",
    "ai_edge_litert_version": "installed ai-edge-litert (the preferred TFLite interpreter)",
    "tflite_runtime_version": "installed tflite-runtime (fallback on older images)",
    "tensorflow_version": "installed tensorflow (last-resort TFLite interpreter)",
    "android_model": "ro.product.model (Android only)",
    "android_manufacturer": "ro.product.manufacturer (Android only)",
    "android_soc": "ro.soc.model, else ro.board.platform / ro.hardware (Android only)",
    "android_sdk": "ro.build.version.sdk (Android only)",
    "android_release": "ro.build.version.release (Android only)",
}

TEMPERATURE_KEYS = ("temp_c", "thermal_zones", "vcgencmd_temp_c", "throttled", "throttled_flags")

# (implementer, part) from /proc/cpuinfo -> core name (util-linux lscpu-arm.c).
ARM_PARTS = {
    0x41: {
        0xC05: "Cortex-A5", 0xC07: "Cortex-A7", 0xC08: "Cortex-A8", 0xC09: "Cortex-A9",
        0xC0D: "Cortex-A12", 0xC0E: "Cortex-A17", 0xC0F: "Cortex-A15", 0xD01: "Cortex-A32",
        0xD02: "Cortex-A34", 0xD03: "Cortex-A53", 0xD04: "Cortex-A35", 0xD05: "Cortex-A55",
        0xD06: "Cortex-A65", 0xD07: "Cortex-A57", 0xD08: "Cortex-A72", 0xD09: "Cortex-A73",
        0xD0A: "Cortex-A75", 0xD0B: "Cortex-A76", 0xD0C: "Neoverse-N1", 0xD0D: "Cortex-A77",
        0xD0E: "Cortex-A76AE", 0xD40: "Neoverse-V1", 0xD41: "Cortex-A78", 0xD42: "Cortex-A78AE",
        0xD43: "Cortex-A65AE", 0xD44: "Cortex-X1", 0xD46: "Cortex-A510", 0xD47: "Cortex-A710",
        0xD48: "Cortex-X2", 0xD49: "Neoverse-N2", 0xD4A: "Neoverse-E1", 0xD4B: "Cortex-A78C",
        0xD4C: "Cortex-X1C", 0xD4D: "Cortex-A715", 0xD4E: "Cortex-X3", 0xD4F: "Neoverse-V2",
        0xD80: "Cortex-A520", 0xD81: "Cortex-A720", 0xD82: "Cortex-X4", 0xD84: "Neoverse-V3",
        0xD85: "Cortex-X925", 0xD87: "Cortex-A725", 0xD8E: "Neoverse-N3",
    },
    0x51: {
        0x800: "Kryo-2XX-Gold", 0x801: "Kryo-2XX-Silver", 0x802: "Kryo-3XX-Gold",
        0x803: "Kryo-3XX-Silver", 0x804: "Kryo-4XX-Gold", 0x805: "Kryo-4XX-Silver",
        0xC00: "Falkor", 0xC01: "Saphira",
    },
}

# ISA features that decide which kernels the runtimes can use (int8 dot products, fp16, wide SIMD).
INTERESTING_FEATURES = (
    "neon", "asimd", "asimddp", "asimdhp", "fphp", "i8mm", "bf16", "sve", "sve2", "sme",
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16",
    "avx512_fp16", "amx_int8",
)

THROTTLED_BITS = {
    0: "under-voltage", 1: "arm-frequency-capped", 2: "throttled", 3: "soft-temperature-limit",
    16: "under-voltage-occurred", 17: "arm-frequency-capped-occurred", 18: "throttled-occurred",
    19: "soft-temperature-limit-occurred",
}

DISTRIBUTIONS = {
    "numpy_version": ("numpy",),
    "onnxruntime_version": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino",
                            "onnxruntime-qnn", "onnxruntime-directml", "onnxruntime-training"),
    "ai_edge_litert_version": ("ai-edge-litert", "ai-edge-litert-nightly"),
    "tflite_runtime_version": ("tflite-runtime", "tflite_runtime"),
    "tensorflow_version": ("tensorflow", "tensorflow-cpu", "tensorflow-aarch64", "tf-nightly"),
}

COMMAND_TIMEOUT_S = 3.0


def _read(path, default=None):
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8", "replace").replace("\x00", "\n").strip()
    except (OSError, ValueError):
        return default


def _int(text):
    try:
        return int(str(text).strip(), 0)
    except (TypeError, ValueError):
        return None


def _command(argv):
    """stdout of a short command, or None when it is absent, fails or exceeds COMMAND_TIMEOUT_S."""
    if shutil.which(argv[0]) is None and not os.path.isfile(argv[0]):
        return None
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              timeout=COMMAND_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.decode("utf-8", "replace").strip()


def parse_cpuinfo(text):
    """/proc/cpuinfo -> (list of per-processor dicts, dict of the global lines such as Hardware)."""
    cpus, common, current = [], {}, None
    for line in (text or "").splitlines():
        if ":" not in line:
            if not line.strip():
                current = None
            continue
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "processor":
            current = {"processor": value}
            cpus.append(current)
        elif current is not None:
            current[key] = value
        else:
            common[key] = value
    return cpus, common


def core_name(cpu):
    """The core type of one /proc/cpuinfo processor block."""
    implementer, part = _int(cpu.get("CPU implementer")), _int(cpu.get("CPU part"))
    if part is not None:
        name = ARM_PARTS.get(implementer, {}).get(part)
        return name or f"0x{implementer or 0:02x}:0x{part:03x}"
    return cpu.get("model name") or cpu.get("Processor") or cpu.get("cpu model")


def _cpu_ids():
    online = _read("/sys/devices/system/cpu/possible") or _read("/sys/devices/system/cpu/present")
    ids = parse_cpu_list(online) if online else []
    return ids or list(range(os.cpu_count() or 1))


def parse_cpu_list(text):
    """'0-3,6' -> [0, 1, 2, 3, 6] (the sysfs cpu list format)."""
    out = []
    for chunk in (text or "").strip().split(","):
        if not chunk:
            continue
        lo, _, hi = chunk.partition("-")
        if not lo.strip().isdigit() or (hi and not hi.strip().isdigit()):
            return []
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def summarize_cores(parts, freqs_khz):
    """Group CPUs by (type, max freq): '4x Cortex-A55 @1.80GHz + 4x Cortex-A76 @2.40GHz'."""
    groups = []
    for part, freq in zip(parts, freqs_khz):
        key = (part or "unknown", freq)
        for group in groups:
            if group[0] == key:
                group[1] += 1
                break
        else:
            groups.append([key, 1])
    groups.sort(key=lambda g: (g[0][1] or 0, g[0][0]))
    text = []
    for (part, freq), count in groups:
        label = f"{count}x {part}"
        if freq:
            label += f" @{freq / 1e6:.2f}GHz"
        text.append(label)
    return " + ".join(text), len(groups) > 1


def cpu_info(cpuinfo_text=None, sysfs="/sys/devices/system/cpu"):
    text = cpuinfo_text if cpuinfo_text is not None else (_read("/proc/cpuinfo") or "")
    cpus, common = parse_cpuinfo(text)
    ids = _cpu_ids() if cpuinfo_text is None else [_int(c.get("processor")) or i for i, c in enumerate(cpus)]
    by_id = {_int(c.get("processor")): c for c in cpus}
    hybrid = _intel_hybrid_types(sysfs)
    parts, freqs, governors = [], [], []
    for cpu_id in ids:
        block = by_id.get(cpu_id) or (cpus[0] if cpus else {})
        part = hybrid.get(cpu_id) or core_name(block)
        parts.append(part)
        freqs.append(_int(_read(f"{sysfs}/cpu{cpu_id}/cpufreq/cpuinfo_max_freq")))
        governors.append(_read(f"{sysfs}/cpu{cpu_id}/cpufreq/scaling_governor"))
    summary, big_little = summarize_cores(parts, freqs)
    unique_parts = []
    for part in parts:
        if part and part not in unique_parts:
            unique_parts.append(part)
    model = None
    if cpus and cpus[0].get("model name") and not cpus[0].get("CPU part"):
        model = cpus[0]["model name"]
    elif unique_parts:
        model = " + ".join(unique_parts)
    if not model:
        model = common.get("Hardware") or common.get("model name") or platform.processor() or None
    flags = set()
    for block in cpus[:1] + [common]:
        for key in ("Features", "flags"):
            flags.update((block.get(key) or "").split())
    features = [f for f in INTERESTING_FEATURES if f in flags]
    known_governors = [g for g in governors if g]
    distinct = []
    for g in known_governors:
        if g not in distinct:
            distinct.append(g)
    return {
        "cpu_model": model,
        "cpu_parts": parts,
        "cpu_max_freq_khz": freqs,
        "cpu_core_types": summary,
        "cpu_big_little": big_little,
        "cpu_features": features,
        "governor": ",".join(distinct) or None,
        "cpu_governors": governors,
    }


def _intel_hybrid_types(sysfs):
    """Intel hybrid CPUs list their P- and E-cores under /sys/devices/cpu_core and cpu_atom."""
    out = {}
    base = os.path.dirname(os.path.dirname(sysfs.rstrip("/")))  # /sys/devices/system/cpu -> /sys/devices
    for kind, label in (("cpu_core", "P-core"), ("cpu_atom", "E-core")):
        for cpu_id in parse_cpu_list(_read(os.path.join(base, kind, "cpus")) or ""):
            out[cpu_id] = label
    return out


def meminfo(text=None):
    text = text if text is not None else (_read("/proc/meminfo") or "")
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        fields = rest.split()
        if fields and fields[0].isdigit():
            scale = 1024 if len(fields) > 1 and fields[1].lower() == "kb" else 1
            values[key.strip()] = int(fields[0]) * scale
    return {
        "ram_total_bytes": values.get("MemTotal"),
        "ram_available_bytes": values.get("MemAvailable"),
        "swap_total_bytes": values.get("SwapTotal"),
    }


def os_release(text=None):
    text = text if text is not None else (_read("/etc/os-release") or _read("/usr/lib/os-release") or "")
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            values[key.strip()] = value
    return {
        "os_name": values.get("PRETTY_NAME") or values.get("NAME"),
        "os_id": values.get("ID"),
        "os_version_id": values.get("VERSION_ID"),
    }


def parse_getprop(text):
    """`getprop` output ('[ro.product.model]: [Pixel 7]' lines) -> dict."""
    props = {}
    for match in re.finditer(r"^\[([^\]]+)\]: \[(.*)\]\s*$", text or "", re.MULTILINE):
        props[match.group(1)] = match.group(2)
    return props


def android_info(props=None):
    if props is None:
        out = _command(["getprop"]) if os.path.exists("/system/build.prop") or "ANDROID_ROOT" in os.environ else None
        props = parse_getprop(out) if out else {}
    pick = lambda *keys: next((props[k] for k in keys if props.get(k)), None)
    return {
        "android_model": pick("ro.product.model"),
        "android_manufacturer": pick("ro.product.manufacturer"),
        "android_soc": pick("ro.soc.model", "ro.board.platform", "ro.hardware"),
        "android_sdk": _int(pick("ro.build.version.sdk")),
        "android_release": pick("ro.build.version.release"),
    }


def board_info():
    model = _read("/proc/device-tree/model") or _read("/sys/firmware/devicetree/base/model")
    compatible = _read("/proc/device-tree/compatible")
    soc = compatible.split("\n")[-1].strip() if compatible else None
    return {"board_model": model.split("\n")[0] if model else None, "soc": soc}


def thermal_zones(root="/sys/class/thermal"):
    zones = {}
    try:
        names = sorted(os.listdir(root), key=lambda n: (len(n), n))
    except OSError:
        return zones
    for name in names:
        if not name.startswith("thermal_zone"):
            continue
        milli = _int(_read(os.path.join(root, name, "temp")))
        if milli is None:
            continue
        label = _read(os.path.join(root, name, "type")) or name
        key, n = label, 2
        while key in zones:
            key, n = f"{label}#{n}", n + 1
        # Most zones report millidegrees; a few old drivers report degrees.
        zones[key] = round(milli / 1000.0, 1) if abs(milli) >= 1000 else float(milli)
    return zones


def parse_vcgencmd_temp(text):
    match = re.search(r"temp=([-\d.]+)", text or "")
    return float(match.group(1)) if match else None


def parse_throttled(text):
    match = re.search(r"throttled=(0x[0-9a-fA-F]+|\d+)", text or "")
    if not match:
        return None, None
    mask = int(match.group(1), 0)
    return hex(mask), [name for bit, name in sorted(THROTTLED_BITS.items()) if mask & (1 << bit)]


def _vcgencmd():
    for candidate in ("vcgencmd", "/usr/bin/vcgencmd", "/opt/vc/bin/vcgencmd"):
        if shutil.which(candidate) or os.path.isfile(candidate):
            return candidate
    return None


def temperature():
    """Quick mode: thermal zones plus vcgencmd on a Pi. Cheap enough to run before and after each job."""
    zones = thermal_zones()
    vc = _vcgencmd()
    vc_temp = parse_vcgencmd_temp(_command([vc, "measure_temp"])) if vc else None
    throttled, flags = parse_throttled(_command([vc, "get_throttled"])) if vc else (None, None)
    readings = list(zones.values()) + ([vc_temp] if vc_temp is not None else [])
    return {
        "temp_c": max(readings) if readings else None,
        "thermal_zones": zones,
        "vcgencmd_temp_c": vc_temp,
        "throttled": throttled,
        "throttled_flags": flags,
    }


def package_versions():
    try:
        from importlib import metadata
    except ImportError:  # Python < 3.8
        metadata = None
    out = {}
    for key, names in DISTRIBUTIONS.items():
        out[key] = None
        for name in names:
            try:
                out[key] = metadata.version(name) if metadata else None
            except Exception:  # PackageNotFoundError, or a broken dist-info
                continue
            if out[key]:
                break
    return out


def collect():
    """The full probe as one flat dict with every PROBE_KEYS key."""
    uname = platform.uname()
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        available = os.cpu_count()
    try:
        load = round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        load = None
    result = {
        "probe_version": PROBE_VERSION,
        "hostname": socket.gethostname(),
        "arch": uname.machine,
        "system": uname.system,
        "kernel": uname.release,
        "kernel_version": uname.version,
        "cpu_cores": os.cpu_count(),
        "cpu_cores_available": available,
        "load_avg_1m": load,
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "python_executable": sys.executable,
    }
    result.update(os_release())
    result.update(board_info())
    result.update(cpu_info())
    result.update(meminfo())
    result.update(temperature())
    result.update(package_versions())
    result.update(android_info())
    if result["android_release"] and not result["os_name"]:
        result["os_name"] = "Android " + str(result["android_release"])
    if result["android_soc"] and not result["soc"]:
        result["soc"] = result["android_soc"]
    return {key: result.get(key) for key in PROBE_KEYS}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    data = temperature() if "--temperature" in argv else collect()
    sys.stdout.write(json.dumps(data, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The adb probe: one shell command (no Python needed on the phone) and the parser of its output,
giving every PROBE_KEYS key of the probe script (devices/probe/script.py) plus the adb extras."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from ..probe import script as probe_script
from ..config import NATIVE_TOOLS, AdbConfig

THERMAL_COMMAND = ("for z in /sys/class/thermal/thermal_zone*; do "
                   "echo \"$(cat $z/temp 2>/dev/null || echo -) $(cat $z/type 2>/dev/null)\"; done")


def _python_probe_code() -> str:
    """Python and runtime versions through importlib.metadata (nothing imported, so it is quick)."""
    dists = {k: list(v) for k, v in probe_script.DISTRIBUTIONS.items()}
    return ("import json, platform, sys\n"
            "from importlib import metadata\n"
            f"d = {dists!r}\n"
            "out = {'python_version': platform.python_version(),\n"
            "       'python_implementation': platform.python_implementation(),\n"
            "       'python_executable': sys.executable}\n"
            "for key, names in d.items():\n"
            "    out[key] = None\n"
            "    for n in names:\n"
            "        try:\n"
            "            out[key] = metadata.version(n); break\n"
            "        except Exception:\n"
            "            pass\n"
            "print(json.dumps(out))\n")


def probe_command(config: AdbConfig) -> str:
    q = shlex.quote
    workdir = config.workdir
    parts = [
        "echo @@uname; uname -m; uname -r; uname -v",
        "echo @@getprop; getprop",
        "echo @@cpuinfo; cat /proc/cpuinfo 2>/dev/null",
        ("echo @@cpufreq; for c in /sys/devices/system/cpu/cpu[0-9]*; do "
         "echo \"${c##*/} $(cat $c/cpufreq/cpuinfo_max_freq 2>/dev/null || echo -) "
         "$(cat $c/cpufreq/scaling_governor 2>/dev/null || echo -)\"; done"),
        "echo @@meminfo; cat /proc/meminfo 2>/dev/null",
        "echo @@loadavg; cat /proc/loadavg 2>/dev/null",
        f"echo @@thermal; {THERMAL_COMMAND}",
        f"echo @@python; {q(config.python)} -c {q(_python_probe_code())} 2>/dev/null",
    ]
    for tool in NATIVE_TOOLS:
        explicit = getattr(config, tool)
        candidates = [explicit] if explicit else [f"{workdir}/bin/{tool}", tool]
        parts.append(f"echo @@tool {tool}; for t in {' '.join(q(c) for c in candidates)}; do "
                     f"command -v \"$t\" && break; done")
    parts.append("echo @@timeout; command -v timeout")
    parts.append(f"echo @@workdir; if mkdir -p {q(workdir)} 2>/dev/null && [ -w {q(workdir)} ]; then "
                 f"echo writable; else echo readonly; fi; df -k {q(workdir)} 2>/dev/null | tail -n 1")
    return "; ".join(parts) + "; true"


def _sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("@@"):
            current = line[2:].strip()
            out[current] = []
        else:
            out.setdefault(current, []).append(line.rstrip())
    return out


def parse_thermal(text: str) -> dict[str, float]:
    """'41200 cpu-0-0-usr' lines -> zone type -> degrees C (duplicate types get #2, #3...)."""
    zones: dict[str, float] = {}
    for i, line in enumerate(text.splitlines()):
        bits = line.split(None, 1)
        if not bits or not re.fullmatch(r"-?\d+", bits[0]):
            continue
        milli = int(bits[0])
        label = bits[1].strip() if len(bits) > 1 and bits[1].strip() else f"thermal_zone{i}"
        key, n = label, 2
        while key in zones:
            key, n = f"{label}#{n}", n + 1
        zones[key] = round(milli / 1000.0, 1) if abs(milli) >= 1000 else float(milli)
    return zones


def parse_probe(text: str) -> dict[str, Any]:
    """The probe command's output -> every PROBE_KEYS key (same meanings as probe_script.py) plus
    adb extras: native_tools, workdir_writable, workdir_free_bytes, android_fingerprint."""
    ps = probe_script
    s = _sections(text)
    uname = s.get("uname", []) + ["", "", ""]
    props = ps.parse_getprop("\n".join(s.get("getprop", [])))
    cpus, common = ps.parse_cpuinfo("\n".join(s.get("cpuinfo", [])))
    by_id = {ps._int(c.get("processor")): c for c in cpus}
    freq: dict[int, int | None] = {}
    gov: dict[int, str | None] = {}
    for line in s.get("cpufreq", []):
        bits = line.split()
        if bits and re.fullmatch(r"cpu\d+", bits[0]):
            cpu = int(bits[0][3:])
            freq[cpu] = int(bits[1]) if len(bits) > 1 and bits[1].isdigit() else None
            gov[cpu] = bits[2] if len(bits) > 2 and bits[2] != "-" else None
    ids = sorted(set(freq) | {i for i in by_id if i is not None})
    parts = [ps.core_name(by_id.get(i) or (cpus[0] if cpus else {})) for i in ids]
    freqs = [freq.get(i) for i in ids]
    summary, big_little = ps.summarize_cores(parts, freqs)
    unique = list(dict.fromkeys(p for p in parts if p))
    flags = set((cpus[0] if cpus else {}).get("Features", "").split()) | set(common.get("Features", "").split())
    governors = [gov.get(i) for i in ids]
    zones = parse_thermal("\n".join(s.get("thermal", [])))
    python: dict[str, Any] = {}
    for line in s.get("python", []):
        try:
            python = json.loads(line)
        except ValueError:
            continue
    load = (s.get("loadavg") or [""])[0].split()
    info: dict[str, Any] = {key: None for key in ps.PROBE_KEYS}
    info.update({
        "probe_version": ps.PROBE_VERSION, "hostname": props.get("net.hostname") or None,
        "arch": uname[0] or None, "system": "Linux", "kernel": uname[1] or None,
        "kernel_version": uname[2] or None, "os_id": "android",
        "cpu_model": " + ".join(unique) or common.get("Hardware") or None, "cpu_parts": parts,
        "cpu_max_freq_khz": freqs, "cpu_core_types": summary or None, "cpu_big_little": big_little,
        "cpu_cores": len(ids) or None,
        "cpu_features": [f for f in ps.INTERESTING_FEATURES if f in flags],
        "governor": ",".join(dict.fromkeys(g for g in governors if g)) or None,
        "cpu_governors": governors, "load_avg_1m": float(load[0]) if load and _is_float(load[0]) else None,
        "temp_c": max(zones.values()) if zones else None, "thermal_zones": zones,
    })
    info.update(ps.meminfo("\n".join(s.get("meminfo", []))))
    info.update(ps.android_info(props))
    info.update({k: v for k, v in python.items() if k in ps.PROBE_KEYS})
    info["os_name"] = f"Android {info['android_release']}" if info.get("android_release") else "Android"
    info["os_version_id"] = info.get("android_release")
    info["soc"] = info.get("android_soc")
    info["android_fingerprint"] = props.get("ro.build.fingerprint") or None
    info["remote_timeout"] = next((x.strip() for x in s.get("timeout", []) if x.strip()), None)
    info["native_tools"] = {tool: next((x.strip() for x in s.get(f"tool {tool}", []) if x.strip()), None)
                            for tool in NATIVE_TOOLS}
    wd = s.get("workdir", [])
    info["workdir_writable"] = (wd[0] == "writable") if wd else None
    df = wd[1].split() if len(wd) > 1 else []
    info["workdir_free_bytes"] = int(df[3]) * 1024 if len(df) >= 4 and df[3].isdigit() else None
    return info


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False

"""The [conditions] table: every key checked (names, finite numbers, ranges, kinds) with one line per
problem naming the key, and a valid table turned into the settings the device loop uses."""

from __future__ import annotations

import tomllib

from harness.conditions import CONDITION_KEYS, parse_conditions, validate_conditions

EXAMPLE = """
[conditions]
cooldown_below_c = 45.0
cooldown_max_wait_s = 180
cooldown_per = "round"
cooldown_zones = ["cpu", "soc"]
governor = "performance"
freq_min_khz = 1200000
freq_max_khz = {policy0 = 1785600, cpu4 = 2419200}
governor_required = true
sudo = true
energy = "command"
energy_command = "meter --joules"
energy_interval_s = 0.05
"""


def test_a_full_example_is_valid_and_becomes_settings():
    table = tomllib.loads(EXAMPLE)["conditions"]
    assert validate_conditions(table, "devices/pi5.toml", kind="ssh") == []
    c = parse_conditions(table)
    assert (c.cooldown.below_c, c.cooldown.max_wait_s, c.cooldown.per, c.cooldown.zones) == \
        (45.0, 180.0, "round", ("cpu", "soc"))
    assert c.cooldown.poll_s == 2.0 and c.cooldown.window_s == 30.0  # defaults
    assert c.governor.governor == "performance" and c.governor.required
    assert dict(c.governor.freq_min_khz) == {"*": 1200000}
    assert dict(c.governor.freq_max_khz) == {"policy0": 1785600, "cpu4": 2419200}
    assert c.energy == "command" and c.energy_command == ("meter", "--joules") and c.sudo


def test_an_empty_table_asks_for_nothing():
    c = parse_conditions({})
    assert c.cooldown is None and not c.governor.active and c.energy == "off"


def test_every_mistake_is_one_line_naming_the_key():
    table = {"cooldown_below": 45, "cooldown_max_wait_s": float("inf"), "cooldown_per": "trial",
             "cooldown_poll_s": 0, "cooldown_below_c": 400, "governor": "perf ormance",
             "freq_min_khz": {"big": 1}, "freq_max_khz": -5, "governor_required": "yes",
             "energy": "joulescope", "energy_interval_s": True, "cooldown_zones": ["cpu", 3]}
    problems = validate_conditions(table, lambda key: f"pi.toml:{list(table).index(key) + 2}")
    assert problems == [
        "pi.toml:2: unknown key conditions.cooldown_below (did you mean 'cooldown_below_c'?)",
        "pi.toml:3: conditions.cooldown_max_wait_s must be a finite number (seconds > 0), not inf",
        "pi.toml:4: conditions.cooldown_per must be \"job\" or \"round\", not 'trial'",
        "pi.toml:5: conditions.cooldown_poll_s must be seconds > 0, not 0",
        "pi.toml:6: conditions.cooldown_below_c must be a temperature between -40 and 150 C, not 400",
        "pi.toml:7: conditions.governor must be a governor name such as \"performance\" or \"schedutil\", "
        "not 'perf ormance'",
        "pi.toml:8: conditions.freq_min_khz has cluster 'big': use policyN (a cpufreq policy), cpuN (the "
        "policy of CPU N) or \"*\"",
        "pi.toml:9: conditions.freq_max_khz must give kHz as a whole number between 1 and 100000000, not -5 "
        "(for *)",
        "pi.toml:10: conditions.governor_required must be true or false, not 'yes'",
        "pi.toml:11: conditions.energy must be \"auto\" | \"rapl\" | \"hwmon\" | \"battery\" | "
        "\"batterystats\" | \"command\" | \"off\", not 'joulescope'",
        "pi.toml:12: conditions.energy_interval_s must be seconds > 0, not True",
        "pi.toml:13: conditions.cooldown_zones must list zone type names (strings), not ['cpu', 3]",
    ]


def test_combinations_and_device_kinds_are_checked():
    assert validate_conditions({"freq_min_khz": 2000000, "freq_max_khz": 1000000}, "a.toml") == [
        "a.toml: conditions.freq_min_khz 2000000 is above freq_max_khz 1000000"]
    assert validate_conditions({"energy": "command"}, "a.toml") == [
        'a.toml: conditions.energy = "command" needs energy_command = [...]']
    assert validate_conditions({"su": True}, "a.toml", kind="ssh") == [
        "a.toml: conditions.su is for rooted phones (kind = 'adb'); use sudo = true"]
    assert validate_conditions({"energy": "batterystats"}, "a.toml", kind="ssh") == [
        "a.toml: conditions.energy = \"batterystats\" is for Android phones (kind = 'adb')"]
    assert validate_conditions({"sudo": True}, "a.toml", kind="adb") == [
        "a.toml: conditions.sudo is for ssh and local; a rooted phone uses su = true"]
    assert validate_conditions({"governor": "performance"}, "q.toml", kind="qemu")[0].startswith(
        "q.toml: [conditions] does not apply to kind = 'qemu'")


def test_the_readme_section_documents_every_key():
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    texts = [(repo / name).read_text() for name in ("README.md", "CONDITIONS-README-SECTION.md")
             if (repo / name).is_file()]
    text = next(t[t.index("## Device conditions"):] for t in texts if "## Device conditions" in t)
    assert [k for k in CONDITION_KEYS if f"`{k}`" not in text] == []

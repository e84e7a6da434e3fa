"""Profiles are validated before any job runs; every problem names the file, the key and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import assert_clean_error, edgebench
from harness.errors import ProfileError
from harness.profiles import load_profiles


def write(tmp_path: Path, text: str, name: str = "dev.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_shipped_local_profile_is_valid():
    (prof,) = load_profiles(["devices/local.toml"])
    assert prof.kind == "local"
    assert prof.matrix["runtimes"] == ["onnxruntime", "tflite"]
    assert prof.matrix["threads"] == [1, 2]


def test_unknown_key_names_file_line_and_suggests(tmp_path):
    p = write(tmp_path, '[device]\nname = "x"\nkind = "local"\n\n[matrix]\nthread = [1]\n')
    with pytest.raises(ProfileError) as exc:
        load_profiles([str(p)])
    msg = str(exc.value)
    assert f"{p}:6" in msg and "matrix.thread" in msg and "threads" in msg


def test_all_problems_reported_together(tmp_path):
    p = write(tmp_path, '[device]\nname = "x"\nkind = "local"\ncolour = 1\n\n[matrix]\n'
                        'runtimes = ["onnxruntime", "tensorrt"]\nthreads = [0]\nmin_time_s = -1\n')
    with pytest.raises(ProfileError) as exc:
        load_profiles([str(p)])
    msg = str(exc.value)
    assert msg.startswith("4 problems")
    for needle in ("device.colour", "'tensorrt'", "matrix.threads", "matrix.min_time_s"):
        assert needle in msg


def test_wrong_type_is_named(tmp_path):
    p = write(tmp_path, '[device]\nkind = "local"\n[matrix]\ntrials = "three"\n')
    with pytest.raises(ProfileError, match=r"matrix.trials must be an integer"):
        load_profiles([str(p)])


def test_ssh_profile_needs_a_host(tmp_path):
    p = write(tmp_path, '[device]\nname = "pi"\nkind = "ssh"\n')
    with pytest.raises(ProfileError, match="device.host is required"):
        load_profiles([str(p)])


def test_command_line_overrides_replace_matrix_keys():
    (prof,) = load_profiles(["devices/local.toml"], {"threads": [4], "runtimes": ["tflite"], "quick": True})
    assert prof.matrix["threads"] == [4]
    assert prof.matrix["runtimes"] == ["tflite"]
    assert prof.matrix["trials"] == 1  # --quick
    assert prof.matrix["precisions"] == ["fp32", "int8"]  # untouched


def test_cli_unknown_runtime_is_one_clear_line_and_runs_nothing(tmp_path):
    proc = edgebench("run", "devices/local.toml", "--runtime", "tensorrt", "--out", str(tmp_path))
    err = assert_clean_error(proc, "'tensorrt'", "onnxruntime, tflite")
    assert list(tmp_path.iterdir()) == []  # no run folder: nothing ran
    assert err.count("\n") == 1


def test_cli_unknown_profile_key(tmp_path):
    p = write(tmp_path, '[device]\nname = "x"\nkind = "local"\nhots = "a"\n')
    proc = edgebench("run", str(p), "--out", str(tmp_path / "out"))
    assert_clean_error(proc, str(p), "device.hots")


def test_cli_missing_model_path(tmp_path):
    p = write(tmp_path, f'[device]\nname = "x"\nkind = "local"\n[matrix]\nmodels = ["{tmp_path}/nope.onnx"]\n')
    proc = edgebench("run", str(p), "--out", str(tmp_path / "out"))
    assert_clean_error(proc, "nope.onnx", "does not exist")
    assert not (tmp_path / "out").exists()


def test_cli_missing_profile_file(tmp_path):
    proc = edgebench("run", str(tmp_path / "absent.toml"))
    assert_clean_error(proc, "absent.toml", "no such profile")


def test_a_misspelt_key_gets_the_closest_suggestion(tmp_path):
    p = write(tmp_path, '[device]\nname = "x"\nkind = "local"\n[matrix]\ntrails = 3\n')
    with pytest.raises(ProfileError, match=r"matrix.trails \(did you mean 'trials'\?\)"):
        load_profiles([str(p)])


def test_secret_names_are_whole_words_so_ordinary_settings_stay():
    from harness.execution.secrets import is_secret_name, scrub, secret_values

    assert is_secret_name("DB_PASSWORD") and is_secret_name("hfToken") and is_secret_name("api-key")
    assert not is_secret_name("TOKENIZERS_PARALLELISM") and not is_secret_name("KEYBOARD")
    import os

    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    os.environ["EDGEBENCH_TEST_TOKEN"] = "s3cr3t-value-42"
    try:
        secrets = secret_values()
        out = scrub({"error": "use_xnnpack=false; token s3cr3t-value-42", "auth_token": "abc"}, secrets)
    finally:
        del os.environ["TOKENIZERS_PARALLELISM"], os.environ["EDGEBENCH_TEST_TOKEN"]
    assert out == {"error": "use_xnnpack=false; token <redacted>", "auth_token": "<redacted>"}


def test_ordinary_environment_variables_are_not_secrets():
    from harness.execution.secrets import is_secret_name

    for name in ("PWD", "OLDPWD", "SSH_AUTH_SOCK", "PATH", "HOME", "TOKENIZERS_PARALLELISM", "KEYBOARD"):
        assert not is_secret_name(name), name
    for name in ("GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "OPENAI_API_KEY", "ssh_passphrase"):
        assert is_secret_name(name), name

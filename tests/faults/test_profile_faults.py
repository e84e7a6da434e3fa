"""Profiles and model files that used to end in tracebacks, hangs or all-failed runs (issue 13, findings
10, 11 and 12): each is one clear line before any job runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import ZOO, assert_clean_error, edgebench
from harness import profiles as profiles_mod
from harness.errors import ProfileError
from harness.profiles import load_profiles

HEAD = '[device]\nname = "box"\nkind = "local"\n[matrix]\nmodels = ["digits-separable"]\n'


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "box.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("line", [
    "job_timeout_s = -5", "job_timeout_s = nan", "job_timeout_s = inf", "max_time_s = nan",
    "max_time_s = inf", "warmup_time_s = nan", "warmup_time_s = inf", "min_time_s = nan",
    "min_time_s = -inf", "max_time_s = 1e9", "job_timeout_s = 0",
])
def test_a_numeric_matrix_value_that_is_not_finite_or_out_of_range_is_refused(tmp_path, line):
    key = line.split()[0]
    with pytest.raises(ProfileError, match=rf"box.toml:6: matrix.{key} = .* is out of range; give a number"):
        load_profiles([str(write(tmp_path, HEAD + line + "\n"))])


def test_numeric_values_in_range_still_load(tmp_path):
    [prof] = load_profiles([str(write(tmp_path, HEAD + "job_timeout_s = 30\nmax_time_s = 3600\n"
                                                        "min_time_s = 0\n"))])
    assert prof.job_timeout_s == 30.0


def test_a_profile_that_is_not_utf8_is_one_line(tmp_path):
    p = tmp_path / "box.toml"
    p.write_bytes(HEAD.encode() + b'eval_data = "caf\xe9.npz"\n')
    err = assert_clean_error(edgebench("run", str(p)), "box.toml", "not UTF-8")
    assert len(err.strip().splitlines()) == 1


def test_a_profile_that_is_a_folder_is_one_line(tmp_path):
    (tmp_path / "box.toml").mkdir()
    err = assert_clean_error(edgebench("run", str(tmp_path / "box.toml")), "box.toml", "is a folder")
    assert len(err.strip().splitlines()) == 1


def test_a_profile_with_a_deeply_nested_array_is_one_line(tmp_path):
    p = write(tmp_path, HEAD + "threads = " + "[" * 20000 + "]" * 20000 + "\n")
    err = assert_clean_error(edgebench("run", str(p)), "box.toml", "nested too deeply")
    assert len(err.strip().splitlines()) == 1


def test_the_line_of_each_problem_comes_from_one_index_of_the_profile(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = profiles_mod.line_index.__wrapped__

    def counted(text):
        calls["n"] += 1
        return real(text)

    monkeypatch.setattr(profiles_mod, "line_index", profiles_mod.functools.lru_cache(maxsize=4)(counted))
    unknown = "".join(f"unknown_{i} = {i}\n" for i in range(500))
    with pytest.raises(ProfileError) as exc:
        load_profiles([str(write(tmp_path, HEAD + unknown))])
    assert "500 problems" in str(exc.value) and "box.toml:505: unknown key matrix.unknown_499" in str(exc.value)
    assert calls["n"] == 1  # indexed once, not rescanned for each of the 500 problems


def test_a_fifo_named_onnx_is_refused_in_one_line_without_hanging(tmp_path):
    fifo = tmp_path / "model.onnx"
    os.mkfifo(fifo)
    p = write(tmp_path, HEAD.replace('["digits-separable"]', f'["{fifo}"]'))
    err = assert_clean_error(edgebench("run", str(p), timeout=60), str(fifo), "a FIFO, not a regular file")
    assert len(err.strip().splitlines()) == 1


def test_a_symlink_to_dev_zero_named_tflite_is_refused_in_one_line(tmp_path):
    link = tmp_path / "model.tflite"
    link.symlink_to("/dev/zero")
    p = write(tmp_path, HEAD.replace('["digits-separable"]', f'["{link}"]') +
              'runtimes = ["tflite"]\n')
    err = assert_clean_error(edgebench("run", str(p), timeout=60), str(link), "a device, not a regular file")
    assert len(err.strip().splitlines()) == 1


def test_eval_data_that_is_a_fifo_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "eval.npz"
    os.mkfifo(fifo)
    model = ZOO / "digits" / "digits-separable-onnx-fp32.onnx"
    p = write(tmp_path, HEAD.replace('["digits-separable"]', f'["{model}"]') + f'eval_data = "{fifo}"\n'
              'runtimes = ["onnxruntime"]\n')
    assert_clean_error(edgebench("run", str(p), timeout=60), str(fifo), "a FIFO, not a regular file")

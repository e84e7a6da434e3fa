"""zoo.toml validation: every mistake is one line that names the file and the key, a non-zero exit,
and no traceback; and nothing is trained or exported before the whole file is valid."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import ZooError
from harness.zoo.config import CODE_VERSION, load_zoo, parse_zoo

REPO = Path(__file__).resolve().parent.parent
ZOO_TOML = REPO / "models" / "zoo.toml"

GOOD = """
[bodies.tiny]
stem = [8, 2]
blocks = [[16, 1], [32, 2]]

[families.tiny]
body = "tiny"
width = 1.0
resolution = 16
channels = 1
classes = 10
dataset = "sklearn-digits"
epochs = 1
"""

# Importing TensorFlow would fail in these subprocesses: validation must not need it.
BLOCK_TF = "import sys; sys.modules['tensorflow'] = None; sys.modules['tf2onnx'] = None; "


def _build(tmp_path: Path, toml: str, *extra: str) -> subprocess.CompletedProcess:
    path = tmp_path / "zoo.toml"
    path.write_text(toml)
    code = BLOCK_TF + "from harness.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, "models", "build", "--zoo-toml", str(path),
                           "--out", str(tmp_path / "out"), *extra],
                          check=False, capture_output=True, text=True, timeout=120, cwd=REPO)


def _one_error_line(p: subprocess.CompletedProcess) -> str:
    assert p.returncode != 0
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("edgebench: error: ")
    return lines[0]


@pytest.mark.parametrize("edit,key,words", [
    (("epochs = 1", "epochs = 1\nepoch = 3"), "families.tiny.epoch", "unknown key"),
    (("width = 1.0", "width = -0.5"), "families.tiny.width", "negative"),
    (("width = 1.0", 'width = "wide"'), "families.tiny.width", "expected a number"),
    (("resolution = 16", "resolution = 16.5"), "families.tiny.resolution", "expected an integer"),
    (("epochs = 1", "epochs = true"), "families.tiny.epochs", "expected an integer"),
    (('dataset = "sklearn-digits"\n', ""), "families.tiny.dataset", "missing"),
    (('dataset = "sklearn-digits"', 'dataset = "mnist"'), "families.tiny.dataset", "unknown dataset 'mnist'"),
    (('body = "tiny"', 'body = "huge"'), "families.tiny.body", "unknown body 'huge'"),
    (("blocks = [[16, 1], [32, 2]]", "blocks = [[16, 3]]"), "bodies.tiny.blocks[0]", "stride 3"),
    (("stem = [8, 2]", "stem = [8, 2]\nkernel = 5"), "bodies.tiny.kernel", "unknown key"),
    (("classes = 10", "classes = 10\n[extras]\nx = 1"), "extras", "unknown top-level key"),
    (("epochs = 1", "epochs = 0"), "families.tiny.epochs", "needs epochs > 0"),
    (("channels = 1", "channels = 3"), "families.tiny.dataset", "channels = 1"),
])
def test_bad_zoo_toml_is_one_line_naming_file_and_key(tmp_path, edit, key, words):
    old, new = edit
    assert old in GOOD
    line = _one_error_line(_build(tmp_path, GOOD.replace(old, new, 1)))
    assert str(tmp_path / "zoo.toml") in line
    assert f": {key}:" in line
    assert words in line
    assert not (tmp_path / "out").exists(), "nothing may be built from an invalid zoo.toml"


def test_invalid_toml_syntax_names_the_file(tmp_path):
    line = _one_error_line(_build(tmp_path, GOOD + "\nwidth = = 2\n"))
    assert str(tmp_path / "zoo.toml") in line and "not valid TOML" in line


def test_missing_zoo_toml_names_the_file(tmp_path):
    code = BLOCK_TF + "from harness.cli import main; sys.exit(main(sys.argv[1:]))"
    p = subprocess.run([sys.executable, "-c", code, "models", "build", "--zoo-toml", str(tmp_path / "nope.toml")],
                       check=False, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert str(tmp_path / "nope.toml") in _one_error_line(p)


def test_unknown_family_on_the_command_line_lists_the_declared_ones(tmp_path):
    line = _one_error_line(_build(tmp_path, GOOD, "--family", "cifar"))
    assert "no family 'cifar'" in line and "tiny" in line


def test_build_without_tensorflow_says_how_to_install_the_export_extra(tmp_path):
    line = _one_error_line(_build(tmp_path, GOOD))
    assert "pip install -e .[export]" in line


def test_unchanged_shipped_family_is_up_to_date_without_tensorflow(tmp_path):
    out = tmp_path / "zoo"
    shutil.copytree(REPO / "models" / "zoo" / "digits", out / "digits")
    shutil.copy(REPO / "models" / "zoo" / "manifest.json", out / "manifest.json")
    code = BLOCK_TF + "from harness.cli import main; sys.exit(main(sys.argv[1:]))"
    args = [sys.executable, "-c", code, "models", "build", "--family", "digits", "--zoo-toml", str(ZOO_TOML),
            "--out", str(out)]
    p = subprocess.run(args, check=False, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert p.returncode == 0, p.stderr
    assert "[digits] up to date" in p.stdout and "0 built, 1 up to date" in p.stdout
    # a changed artifact makes it stale: the build then needs TensorFlow (blocked here)
    victim = out / "digits" / "digits-standard-onnx-int8.onnx"
    victim.write_bytes(victim.read_bytes() + b"\0")
    p = subprocess.run(args, check=False, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert "pip install -e .[export]" in _one_error_line(p)


def test_shipped_zoo_toml_declares_the_digits_pair_and_the_three_mobilenets():
    families = load_zoo(ZOO_TOML)
    assert list(families) == ["digits", "mobilenet_v1_1.0_224", "mobilenet_v1_0.5_224", "mobilenet_v1_1.0_128"]
    digits = families["digits"]
    assert digits.ship and digits.dataset == "sklearn-digits" and digits.bn_momentum == 0.9
    assert (digits.resolution, digits.channels, digits.classes) == (32, 1, 10)
    for name, width, res in [("mobilenet_v1_1.0_224", 1.0, 224), ("mobilenet_v1_0.5_224", 0.5, 224),
                             ("mobilenet_v1_1.0_128", 1.0, 128)]:
        f = families[name]
        assert (f.width, f.resolution, f.channels, f.classes, f.dataset, f.ship) == (width, res, 3, 1000, "none", False)
        assert f.stem == (32, 2) and len(f.blocks) == 13 and f.blocks[-1] == (1024, 1)


def test_inputs_hash_changes_with_config_seed_and_code_version(monkeypatch):
    path = Path("zoo.toml")
    base = parse_zoo(GOOD, path)["tiny"].inputs_sha256()
    assert parse_zoo(GOOD, path)["tiny"].inputs_sha256() == base
    assert parse_zoo(GOOD + "seed = 1\n", path)["tiny"].inputs_sha256() != base
    assert parse_zoo(GOOD.replace("[32, 2]", "[48, 2]"), path)["tiny"].inputs_sha256() != base
    monkeypatch.setattr("harness.zoo.config.CODE_VERSION", CODE_VERSION + 1)
    assert parse_zoo(GOOD, path)["tiny"].inputs_sha256() != base


def test_validation_error_is_a_zoo_error_in_process():
    with pytest.raises(ZooError, match=r"zoo\.toml: families\.tiny\.width: .*negative"):
        parse_zoo(GOOD.replace("width = 1.0", "width = -1"), Path("zoo.toml"))

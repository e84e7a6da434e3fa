"""Writing a report: every output file written once, atomically (tmp + fsync + rename); a full disk
is one line saying what to do, and no temp file is left behind. Uses the checked-in v1 run."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from reportkit import copy_old_run

from harness.errors import HarnessError


@pytest.fixture()
def run(tmp_path: Path) -> Path:
    return copy_old_run(tmp_path / "run")


def test_each_report_file_is_written_once_through_a_rename(run: Path, monkeypatch) -> None:
    from harness.report.write import report_run

    renamed: list[str] = []
    real_replace = os.replace

    def counting_replace(src, dst, *a, **kw):
        renamed.append(Path(dst).name)
        assert Path(src).parent == Path(dst).parent and Path(src).name.endswith(".tmp")
        return real_replace(src, dst, *a, **kw)

    monkeypatch.setattr(os, "replace", counting_replace)
    outputs = report_run(run, html=True)
    assert sorted(renamed) == sorted(outputs) == ["pairs.csv", "report.html", "summary.csv"]
    assert sorted(p.name for p in run.iterdir()) == ["pairs.csv", "records.jsonl", "report.html", "run.json",
                                                     "summary.csv"]


def test_the_collector_computes_the_summary_without_writing(run: Path) -> None:
    from harness.collect import read_run, summarize_records

    before = sorted(p.name for p in run.iterdir())
    summary = summarize_records(read_run(run)[1])
    assert len(summary) == 8
    assert sorted(p.name for p in run.iterdir()) == before


@pytest.mark.parametrize("fail_on", ["replace", "open"])
def test_a_full_disk_is_one_line_naming_the_file_and_leaves_no_temp_file(run: Path, monkeypatch, capsys,
                                                                         fail_on: str) -> None:
    from harness.cli import main

    def full(*a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    if fail_on == "replace":
        monkeypatch.setattr(os, "replace", full)
    else:
        import builtins

        real_open = builtins.open

        def open_full(file, mode="r", *a, **kw):
            if str(file).endswith(".tmp") and "w" in mode:
                fh = real_open(file, mode, *a, **kw)
                fh.close()  # the temp file exists, then the write fails as on a full disk
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_open(file, mode, *a, **kw)

        monkeypatch.setattr(builtins, "open", open_full)
    assert main(["report", str(run)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert str(run / "summary.csv") in err[0] and "disk is full" in err[0]
    assert f"edgebench report {run}" in err[0]
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
    assert not (run / "summary.csv").exists()


def test_a_write_error_from_the_library_is_a_harness_error(run: Path, monkeypatch) -> None:
    from harness.report.write import write_output

    def denied(*a, **kw):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", denied)
    with pytest.raises(HarnessError, match="Permission denied; check the folder's permissions"):
        write_output(run / "pairs.csv", b"x\n", run)
    assert sorted(p.name for p in run.iterdir()) == ["records.jsonl", "run.json"]

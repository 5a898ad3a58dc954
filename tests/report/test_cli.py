"""`controlroom report`: formats, output files, and one-line errors with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controlroom.report.cli import main
from tests.report.conftest import FIXTURES


def test_json_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(FIXTURES / "held.jsonl"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "held"


def test_markdown_is_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(FIXTURES / "held.jsonl")]) == 0
    assert capsys.readouterr().out.startswith("# Game day report: checkout-survives-slow-db")


def test_format_follows_the_output_suffix(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    assert main([str(FIXTURES / "breach.jsonl"), "-o", str(out)]) == 0
    assert out.read_text().startswith("<!DOCTYPE html>")


def test_torn_journal_reports_with_exit_0(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    assert main([str(FIXTURES / "crashed.jsonl"), "-o", str(out)]) == 0
    assert json.loads(out.read_text())["incomplete"] is True


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], expect: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert expect in err


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _one_line_error(capsys, [str(tmp_path / "nope.jsonl")], "cannot read journal")


def test_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _one_line_error(capsys, [str(tmp_path)], "is a directory")


def test_not_a_journal(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl"
    p.write_text('{"hello": 1}\n')
    _one_line_error(capsys, [str(p)], "not a controlroom journal")


def test_damaged_line_in_the_middle_is_skipped_and_the_report_is_marked_incomplete(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    lines = (FIXTURES / "held.jsonl").read_text().splitlines()
    lines[5] = lines[5][:20]
    p = tmp_path / "damaged.jsonl"
    p.write_text("\n".join(lines) + "\n")
    out = tmp_path / "r.json"
    assert main([str(p), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"{p}:6: skipped: not JSON" in err and "Traceback" not in err
    report = json.loads(out.read_text())
    assert report["incomplete"] is True and report["hypothesis"]["validated"] is None
    assert any(f"{p}:6: skipped" in w for w in report["journal_warnings"])


def test_output_into_a_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _one_line_error(capsys, [str(FIXTURES / "held.jsonl"), "-o", str(tmp_path)], "is a directory; give -o a file")


def test_unknown_format_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(FIXTURES / "held.jsonl"), "--format", "pdf"]) == 2

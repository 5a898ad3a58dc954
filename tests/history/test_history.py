"""`controlroom history` over a directory of journals: trends, filters, failure modes, and what it skips."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controlroom.history import HistoryError, load_history, main, parse_since, render_history
from controlroom.history_cache import SummaryCache
from controlroom.paths import journal_dir

FIXTURES = Path(__file__).parents[1] / "report" / "fixtures"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _copy(src: str, dst: Path, days_ago: float) -> None:
    """A fixture journal as if it had been recorded `days_ago` before NOW (only the header's start moves)."""
    lines = (FIXTURES / f"{src}.jsonl").read_bytes().split(b"\n")
    header = json.loads(lines[0])
    header["started"] = (NOW - timedelta(days=days_ago)).isoformat(timespec="milliseconds")
    lines[0] = json.dumps(header).encode()
    dst.write_bytes(b"\n".join(lines))


@pytest.fixture
def journals(tmp_path: Path) -> Path:
    d = tmp_path / "journals"
    d.mkdir()
    _copy("breach", d / "1-breach.jsonl", 40)
    _copy("unconfirmed", d / "2-unconfirmed.jsonl", 20)
    _copy("crashed", d / "3-crashed.jsonl", 10)
    _copy("held", d / "4-held.jsonl", 1)
    (d / "notes.jsonl").write_text("this is not a journal\n")
    (d / "readme.txt").write_text("ignored: not *.jsonl\n")
    return d


def test_sessions_are_listed_oldest_first_with_status_and_score(journals: Path) -> None:
    h = load_history(journals, now=NOW)
    assert [s.status for s in h.sessions] == ["rolled-back", "failed", "incomplete", "held"]
    assert h.sessions[-1].score == pytest.approx(99.9)
    assert len(h.skipped) == 1 and "not a controlroom journal" in h.skipped[0]


def test_since_keeps_only_recent_sessions(journals: Path) -> None:
    h = load_history(journals, since=parse_since("30d"), now=NOW)
    assert [s.status for s in h.sessions] == ["failed", "incomplete", "held"]


def test_service_filter_matches_target_labels(journals: Path) -> None:
    assert len(load_history(journals, service="payments-db", now=NOW).sessions) == 4
    assert load_history(journals, service="billing", now=NOW).sessions == []


def test_rendered_history_has_trend_outcomes_and_failure_modes(journals: Path) -> None:
    text = render_history(load_history(journals, now=NOW))
    assert "4 session(s)" in text
    assert "Score trend per scenario, oldest → newest:" in text
    assert "Outcomes: failed 1 · held 1 · incomplete 1 · rolled-back 1" in text
    assert "payments-db" in text
    # unconfirmed-revert was found twice (the failed session, and the crash that left a fault possibly active)
    assert "unconfirmed-revert       2×" in text
    assert "cascading-failure        1×" in text
    assert "skipped: " in text


def test_since_needs_a_unit() -> None:
    assert parse_since("2w") == timedelta(days=14)
    with pytest.raises(HistoryError, match="12h, 30d or 2w"):
        parse_since("30")


def test_cli_prints_history_and_errors_in_one_line(journals: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dir", str(journals), "--service", "payments-db"]) == 0
    assert "for payments-db" in capsys.readouterr().out
    assert main(["--dir", str(journals), "--since", "soon"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--since 'soon'" in err


def test_cli_with_a_file_as_dir_is_a_user_error(journals: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dir", str(journals / "readme.txt")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_default_directory_follows_xdg_data_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert journal_dir() == tmp_path / "controlroom" / "journals"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert journal_dir() == tmp_path / ".local" / "share" / "controlroom" / "journals"
    assert main([]) == 0
    assert "No journals found" in capsys.readouterr().out


def _refused_preflight(path: Path, started: datetime) -> None:
    from controlroom.journal.events import Event
    from controlroom.journal.writer import JournalWriter

    w = JournalWriter(path, {"session": "fe11ed000001", "scenario": "lab-bandwidth",
                             "started": started.isoformat(timespec="milliseconds")}, fsync=False)
    for mono, type_, data in [
        (0.0, "session-started", {"session": "fe11ed000001", "scenario": "lab-bandwidth", "hypothesis": "h",
                                  "environment": "lab", "targets": [{"name": "h1", "kind": "ssh", "labels": {}}],
                                  "steps": [], "series": []}),
        (0.5, "preflight-check", {"check": "tool tc (netem)", "target": "h1", "ok": False,
                                  "detail": "h1: kernel has no sch_netem; latency cannot be injected"}),
        (0.6, "session-ended", {"outcome": "preflight-failed", "exit_code": 2, "unconfirmed": [],
                                "message": "h1: kernel has no sch_netem"}),
    ]:
        w.append(Event(type=type_, t=(started + timedelta(seconds=mono)).isoformat(), mono=mono, data=data))
    w.close()


def test_a_refused_preflight_says_so_and_that_nothing_was_injected(journals: Path) -> None:
    _refused_preflight(journals / "5-refused.jsonl", NOW - timedelta(hours=2))
    text = render_history(load_history(journals, now=NOW))
    row = next(line for line in text.splitlines() if "fe11ed000001" in line)
    assert "pre-flight refused" in row and "nothing injected" in row and "failed" not in row
    assert "pre-flight refused 1 session(s) before anything was injected" in text


def test_each_row_names_its_session_and_journal_and_trends_are_per_scenario(journals: Path) -> None:
    (journals / "6-demo.jsonl").write_bytes((FIXTURES / "demo.jsonl").read_bytes())
    text = render_history(load_history(journals, now=NOW))
    header = next(line for line in text.splitlines() if line.startswith("date (UTC)"))
    assert "session" in header and header.endswith("journal")
    held = next(line for line in text.splitlines() if "4-held.jsonl" in line)
    assert "a1b2c3d4e5f6" in held and "held" in held
    trends = text.split("Score trend per scenario, oldest → newest:\n", 1)[1].split("Outcomes:", 1)[0]
    lines = [line.strip() for line in trends.splitlines() if line.strip()]
    assert [line.split()[0] for line in lines] == ["checkout-survives-slow-db", "demo-checkout"]
    assert "(4 run(s))" in lines[0] and "(1 run(s))" in lines[1]


def test_a_filter_that_matches_nothing_says_so_rather_than_no_journals(
        journals: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dir", str(journals), "--service", "nosuch"]) == 0
    out = capsys.readouterr().out
    assert "No journals found" not in out
    assert "None of the 4 journal(s) here matched --service nosuch" in out


def test_a_journal_with_damaged_lines_is_shown_with_a_warning_and_one_that_breaks_is_skipped(
        journals: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = (journals / "4-held.jsonl").read_text().splitlines()
    lines[3] = '{"t":"x","mono":1,"type":"note","text":5}'
    (journals / "4-held.jsonl").write_text("\n".join(lines) + "\n")
    h = load_history(journals, now=NOW)
    assert len(h.sessions) == 4
    assert any("4-held.jsonl: 1 damaged line(s) skipped" in w for w in h.warnings)
    assert "warning: " in render_history(h)

    import controlroom.history as history

    real = history.build_report_parts

    def explode_on_breach(journal):  # a bug in summarising one journal must not hide the others
        if "breach" in str(journal.path):
            raise TypeError("boom")
        return real(journal)

    monkeypatch.setattr(history, "build_report_parts", explode_on_breach)
    h = load_history(journals, now=NOW, cache=SummaryCache(enabled=False))  # summarised again, not from the cache
    assert len(h.sessions) == 3
    assert any("1-breach.jsonl: could not be summarised (TypeError: boom)" in w for w in h.skipped)

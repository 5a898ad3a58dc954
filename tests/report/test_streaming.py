"""The report folds a journal as it streams by (journal.reader.JournalStream, report/series.py) and says what the
in-memory report said: the same report for every sample journal as the code before the streaming fold
(tests/report/fixtures/old-reports/, written by it), and the same as from the journal read whole."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from controlroom.journal.reader import JournalStream, read_journal
from controlroom.report.build import build_report
from controlroom.report.series import CHUNK

FIXTURES = Path(__file__).parent / "fixtures"
NAMES = sorted(p.stem for p in FIXTURES.glob("*.jsonl"))


def _report(journal: Any) -> dict[str, Any]:
    """The report as `--format json` prints it, the journal named without its directory."""
    text = json.dumps(build_report(journal)).replace(str(journal.path), Path(journal.path).name)
    return dict(json.loads(text))


NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _close(a: float, b: float) -> bool:
    """One unit of the last digit shown apart at most: 3 places for figures, 1 for scores, whole percents."""
    return abs(a - b) <= max(0.0011, abs(a) * 0.0005)


# Fields the report gained after the old reports were written (issue 14: a Kubernetes fault's pods and its
# workload's recovery), with the value they take for a fault that is not a Kubernetes one.
ADDED = {"pods": [], "recovered_s": None}


def _same(old: Any, new: Any, where: str = "") -> list[str]:
    """Where two reports differ. A mean may differ in its last digit shown: the old fold summed a window's
    values one float at a time (0.892 for a mean of exactly 0.8925, but 3.875 for one of 3.8755), the streaming
    fold sums exactly (report/series.py), so a mean on a rounding tie can come out one digit apart; numbers
    inside sentences likewise ("2529% worse" -> "2530% worse"). Everything else must be equal."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for k in sorted(set(old) | set(new))
                for d in _same(old.get(k, ADDED.get(k)), new.get(k), f"{where}.{k}")]
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return [f"{where}: {len(old)} items -> {len(new)}"]
        return [d for i, (a, b) in enumerate(zip(old, new, strict=True)) for d in _same(a, b, f"{where}[{i}]")]
    if isinstance(old, float) and isinstance(new, float) and _close(old, new):
        return []
    if isinstance(old, str) and isinstance(new, str) and NUMBER.split(old) == NUMBER.split(new):
        pairs = zip(NUMBER.findall(old), NUMBER.findall(new), strict=True)
        if all(_close(float(a), float(b)) or abs(float(a) - float(b)) <= 1 for a, b in pairs):
            return []
    return [] if old == new else [f"{where}: {old!r} -> {new!r}"]


@pytest.mark.parametrize("name", NAMES)
def test_the_streaming_report_is_the_report_before_it(name: str) -> None:
    old = json.loads((FIXTURES / "old-reports" / f"{name}.json").read_text())
    new = _report(JournalStream(FIXTURES / f"{name}.jsonl"))
    assert _same(old, new) == []


@pytest.mark.parametrize("name", NAMES)
def test_streaming_and_in_memory_give_the_same_report(name: str) -> None:
    assert _report(JournalStream(FIXTURES / f"{name}.jsonl")) == _report(read_journal(FIXTURES / f"{name}.jsonl"))


def _damaged(tmp_path: Path) -> Path:
    lines = (FIXTURES / "breach.jsonl").read_text().splitlines()
    lines[5] = '{"t":"x","mono":1,"type":"note","text":5}'  # a payload of the wrong type
    lines[9] = "garbage"
    lines.append(lines[1])  # a second session-started
    path = tmp_path / "damaged.jsonl"
    path.write_text("\n".join(lines) + '\n{"t":"2026-11-20T14:00:23.000+00:00","mono":2')  # a torn last line
    return path


def test_the_stream_skips_and_reports_the_lines_the_whole_reader_does(tmp_path: Path) -> None:
    path = _damaged(tmp_path)
    whole = read_journal(path)
    stream = JournalStream(path)
    events = list(stream)
    assert events == whole.events
    assert (stream.warnings, stream.skipped, stream.first_bad) == (whole.warnings, whole.skipped, whole.first_bad)
    assert stream.skipped == 3 and any("torn last line" in w for w in stream.warnings)
    assert list(stream.iter_events()) == events and stream.skipped == 3  # a second pass counts nothing twice
    assert _report(JournalStream(path)) == _report(read_journal(path))


def test_the_stream_reads_in_blocks_and_lines_that_cross_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import controlroom.journal.reader as reader

    monkeypatch.setattr(reader, "BLOCK", 97)  # every line crosses a block edge somewhere
    path = FIXTURES / "demo.jsonl"
    assert list(JournalStream(path)) == read_journal(path).events


def test_many_samples_fold_in_chunks_with_the_same_figures(tmp_path: Path) -> None:
    """A session longer than a chunk: window figures from chunk sums equal those from every sample."""
    lines = (FIXTURES / "held.jsonl").read_text().splitlines()
    header, body = lines[0], [json.loads(x) for x in lines[1:]]
    samples = [e for e in body if e["type"] == "metric-sample"]
    others = [e for e in body if e["type"] != "metric-sample"]
    end = max(e["mono"] for e in body)
    n = 3 * CHUNK
    many = []
    for i in range(n):  # the recorded samples, repeated densely over the same session time
        s = dict(samples[i % len(samples)])
        s["mono"] = round(end * i / n, 6)
        many.append(s)
    merged = sorted(others + many, key=lambda e: (e["mono"], e["type"] != "metric-sample"))
    path = tmp_path / "long.jsonl"
    path.write_text(header + "\n" + "\n".join(json.dumps(e) for e in merged) + "\n")
    r = _report(JournalStream(path))
    assert len(JournalStream(path).header) and r["series"][0]["samples"] == n
    by_hand = _window_means(merged, r)
    for s in r["series"]:
        assert s["during"] == pytest.approx(by_hand[s["name"]], abs=0.0011)


def _window_means(events: list[dict[str, Any]], report: dict[str, Any]) -> dict[str, float]:
    windows = [w for f in report["faults"] if (w := f["window"])]
    sums: dict[str, list[float]] = {}
    for e in events:
        if e["type"] == "metric-sample" and any(a <= e["mono"] < b for a, b in windows):
            for k, v in e["values"].items():
                if v is not None:
                    sums.setdefault(k, []).append(v)
    return {k: sum(v) / len(v) for k, v in sums.items()}

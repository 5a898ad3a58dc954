"""The parallel reader (`JournalStream(path, workers=N)`: blocks parsed in other processes, journal order kept)
gives what the serial reader gives: the same events and samples in the same order, the same skipped lines with
the same line numbers and warnings, the same torn last line — and the same report, byte for byte.

Blocks are made tiny (BLOCK patched) so that a journal of a few hundred lines is cut into dozens of blocks, and
damage is put at the places a merge could get wrong: in the first block, at a block's first line, in a line
longer than a block, a second session-started at the start of a worker's block, and every line before the
first session-started damaged (a worker must not decide the one-session rule without knowing what came before).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import controlroom.journal.reader as reader
from benchmarks.bench_report import write_journal
from controlroom.journal.events import Event
from controlroom.journal.reader import JournalStream, Samples, read_journal
from controlroom.report.build import build_report
from controlroom.report.render import render_html, render_json, render_markdown

FIXTURES = Path(__file__).parents[1] / "report" / "fixtures"
FUZZ = settings(
    max_examples=min(20, int(os.environ.get("CONTROLROOM_FUZZ_EXAMPLES", "60"))),  # a process pool each
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def tiny_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "BLOCK", 512)
    monkeypatch.setattr(reader, "PARALLEL_BLOCKS", 2)
    monkeypatch.setattr(reader, "AHEAD", 3)


def _flat(stream: JournalStream) -> list[Any]:
    """The batches one sample or event at a time (the readers cut runs at different places: their blocks)."""
    out: list[Any] = []
    for item in stream.iter_batches():
        if isinstance(item, Samples):
            # Errors: an empty object and None say the same (no source failed); the parallel reader sends None.
            out.extend(("sample", m, v, e or None) for m, v, e in zip(item.monos, item.rows(), item.errors, strict=True))
        else:
            out.append(("event", item))
    return out


def _account(stream: JournalStream) -> tuple[list[str], int, str]:
    return stream.warnings, stream.skipped, stream.first_bad


def _same_both_ways(path: Path, workers: int = 2) -> JournalStream:
    serial, parallel = JournalStream(path), JournalStream(path, workers=workers)
    assert _flat(parallel) == _flat(serial)
    assert _account(parallel) == _account(serial)
    # And against the reader of the whole file, event by event.
    whole = read_journal(path)
    assert [x[1] if x[0] == "event" else (x[1], x[2]) for x in _flat(JournalStream(path, workers=workers))] == \
        [e if e.type != "metric-sample" else (e.mono, e.data.get("values") or {}) for e in whole.events]
    assert _account(parallel) == (whole.warnings, whole.skipped, whole.first_bad)
    return parallel


def _lines(name: str) -> list[str]:
    return (FIXTURES / f"{name}.jsonl").read_text().splitlines()


def _write(path: Path, lines: list[str], tail: str = "\n") -> Path:
    path.write_text("\n".join(lines) + tail)
    return path


def test_a_journal_of_many_blocks_reads_the_same_in_parallel(tmp_path: Path, tiny_blocks: None) -> None:
    path = tmp_path / "gen.jsonl"
    write_journal(path, 3_000, seed=3)
    assert len(JournalStream(path)._plan() or []) > 50  # cut into many blocks: the parallel path is taken
    _same_both_ways(path)


def test_damage_where_blocks_meet_is_counted_and_located_as_the_serial_reader_does(tmp_path: Path,
                                                                                     tiny_blocks: None) -> None:
    lines = _lines("breach")
    session = lines[1]
    body = lines[1:]
    out = [lines[0]]
    for i, line in enumerate(body * 3):
        out.append(line if i == 0 or '"session-started"' not in line else '{"t":"x","mono":1,"type":"note","text":5}')
    out[4] = "garbage in the first block"
    out[len(out) // 2] = session  # a second session-started, somewhere in a worker's block
    out.insert(30, '{"t":"2026-11-20T14:00:00Z","mono":1.0,"type":"note","text":"' + "x" * 2000 + '","author":"a"}')
    out.insert(60, "")  # a blank line: skipped, not damage
    out[90] = '{"t":"x","mono":1,"type":"metric-sample","values":{"p99_ms":"slow"},"errors":{}}'
    path = _write(tmp_path / "damaged.jsonl", out, '\n{"t":"2026-11-20T14:00:23.000+00:00","mono":2')
    stream = _same_both_ways(path)
    assert stream.skipped >= 5 and any("torn last line" in w for w in stream.warnings)
    assert any("a second session-started" in w for w in stream.warnings)
    # Every block boundary lands somewhere in this journal: a session-started opening a worker's block too.
    starts = [i for i, x in enumerate(out) if x == session]
    assert len(starts) == 2


def test_a_session_started_after_damage_only_is_the_first_even_in_a_workers_block(tmp_path: Path,
                                                                                   tiny_blocks: None) -> None:
    """Every line before the session-started is damaged, and it falls in a worker's block: the worker cannot
    know nothing came before it (it assumes something did), so its block is read again in the parent."""
    lines = _lines("held")
    path = _write(tmp_path / "late.jsonl", [lines[0], *["not json"] * 80, *lines[1:]])
    assert len(JournalStream(path)._plan() or []) > 3
    stream = _same_both_ways(path)
    assert stream.skipped == 80
    assert not any("second session-started" in w for w in stream.warnings)
    report = build_report(JournalStream(path, workers=2))
    assert report["experiment"]["name"] == build_report(read_journal(path))["experiment"]["name"] != ""


def test_a_short_journal_is_read_here_alone(tmp_path: Path) -> None:
    """Below PARALLEL_BLOCKS blocks no worker is started (they cost more than they save)."""
    path = FIXTURES / "demo.jsonl"
    assert JournalStream(path, workers=2)._plan() is None
    assert _flat(JournalStream(path, workers=2)) == _flat(JournalStream(path))


def _json(path: Path, workers: int) -> str:
    return json.dumps(build_report(JournalStream(path, workers=workers)), sort_keys=True)


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("*.jsonl")))
def test_the_report_in_parallel_is_the_report(name: str, tiny_blocks: None, monkeypatch: pytest.MonkeyPatch) -> None:
    path = FIXTURES / f"{name}.jsonl"
    monkeypatch.setattr(reader, "BLOCK", max(64, path.stat().st_size // 20))  # a recorded journal in 20 blocks
    assert JournalStream(path)._plan() is not None
    assert _json(path, 2) == _json(path, 0) == json.dumps(build_report(read_journal(path)), sort_keys=True)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_generated_session_reports_the_same_in_parallel_in_every_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                          workers: int) -> None:
    """Long enough for many chunks of the series fold, its chart buckets and the observed fold's forgetting."""
    path = tmp_path / "gen.jsonl"
    write_journal(path, 40_000, seed=11)
    monkeypatch.setattr(reader, "BLOCK", 64 * 1024)
    assert len(JournalStream(path)._plan() or []) > 50
    serial, parallel = build_report(JournalStream(path)), build_report(JournalStream(path, workers=workers))
    for render in (render_json, render_markdown, render_html):
        assert render(parallel) == render(serial)


# Lines a journal can hold: samples with the same or varying series, other events, damage of every kind.
SAMPLE = st.builds(lambda mono, vals, errs: json.dumps({"t": "2026-11-20T14:00:00Z", "mono": mono, "type": "metric-sample",
                                                         "values": vals, "errors": errs}),
                   st.floats(0, 100).map(lambda m: round(m, 2)),
                   st.one_of(st.just({"a": 1.0, "b": 2}), st.dictionaries(st.sampled_from("abc"),
                             st.one_of(st.none(), st.floats(-5, 5), st.integers(-3, 3)), max_size=3)),
                   st.one_of(st.just({}), st.just({"a": "down"})))
OTHER = st.sampled_from([
    '{"t":"2026-11-20T14:00:01Z","mono":5.0,"type":"note","text":"n","author":"a"}',
    '{"t":"2026-11-20T14:00:01Z","mono":6.0,"type":"step-completed","step":"s1","outcome":"passed"}',
    "garbage", "", "[1, 2]", '{"type":"note"}', '{"t":"x","mono":1,"type":"metric-sample","values":{"a":"x"}}',
    '{"t":"x","mono":1,"type":"metric-sample","values":{"a":1e999},"errors":{}}',
    '{"t":"x","mono":1e400,"type":"note","text":"n","author":"a"}',
])


@FUZZ
@given(body=st.lists(st.one_of(SAMPLE, SAMPLE, SAMPLE, OTHER), min_size=1, max_size=300),
       session_at=st.integers(0, 300), block=st.sampled_from([97, 256, 700]), tail=st.sampled_from(["\n", "", '\n{"t"']))
def test_any_journal_reads_the_same_in_parallel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: list[str],
                                                session_at: int, block: int, tail: str) -> None:
    monkeypatch.setattr(reader, "BLOCK", block)
    monkeypatch.setattr(reader, "PARALLEL_BLOCKS", 2)
    header, started = _lines("breach")[:2]
    lines = list(body)
    lines.insert(min(session_at, len(lines)), started)
    path = _write(tmp_path / "j.jsonl", [header, *lines], tail)
    _same_both_ways(path)


def test_the_events_a_worker_sends_are_the_events_the_serial_reader_makes(tmp_path: Path) -> None:
    """A worker's block, unpickled in the parent, is equal to the same lines read here (Event and Samples)."""
    path = tmp_path / "gen.jsonl"
    write_journal(path, 2_000, seed=5)
    size = path.stat().st_size
    n, items, bad, assumed = reader._parse_block(path, size // 3, size)
    assert n > 100 and bad == [] and not assumed
    assert any(isinstance(i, Event) for i in items)
    runs = [i for i in items if isinstance(i, Samples)]
    assert runs and all(r.columns is not None and r.values == [] for r in runs)
    rows = [row for r in runs for row in r.rows()]
    assert rows == [e.data["values"] for e in read_journal(path).events if e.type == "metric-sample"][-len(rows):]


def test_an_event_in_a_workers_block_makes_a_later_session_started_a_second_one(tmp_path: Path,
                                                                                tiny_blocks: None) -> None:
    """The first block all damage, a note in a worker's block, then a session-started that opens another
    worker's block exactly: it is a second one (the note came first), as the serial reader says."""
    header, started = _lines("breach")[:2]
    note = '{"t":"2026-11-20T14:00:01Z","mono":5.0,"type":"note","text":"n","author":"a"}'
    head = "\n".join([header, *["not json " * 10] * 7, note]) + "\n"  # 7 damaged lines: the first block
    h = len(header) + 1
    cut = h + ((len(head) - h) // reader.BLOCK + 2) * reader.BLOCK  # a block's first byte, past the note
    filler = "x" * (cut - len(head) - 1)  # damage that ends just before it
    path = _write(tmp_path / "second.jsonl", [head + filler, started, note])
    assert cut in (JournalStream(path)._plan() or [])
    stream = _same_both_ways(path)
    assert any("a second session-started" in w for w in stream.warnings) and stream.skipped == 9


def test_a_last_line_without_its_newline_that_is_whole_is_read_as_the_serial_reader_reads_it(
        tmp_path: Path, tiny_blocks: None) -> None:
    lines = _lines("held")
    path = _write(tmp_path / "nonl.jsonl", lines, "")  # the last event, whole, but no newline after it
    stream = _same_both_ways(path)
    assert stream.skipped == 0 and not any("torn" in w for w in stream.warnings)


def test_a_journal_cut_shorter_while_read_in_parallel_is_one_located_error(tmp_path: Path) -> None:
    """A block asked for past the file's end (the file truncated after the plan): a JournalError, not a block
    silently short of lines."""
    from controlroom.errors import JournalError

    path = _write(tmp_path / "short.jsonl", _lines("held"))
    size = path.stat().st_size
    assert reader._read_range(path, size // 2, size, False)  # whole lines, up to the end
    with pytest.raises(JournalError, match="became shorter"):
        reader._read_range(path, size // 2, size + 500, False)
    with pytest.raises(JournalError, match="became shorter"):
        reader._read_range(path, size + 10, size + 500, True)


_real_parse_block = reader._parse_block


def _dies_past_the_middle(path: Path, start: int, end: int) -> Any:
    """A worker that is killed (as by the OOM killer) on a block in the second half of the journal."""
    if start > path.stat().st_size // 2:
        os._exit(9)
    return _real_parse_block(path, start, end)


def test_a_worker_that_dies_leaves_its_blocks_to_this_process(tmp_path: Path, tiny_blocks: None,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "gen.jsonl"
    write_journal(path, 3_000, seed=4)
    monkeypatch.setattr(reader, "_parse_block", _dies_past_the_middle)
    _same_both_ways(path)


def test_no_workers_to_be_had_reads_here_alone(tmp_path: Path, tiny_blocks: None,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """No fork on the platform, no semaphores: the pool is None and every block is parsed here."""
    path = _write(tmp_path / "damaged.jsonl", [*_lines("breach"), "garbage", *_lines("breach")[2:]])
    monkeypatch.setattr(reader, "_pool", lambda workers: None)
    stream = _same_both_ways(path)
    assert stream.skipped == 1

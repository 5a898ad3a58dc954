"""The report's batched reading of metric samples (`JournalStream.iter_batches`, `schema.samples_fast`) decides
every line as the line-by-line reader does: the fast check accepts only runs the schema accepts, unchanged; the
stream yields the same events, skips the same lines with the same located warnings, whatever the journal holds."""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import controlroom.journal.reader as reader
from controlroom.journal.events import Event
from controlroom.journal.reader import JournalStream, Samples, read_journal
from controlroom.journal.schema import MISSING, BadEvent, event_from_doc, samples_fast

FIXTURES = Path(__file__).parents[1] / "report" / "fixtures"
FUZZ = settings(
    max_examples=int(os.environ.get("CONTROLROOM_FUZZ_EXAMPLES", "80")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Readings as JSON can carry them, and the hostile ones: NaN, infinities, ints past 10**300 (made null by the
# schema: the fast check must leave them to it), floats near the edge, bools, strings, lists, objects.
HOSTILE = st.sampled_from([math.nan, math.inf, -math.inf, 10**300, -(10**300), 10**300 - 1, 10**400, 1e300,
                           1.7e308, -1.7e308, True, False, "1", [], {}, [1.0], {"a": 1}, -0.0, 0])
READING = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False), st.integers(-(10**6), 10**6),
                    st.integers(), HOSTILE)
NAMES = st.sampled_from(["success_rate", "p99_ms", "rows", "api.success_rate", ""])


@st.composite
def sample_docs(draw: Any, hostile: bool = True) -> dict[str, Any]:
    reading = READING if hostile else st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False,
                                                                      min_value=-1e12, max_value=1e12),
                                               st.integers(-(10**9), 10**9))
    doc: dict[str, Any] = {"type": "metric-sample", "t": "2026-11-20T14:00:00.000+00:00",
                           "mono": draw(st.one_of(st.floats(-1e6, 1e6), st.integers(-(10**6), 10**6))),
                           "values": draw(st.dictionaries(NAMES, reading, max_size=4))}
    if draw(st.booleans()):
        doc["errors"] = draw(st.dictionaries(NAMES, st.text(max_size=3), max_size=2))
    if hostile and draw(st.integers(0, 3)) == 0:  # one field broken or gone
        field = draw(st.sampled_from(["t", "mono", "values", "errors"]))
        doc[field] = draw(st.one_of(st.none(), HOSTILE, st.text(max_size=2), st.just({"x": 5}),
                                    st.just({"x": None}), st.just(MISSING)))
        if doc[field] is MISSING:
            del doc[field]
    if hostile and draw(st.booleans()):
        doc["extra"] = draw(st.one_of(st.none(), HOSTILE))  # a field the vocabulary does not name: kept, ignored
    return doc


def _fast(docs: list[dict[str, Any]]) -> list[float] | None:
    ts = [d.get("t") for d in docs]
    monos = [d.get("mono") for d in docs]
    values = [d.get("values") for d in docs]
    errors = [d.get("errors", MISSING) for d in docs]
    return samples_fast(ts, monos, values, errors)


def _same_value(a: Any, b: Any) -> bool:
    """Equal and of one type, -0.0 told from 0.0 (a report prints them differently)."""
    return type(a) is type(b) and (repr(a) == repr(b) if isinstance(a, float) else a == b)


@FUZZ
@given(st.lists(sample_docs(), min_size=1, max_size=6))
def test_the_fast_check_accepts_only_what_the_schema_accepts_unchanged(docs: list[dict[str, Any]]) -> None:
    before = copy.deepcopy(docs)
    monos = _fast(docs)
    assert docs == before  # it changes nothing (a NaN is the same object in the copy: equal as a list item)
    if monos is None:
        return
    for doc, mono in zip(docs, monos, strict=True):
        ev = event_from_doc(copy.deepcopy(doc))  # raises BadEvent if the schema would skip the line
        assert _same_value(ev.mono, mono) and type(mono) is float
        assert ev.data["values"].keys() == doc["values"].keys()
        assert all(_same_value(ev.data["values"][k], v) for k, v in doc["values"].items())  # nothing made null
        assert ev.data.get("errors") == doc.get("errors")


@FUZZ
@given(st.lists(sample_docs(hostile=False), min_size=1, max_size=6))
def test_the_fast_check_accepts_plain_samples(docs: list[dict[str, Any]]) -> None:
    """Not vacuous: the samples a session writes are accepted by the fast check (and by the schema)."""
    monos = _fast(docs)
    assert monos is not None and monos == [float(d["mono"]) for d in docs]
    for doc in docs:
        event_from_doc(copy.deepcopy(doc))


@pytest.mark.parametrize("bad", [
    {"values": {"a": math.nan}}, {"values": {"a": math.inf}}, {"values": {"a": 10**300}}, {"values": {"a": True}},
    {"values": {"a": "1"}}, {"values": None}, {"errors": None}, {"errors": {"a": 5}}, {"mono": math.nan},
    {"mono": 10**300}, {"mono": True}, {"t": 5}, {"values": {"a": 1e308, "b": 1e308}},  # sums past a float
])
def test_the_fast_check_leaves_every_doubtful_run_to_the_schema(bad: dict[str, Any]) -> None:
    doc = {"type": "metric-sample", "t": "x", "mono": 1.0, "values": {"a": 1.0}, **bad}
    assert _fast([{"type": "metric-sample", "t": "x", "mono": 0.5, "values": {"a": 2}}, doc]) is None


# ---- the stream ---------------------------------------------------------------------------------------------

HOSTILE_LINES = [
    b"", b"   ", b"garbage", b"[1, 2]", b"5", b"null", b'"metric-sample"', b'{"type": 5}', b"{}",
    b'{"t":"x","mono":1,"type":"metric-sample","values":{"a":NaN}}',
    b'{"t":"x","mono":1,"type":"metric-sample","values":{"a":1e999}}',
    b'{"t":"x","mono":1,"type":"metric-sample","values":{"a":' + b"9" * 400 + b"}}",
    b'{"t":"x","mono":1,"type":"metric-sample","values":{"a":true}}',
    b'{"t":"x","mono":1,"type":"metric-sample","values":{"a":1},"errors":null}',
    b'{"t":"x","mono":1,"type":"metric-sample"}',
    b'{"t":"x","mono":"1","type":"metric-sample","values":{}}',
    b'{"t":"x","mono":1,"type":"metric-sample","values":{"a":1}}, {"t":"x"}',
    b'{"t":"x","mono":1,"type":"metric-sample","values":{"a":1},"errors":{"a":"down"}}',
    b'{"t":"x","mono":1,"type":"metric-sample","values":{"a\xff":1}}',
    b'{"t":"x","mono":1,"type":"note","text":5}',
    b'{"t":"x","mono":1,"type":"nonsense"}',
    b"[" * 5000 + b"]" * 5000,
]


def _hostile_journal(tmp_path: Path, name: str, edits: list[tuple[int, int]], torn: bool) -> Path:
    lines = (FIXTURES / f"{name}.jsonl").read_bytes().split(b"\n")[:-1]
    for at, which in edits:
        k = 1 + at % (len(lines) - 1)
        if which == len(HOSTILE_LINES):
            lines.insert(k, lines[1])  # a second session-started
        else:
            lines[k] = HOSTILE_LINES[which]
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join(lines) + (b'\n{"t":"x","mono":2' if torn else b"\n"))
    return path


def _flat(items: list[Event | Samples]) -> list[tuple[Any, ...]]:
    """Events as (type, mono, values, errors) or (type, t, mono, data); runs of samples opened up."""
    out: list[tuple[Any, ...]] = []
    for item in items:
        if isinstance(item, Samples):
            assert item.monos and len(item.monos) == len(item.values) == len(item.errors)
            out += [("metric-sample", m, v, e) for m, v, e in zip(item.monos, item.values, item.errors, strict=True)]
        elif item.type == "metric-sample":
            raise AssertionError("iter_batches yielded a metric-sample Event, not a run")
        else:
            out.append((item.type, item.t, item.mono, item.data))
    return out


def _as_batches(events: list[Event]) -> list[tuple[Any, ...]]:
    return [("metric-sample", e.mono, e.data.get("values"), e.data.get("errors")) if e.type == "metric-sample"
            else (e.type, e.t, e.mono, e.data) for e in events]


def _t_of_runs(items: list[Event | Samples], events: list[Event]) -> None:
    """Each run's first_t / last_t are its first and last sample's t."""
    k = 0
    for item in items:
        if isinstance(item, Samples):
            n = len(item.monos)
            assert (item.first_t, item.last_t) == (events[k].t, events[k + n - 1].t)
            k += n
        else:
            k += 1


@FUZZ
@given(name=st.sampled_from(sorted(p.stem for p in FIXTURES.glob("*.jsonl"))),
       edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, len(HOSTILE_LINES))), max_size=6),
       torn=st.booleans(), block=st.sampled_from([97, 1000, 1 << 20]))
def test_batches_skip_and_locate_what_the_line_reader_does(tmp_path: Path, name: str, edits: list[tuple[int, int]],
                                                           torn: bool, block: int) -> None:
    path = _hostile_journal(tmp_path, name, edits, torn)
    old = reader.BLOCK
    reader.BLOCK = block
    try:
        by_line = JournalStream(path)
        events = list(by_line.iter_events())
        batched = JournalStream(path)
        items = list(batched.iter_batches())
    finally:
        reader.BLOCK = old
    whole = read_journal(path)
    assert events == whole.events
    assert _flat(items) == _as_batches(events)
    _t_of_runs(items, events)
    assert (batched.warnings, batched.skipped, batched.first_bad) == (by_line.warnings, by_line.skipped,
                                                                     by_line.first_bad)
    assert list(whole.iter_batches()) == list(reader.batches(whole.events))
    assert _flat(list(whole.iter_batches())) == _as_batches(events)


def test_a_bad_sample_in_a_run_is_located_by_its_line_number(tmp_path: Path) -> None:
    lines = (FIXTURES / "breach.jsonl").read_text().splitlines()
    k = next(i for i, x in enumerate(lines) if '"metric-sample"' in x)
    doc = json.loads(lines[k])
    doc["values"] = {"p99_ms": "slow"}
    lines[k] = json.dumps(doc)
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    stream = JournalStream(path)
    list(stream.iter_batches())
    assert stream.skipped == 1
    assert stream.first_bad == f"{path}:{k + 1}: skipped: values.p99_ms: expected a number or null, got 'slow'"
    with pytest.raises(BadEvent):
        event_from_doc(doc)

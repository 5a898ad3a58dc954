"""The report folds samples a run at a time (`SeriesFold.add_many`, `ObservedFold.sample_many`) and says exactly
what the fold of one sample at a time says: the same state after any mix of runs, cuts and events, and the
same report, byte for byte, for recorded, generated and damaged journals."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import controlroom.journal.reader as reader
import controlroom.report.series as series
from benchmarks.bench_report import write_journal
from controlroom.journal.events import Event
from controlroom.journal.reader import Batch, Journal, JournalStream, Samples, read_journal
from controlroom.metrics.observed import ObservedFold, peak
from controlroom.report.build import build_report
from controlroom.report.model import parse_condition
from controlroom.report.series import SeriesFold

FIXTURES = Path(__file__).parent / "fixtures"
FUZZ = settings(
    max_examples=int(os.environ.get("CONTROLROOM_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

VALUE = st.one_of(st.none(), st.floats(-10.0, 10.0), st.integers(-5, 5), st.sampled_from([0.0, -0.0, 1.0, 0.5]))
ROW = st.dictionaries(st.sampled_from(["success_rate", "p99_ms", "rows", "new"]), VALUE, max_size=4)
# Times mostly rising, now and then stepping back (a clock the journal does not promise is monotonic).
STEP = st.one_of(st.just(0.1), st.just(0.0), st.floats(-3.0, 3.0))


@st.composite
def runs(draw: Any, max_len: int) -> list[tuple[str, Any]]:
    """A journal's worth of ('samples', [(mono, values, errors)]) and ('cut', mono) in order."""
    mono = 0.0
    out: list[tuple[str, Any]] = []
    for _ in range(draw(st.integers(1, 8))):
        if draw(st.booleans()):
            samples = []
            # Now and then a run whose samples all have the same series (the parallel reader's columns).
            same = draw(st.one_of(st.none(), st.lists(st.sampled_from(["success_rate", "p99_ms", "rows", "new"]),
                                                      unique=True, max_size=4)))
            for _ in range(draw(st.integers(1, max_len))):
                mono = round(mono + draw(STEP), 3)
                errs = draw(st.one_of(st.none(), st.just({}), st.dictionaries(st.sampled_from(["p99_ms", "err_only"]),
                                                                               st.just("down"), max_size=1)))
                samples.append((mono, draw(ROW) if same is None else {k: draw(VALUE) for k in same}, errs))
            out.append(("samples", samples))
        else:
            out.append(("cut", round(mono + draw(st.floats(-1.0, 1.0)), 3)))
    return out


def _series_state(sf: SeriesFold) -> Any:
    return ([(c.first, c.last, c.series) for c in sf.chunks],
            [(i.name, i.success, i.samples, i.gaps, i.errors, i.points.points()) for i in sf.info.values()],
            sf._edges, sf._n)


@FUZZ
@given(ops=runs(max_len=12), chunk=st.sampled_from([2, 3, 5, 4096]))
def test_add_many_is_add_of_each(monkeypatch: pytest.MonkeyPatch, ops: list[tuple[str, Any]], chunk: int) -> None:
    monkeypatch.setattr(series, "CHUNK", chunk)
    stop = [parse_condition("success_rate < 0.95"), parse_condition("p99_ms > 3")]
    steady = [parse_condition("success_rate >= 0.99"), parse_condition("rows < 2")]
    one, many, cols = SeriesFold(stop, steady), SeriesFold(stop, steady), SeriesFold(stop, steady)
    end = 0.0
    for kind, what in ops:
        if kind == "cut":
            one.cut(what)
            many.cut(what)
            cols.cut(what)
            continue
        for mono, values, errs in what:
            one.add(mono, values, errs)
        monos, rows, errors = [m for m, _, _ in what], [v for _, v, _ in what], [e for _, _, e in what]
        many.add_many(monos, rows, errors)
        cols.add_many(monos, (), errors, columns=_as_columns(rows)) if _same_series(rows) \
            else cols.add_many(monos, rows, errors)
        end = max(end, what[-1][0])
    assert _series_state(one) == _series_state(many) == _series_state(cols)
    one.finish(end)
    many.finish(end)
    cols.finish(end)
    assert _series_state(one) == _series_state(many) == _series_state(cols)


def _same_series(rows: list[dict[str, Any]]) -> bool:
    """Every row has the same series: a run the parallel reader sends as columns."""
    return all(r.keys() == rows[0].keys() for r in rows)


def _as_columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """The columns of such a run, as `journal.reader._as_columns` makes them (the first row's order)."""
    return {name: [r[name] for r in rows] for name in rows[0]}


def _observed_state(f: ObservedFold) -> Any:
    return (f._monos, f._cols, f._done, f._ended, f.series_names, f._now, f.all_figures())


@st.composite
def step_events(draw: Any) -> list[tuple[str, Any]]:
    """Samples in runs long enough to cross the fold's forgetting (every 1024) between a step's events."""
    mono = 0.0
    out: list[tuple[str, Any]] = []
    for k in range(draw(st.integers(1, 3))):
        step = f"s{k}"
        for typ, data in (("fault-injecting", {"step": step}), ("fault-injected", {"step": step}),
                          ("fault-reverted", {}), ("recovery-measured", {"step": step, "seconds": 2.0}),
                          ("step-completed", {"step": step})):
            n = draw(st.integers(0, 1500))
            base = draw(st.floats(0.0, 1.0))
            samples = []
            for i in range(n):
                mono = round(mono + (0.1 if i % 97 else draw(STEP)), 3)
                samples.append((mono, {"a": base + (i % 7), "b": None if i % 11 == 0 else i, **({"c": 1.0} if i == 5 else {})}))
            if samples:
                out.append(("samples", samples))
            out.append((typ, Event(typ, "x", mono, data)))
    if draw(st.booleans()):
        out.append(("samples", [(mono + 0.1 * (i + 1), {"a": 1.0}) for i in range(draw(st.integers(1, 2000)))]))
    return out


@settings(FUZZ, max_examples=min(FUZZ.max_examples, 25))
@given(ops=step_events(), window=st.sampled_from([0.5, 10.0]))
def test_sample_many_is_sample_of_each(ops: list[tuple[str, Any]], window: float) -> None:
    one, many, cols = ObservedFold(window), ObservedFold(window), ObservedFold(window)
    for kind, what in ops:
        if kind == "samples":
            for mono, values in what:
                one.sample(mono, values)
            monos, rows = [m for m, _ in what], [v for _, v in what]
            many.sample_many(monos, rows)
            cols.sample_many(monos, (), columns=_as_columns(rows)) if _same_series(rows) else cols.sample_many(monos, rows)
        else:
            one.feed(what)
            many.feed(what)
            cols.feed(what)
        assert (one._monos, one._done, one._ended, one._now) == (many._monos, many._done, many._ended, many._now)
        assert (one._monos, one._done, one._ended, one._now) == (cols._monos, cols._done, cols._ended, cols._now)
    assert _observed_state(one) == _observed_state(many) == _observed_state(cols)


# ---- the report, both ways ----------------------------------------------------------------------------------

class OneAtATime:
    """A journal read whole, line by line through the schema, its samples handed to the fold one per call:
    the fold of one sample at a time, as before runs."""

    def __init__(self, journal: Journal) -> None:
        self.j = journal
        self.path, self.header, self.warnings = journal.path, journal.header, journal.warnings

    @property
    def damaged(self) -> bool:
        return self.j.damaged

    def iter_events(self) -> Iterator[Event]:
        return self.j.iter_events()

    def iter_batches(self) -> Iterator[Batch]:
        for ev in self.j.events:
            if ev.type == "metric-sample":
                yield Samples([ev.mono], [ev.data.get("values") or {}], [ev.data.get("errors")], ev.t, ev.t)
            else:
                yield ev


def _json(journal: Any) -> str:
    return json.dumps(build_report(journal), sort_keys=True)


def _both_ways(path: Path) -> tuple[str, str, str]:
    return _json(JournalStream(path)), _json(OneAtATime(read_journal(path))), _json(read_journal(path))


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("*.jsonl")))
def test_the_report_batched_is_the_report_one_sample_at_a_time(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    batched, one, whole = _both_ways(FIXTURES / f"{name}.jsonl")
    assert batched == one == whole
    monkeypatch.setattr(reader, "BLOCK", 300)  # runs cut short at many block edges
    assert _json(JournalStream(FIXTURES / f"{name}.jsonl")) == one


@pytest.mark.parametrize("n", [3_000, 30_000])
def test_a_generated_session_reports_the_same_both_ways(tmp_path: Path, n: int) -> None:
    path = tmp_path / "gen.jsonl"
    write_journal(path, n, seed=n)
    batched, one, whole = _both_ways(path)
    assert batched == one == whole
    assert json.loads(batched)["series"][0]["samples"] > 0.9 * n


def test_a_damaged_session_reports_the_same_both_ways(tmp_path: Path) -> None:
    lines = (FIXTURES / "breach.jsonl").read_text().splitlines()
    samples = [i for i, x in enumerate(lines) if '"metric-sample"' in x]
    lines[samples[2]] = lines[samples[2]].replace('"values":{', '"values":{"p99_ms":"slow",', 1)
    lines[samples[4]] = "garbage"
    lines[samples[6]] = lines[samples[6]].replace('"values":{', '"values":{"huge":1e999,', 1)  # read as null
    lines.insert(samples[8], lines[1])  # a second session-started
    path = tmp_path / "damaged.jsonl"
    path.write_text("\n".join(lines) + '\n{"t":"x","mono":2')
    batched, one, whole = _both_ways(path)
    assert batched == one == whole
    assert json.loads(batched)["incomplete"] is True  # damaged: said so


@FUZZ
@given(values=st.lists(st.one_of(st.floats(allow_nan=False), st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.0])),
                       min_size=1, max_size=12),
       before=st.one_of(st.floats(allow_nan=False), st.sampled_from([0.0, 0.5, 1e16])))
def test_peak_is_the_first_value_farthest_from_before(values: list[float], before: float) -> None:
    assert repr(peak(values, before)) == repr(max(values, key=lambda v: abs(v - before)))


@FUZZ
@given(rows=st.lists(st.dictionaries(st.sampled_from(["a", "b"]),
                                     st.one_of(VALUE, st.booleans(), st.text(max_size=1), st.integers())),
                     max_size=30))
def test_observed_reads_a_series_as_it_did_value_by_value(rows: list[dict[str, Any]]) -> None:
    """What the observed fold reads of a series: its numbers as floats, nulls, bools and the rest left out
    (a source feeding the engine may hand it anything)."""
    fold = ObservedFold(10.0)
    fold.sample_many([0.1 * i for i in range(len(rows))], rows)
    for name in ("a", "b"):
        by_value = [float(v) for r in rows if isinstance(v := r.get(name), (int, float)) and not isinstance(v, bool)]
        got = fold._values(name, -1.0, 1e9, closed=True)
        assert [repr(v) for v in got] == [repr(v) for v in by_value]


def test_the_pass_collects_garbage_rarely_and_restores_the_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from controlroom.report import fold

    seen: list[tuple[int, ...]] = []
    real = fold.Fold._run

    def spy(self: fold.Fold) -> None:
        seen.append(gc.get_threshold())
        real(self)

    monkeypatch.setattr(fold.Fold, "_run", spy)
    before = gc.get_threshold()
    build_report(JournalStream(FIXTURES / "breach.jsonl"))
    assert gc.get_threshold() == before and gc.isenabled()
    assert seen and seen[0][0] >= 100_000 and seen[0][1:] == before[1:]  # raised, not disabled

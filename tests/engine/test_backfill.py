"""History before the session: a source that keeps it (`BackfillSource`) fills the sparklines; others are not asked."""

from __future__ import annotations

import asyncio
from pathlib import Path

from controlroom.clock import ManualClock
from controlroom.engine.session import Session
from controlroom.journal import read_journal
from controlroom.metrics.source import BackfillSource, History, MetricSource
from controlroom.targets.memory import MemoryExecutor
from tests.engine.conftest import FakeSource, Host, drive, fault_step, make_scenario


class HistorySource(FakeSource):
    """A FakeSource that also keeps history: two values from before the session, on the session's wall clock."""

    name = "history"

    def __init__(self, clock: ManualClock, **values: float) -> None:
        super().__init__(**values)
        self.clock = clock
        self.asked: list[tuple[float, float]] = []

    async def backfill(self, seconds: float, step: float) -> History:
        self.asked.append((seconds, step))
        now = self.clock.wall().timestamp()
        return {"ok_rate": [(now - 4.0, 0.97), (now - 2.0, 0.98)]}


def test_only_a_source_with_history_is_a_backfill_source() -> None:
    clock = ManualClock()
    assert isinstance(HistorySource(clock, ok_rate=1.0), BackfillSource)
    assert isinstance(FakeSource(ok_rate=1.0), MetricSource) and not isinstance(FakeSource(ok_rate=1.0), BackfillSource)


async def test_the_history_of_a_backfill_source_is_journaled_before_the_first_sample(tmp_path: Path) -> None:
    clock = ManualClock()
    history, plain = HistorySource(clock, ok_rate=1.0), FakeSource(p99_ms=10.0)
    host = Host("t1")
    session = Session(make_scenario(fault_step(duration=1.0)), journal_path=tmp_path / "j.jsonl", clock=clock,
                      sources=[history, plain], control=False,
                      executor_factory=lambda t: MemoryExecutor(t.name, host.handle))
    task = asyncio.ensure_future(session.run())
    await drive(clock, task)
    assert len(history.asked) == 1
    events = read_journal(tmp_path / "j.jsonl").events
    backfills = [e for e in events if e.type == "metric-backfill"]
    assert [e.data["source"] for e in backfills] == ["history"]  # the plain source was not asked
    assert [values for _, values in backfills[0].data["samples"]] == [{"ok_rate": 0.97}, {"ok_rate": 0.98}]
    assert all(t < 0 for t, _ in backfills[0].data["samples"])  # before the session's start
    first_sample = next(i for i, e in enumerate(events) if e.type == "metric-sample")
    assert events.index(backfills[0]) < first_sample

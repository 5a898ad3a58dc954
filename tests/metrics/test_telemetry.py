"""Lost telemetry: silence for lost_after seconds becomes a decision carrying the scenario's policy."""

from __future__ import annotations

import asyncio

import pytest

from controlroom.metrics.source import SourceUnavailable
from controlroom.metrics.telemetry import TelemetryTracker, poll_sources


class FakeSource:
    """A scripted MetricSource: answers `values`, raises when `down`, hangs when `hang`."""

    def __init__(self, name: str, values: dict[str, float | None]) -> None:
        self.name = name
        self.values = values
        self.down = False
        self.hang = False
        self.last_errors: dict[str, str] = {}

    def series(self) -> list[str]:
        return list(self.values)

    async def start(self) -> None:
        return None

    async def sample(self) -> dict[str, float | None]:
        if self.hang:
            await asyncio.sleep(10)
        if self.down:
            raise SourceUnavailable("connection refused")
        return dict(self.values)

    async def close(self) -> None:
        return None


@pytest.mark.parametrize("policy", ["rollback", "pause", "warn"])
def test_a_source_silent_for_lost_after_seconds_is_lost_once_with_the_policy(policy: str) -> None:
    tracker = TelemetryTracker(policy=policy, lost_after=5.0)  # type: ignore[arg-type]
    assert tracker.answered("prometheus", 10.0) is None
    decisions = [tracker.failed("prometheus", float(t), "connection refused") for t in range(11, 20)]
    lost = [(t, d) for t, d in zip(range(11, 20), decisions, strict=True) if d is not None]
    # Counted from the last answer at t=10: lost at t=15, and only once.
    assert [t for t, _ in lost] == [15]
    decision = lost[0][1]
    assert decision.kind == "lost" and decision.action == policy
    assert decision.event_type == "telemetry-lost"
    assert decision.payload == {"source": "prometheus", "policy": policy,
                                "detail": "no answer for 5.0s: connection refused"}
    assert tracker.status("prometheus").state == "lost"
    assert tracker.lost() == ["prometheus"]


def test_a_short_outage_is_failing_but_not_lost_and_recovers_silently() -> None:
    tracker = TelemetryTracker(lost_after=5.0)
    tracker.answered("cmd", 0.0)
    assert tracker.failed("cmd", 1.0, "timeout") is None
    assert tracker.failed("cmd", 4.9, "timeout") is None
    assert tracker.status("cmd").state == "failing"
    assert tracker.answered("cmd", 5.5) is None  # never lost: nothing to restore
    assert tracker.status("cmd").state == "ok"
    # The next outage is counted from the new last answer.
    assert tracker.failed("cmd", 9.0, "timeout") is None
    assert tracker.failed("cmd", 10.5, "timeout") is not None


def test_a_lost_source_that_answers_again_is_restored_once() -> None:
    tracker = TelemetryTracker(policy="pause", lost_after=2.0)
    tracker.answered("prometheus", 0.0)
    assert tracker.failed("prometheus", 2.0, "down") is not None
    restored = tracker.answered("prometheus", 3.0)
    assert restored is not None and restored.kind == "restored" and restored.action == "resume"
    assert restored.event_type == "telemetry-restored" and restored.payload == {"source": "prometheus"}
    assert tracker.answered("prometheus", 4.0) is None
    assert tracker.lost() == []


def test_a_source_that_never_answered_is_counted_from_its_first_failure() -> None:
    tracker = TelemetryTracker(lost_after=3.0)
    assert tracker.failed("p", 100.0, "refused") is None
    assert tracker.failed("p", 102.0, "refused") is None
    assert tracker.failed("p", 103.0, "refused") is not None


async def test_poll_merges_values_and_turns_failures_into_no_data() -> None:
    prom = FakeSource("prometheus", {"success_rate": 1.0, "p99_ms": 40.0})
    prom.last_errors = {"p99_ms": "PromQL error: x"}
    cmd = FakeSource("command", {"orders_rows": 12.0})
    cmd.down = True
    tracker = TelemetryTracker(policy="warn", lost_after=0.0)
    result = await poll_sources([prom, cmd], tracker, now=1.0, deadline=1.0)
    assert result.values == {"success_rate": 1.0, "p99_ms": 40.0, "orders_rows": None}
    assert result.errors == {"p99_ms": "PromQL error: x", "orders_rows": "command: connection refused"}
    [decision] = result.decisions
    assert (decision.source, decision.kind, decision.action) == ("command", "lost", "warn")


async def test_a_hung_source_counts_as_not_answering_within_the_deadline() -> None:
    slow = FakeSource("prober", {"checkout.success_rate": 1.0})
    slow.hang = True
    tracker = TelemetryTracker(lost_after=5.0)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    result = await poll_sources([slow], tracker, now=0.0, deadline=0.2)
    assert loop.time() - t0 < 1.0
    assert result.values == {"checkout.success_rate": None}
    assert result.errors == {"checkout.success_rate": "prober: no answer within 0.2s"}
    assert tracker.status("prober").state == "failing"


async def test_a_watched_series_without_a_value_is_lost_while_its_source_answers() -> None:
    prom = FakeSource("prometheus", {"success_rate": 1.0, "p99_ms": 40.0, "shown": 1.0})
    tracker = TelemetryTracker(policy="rollback", lost_after=2.0, watched={"success_rate", "p99_ms"})
    assert (await poll_sources([prom], tracker, now=0.0, deadline=1.0)).decisions == []
    prom.values.update(success_rate=None, shown=None)
    prom.last_errors = {"success_rate": "empty result"}
    first = await poll_sources([prom], tracker, now=1.0, deadline=1.0)
    assert first.decisions == [] and first.errors == {"success_rate": "empty result"}
    assert tracker.status("prometheus", "success_rate").state == "failing"
    [lost] = (await poll_sources([prom], tracker, now=2.0, deadline=1.0)).decisions
    assert (lost.kind, lost.feed, lost.series, lost.action) == ("lost", "prometheus:success_rate", "success_rate",
                                                                "rollback")
    assert lost.payload == {"source": "prometheus:success_rate", "policy": "rollback", "series": "success_rate",
                            "detail": "no value for success_rate for 2.0s: empty result"}
    assert tracker.lost() == ["prometheus:success_rate"]  # the unwatched `shown` never counts
    prom.values["success_rate"] = 0.99
    prom.last_errors = {}
    [restored] = (await poll_sources([prom], tracker, now=3.0, deadline=1.0)).decisions
    assert restored.payload == {"source": "prometheus:success_rate", "series": "success_rate"}
    assert tracker.lost() == []


async def test_nan_infinity_and_a_missing_series_are_no_value() -> None:
    src = FakeSource("custom", {"a": float("nan"), "b": float("inf"), "c": 1.0})
    src.series = lambda: ["a", "b", "c", "d"]  # type: ignore[method-assign]  # d: declared, never answered
    tracker = TelemetryTracker(lost_after=0.0)
    result = await poll_sources([src], tracker, now=0.0, deadline=1.0)
    assert result.values == {"a": None, "b": None, "c": 1.0, "d": None}
    assert result.errors["a"] == "not a number (nan)" and result.errors["b"] == "not a number (inf)"
    assert sorted(d.feed for d in result.decisions) == ["custom:a", "custom:b", "custom:d"]


async def test_a_source_that_raises_anything_counts_as_not_answering() -> None:
    class Broken(FakeSource):
        async def sample(self) -> dict[str, float | None]:
            raise RuntimeError("bug in a source")

    tracker = TelemetryTracker(lost_after=0.0)
    result = await poll_sources([Broken("b", {"x": 1.0})], tracker, now=0.0, deadline=1.0)
    assert result.values == {"x": None} and result.errors == {"x": "b: RuntimeError: bug in a source"}
    assert [d.feed for d in result.decisions] == ["b"]

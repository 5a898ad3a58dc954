"""Observed behaviour per step, folded from journal events: before / during / after / peak."""

from __future__ import annotations

import pytest

from controlroom.journal.events import Event
from controlroom.metrics.observed import ObservedFold


def ev(kind: str, mono: float, **data: object) -> Event:
    return Event(type=kind, t="2026-01-01T00:00:00Z", mono=mono, data=data)


def sample(mono: float, **values: float | None) -> Event:
    return ev("metric-sample", mono, values=values, errors={})


def session() -> list[Event]:
    """A baseline step, then a faulted step: errors from t=20 to the revert at t=30, recovered 3 s later."""
    events = [ev("session-started", 0, series=["success_rate", "p99_ms"]), ev("step-briefed", 0, step="baseline")]
    rates = {t: 1.0 for t in range(0, 45)}
    rates.update({21: 0.9, 22: 0.6, 23: 0.7, 24: 0.7, 25: 0.7, 26: 0.7, 27: 0.7, 28: 0.7, 29: 0.7, 30: 0.8, 31: 0.95,
                  32: 0.98})
    p99 = {t: 40.0 for t in range(0, 45)}
    p99.update({t: 400.0 for t in range(21, 30)})
    p99[31] = 1200.0  # a retry storm right after the revert
    for t in range(0, 45):
        if t == 12:
            events.append(ev("step-completed", 12, step="baseline", outcome="passed"))
            events.append(ev("step-briefed", 12, step="errors"))
        if t == 20:
            events.append(ev("fault-injecting", 19.9, step="errors", fault="f1", type="http-errors", target="shop"))
            events.append(ev("fault-injected", 20, step="errors", fault="f1", target="shop"))
        if t == 30:
            events.append(ev("fault-reverted", 30, fault="f1", target="shop", verified=True))
        if t == 33:
            events.append(ev("recovery-measured", 33, step="errors", seconds=3.0, held=True, criterion_s=30))
        events.append(sample(t + 0.5 if t >= 20 else t, success_rate=rates[t], p99_ms=p99[t]))
    events.append(ev("step-completed", 44.6, step="errors", outcome="passed"))
    return events


def test_figures_for_a_faulted_step() -> None:
    fold = ObservedFold.from_events(session(), window=10)
    assert fold.steps() == ["errors"]
    figs = fold.figures("errors")
    rate = figs["success_rate"]
    assert rate["before"] == 1.0  # samples 10..19, before the injection
    # during: the samples stamped 20.5 .. 29.5
    assert rate["during"] == pytest.approx((1.0 + 0.9 + 0.6 + 0.7 * 7) / 10)
    assert rate["after"] == 1.0  # from revert + 3 s recovery to the step's end
    assert rate["peak"] == 0.6  # the dip: the farthest from before
    p99 = figs["p99_ms"]
    assert p99["before"] == 40.0
    assert p99["peak"] == 1200.0  # the storm after the revert, inside the recovery
    assert p99["after"] == 40.0


def test_steps_without_faults_have_no_figures_and_the_payload_matches_the_event() -> None:
    fold = ObservedFold.from_events(session(), window=10)
    assert fold.figures("baseline") == {}
    payload = fold.payload("errors")
    assert payload["step"] == "errors" and set(payload["series"]) == {"success_rate", "p99_ms"}  # type: ignore[arg-type]
    assert fold.all_figures() == {"errors": fold.figures("errors")}


def test_live_figures_while_the_fault_is_still_in() -> None:
    fold = ObservedFold(window=10)
    for event in session():
        fold.feed(event)
        if event.type == "metric-sample" and event.mono == 25.5:
            break
    figs = fold.figures("errors", now=25.5)["success_rate"]
    assert figs["before"] == 1.0
    assert figs["during"] == pytest.approx((1.0 + 0.9 + 0.6 + 0.7 * 2) / 5)
    assert figs["after"] is None  # not reverted yet
    assert figs["peak"] == 0.6


def test_a_step_that_never_recovered_measures_after_from_the_revert() -> None:
    events = [e for e in session() if e.type != "recovery-measured"]
    events.append(ev("recovery-measured", 40, step="errors", seconds=None, held=False, criterion_s=30))
    figs = ObservedFold.from_events(events, window=10).figures("errors")["success_rate"]
    after = [0.8, 0.95, 0.98] + [1.0] * 11  # samples 30.5 .. 43.5 (44.5 is within the step end)
    assert figs["after"] == pytest.approx(sum([*after, 1.0]) / (len(after) + 1))


def test_missing_values_are_left_out_and_a_series_without_data_is_none() -> None:
    events = [
        ev("session-started", 0, series=["a", "b"]),
        sample(0, a=1.0, b=None),
        sample(1, a=None, b=None),
        sample(2, a=3.0, b=None),
        ev("fault-injected", 3, step="s", fault="f", target="t"),
        sample(3.5, a=10.0, b=None),
        ev("rollback-started", 4, reason="e-stop", faults=["f"]),
        sample(4.5, a=1.0, b=None),
        ev("step-completed", 5, step="s", outcome="rolled-back"),
    ]
    figs = ObservedFold.from_events(events, window=5).figures("s")
    assert figs["a"] == {"before": 2.0, "during": 10.0, "after": 1.0, "peak": 10.0}
    assert figs["b"] == {"before": None, "during": None, "after": None, "peak": None}


def test_a_failed_injection_still_has_a_fault_phase_from_fault_injecting() -> None:
    events = [
        sample(0, a=1.0),
        ev("fault-injecting", 1, step="s", fault="f", type="latency", target="t"),
        sample(1.5, a=5.0),
        ev("fault-failed", 2, step="s", fault="f", target="t", error="boom"),
        ev("rollback-started", 2.1, reason="fault-failed", faults=["f"]),
        sample(2.5, a=1.0),
        ev("step-completed", 3, step="s", outcome="failed"),
    ]
    fold = ObservedFold.from_events(events, window=5)
    assert fold.steps() == ["s"]
    assert fold.figures("s")["a"] == {"before": 1.0, "during": 5.0, "after": 1.0, "peak": 5.0}


def test_figures_kept_early_for_bounded_memory_still_read_samples_up_to_the_recovery() -> None:
    """A step's figures are frozen once nothing can change them: that is after its revert plus recovery time
    when the recovery reaches past the step's end (a step completed at its revert), not at its end."""
    events = [ev("session-started", 0, series=["x"])]
    for t in range(0, 21):
        if t == 5:
            events.append(ev("fault-injected", 5, step="s", fault="s/0", target="a"))
        if t == 10:
            events += [ev("fault-reverted", 10, step="s", fault="s/0", target="a", verified=True),
                       ev("recovery-measured", 10, step="s", seconds=4.0, held=True, criterion_s=30),
                       ev("step-completed", 10, step="s", outcome="passed")]
        events.append(ev("metric-sample", t + 0.5, values={"x": float(t)}))
    figs = ObservedFold.from_events(events, window=10).figures("s")["x"]
    assert figs["before"] == pytest.approx(2.0)  # 0..4
    assert figs["peak"] == 13.0  # faulted [5, 10 + 4): the sample at 13.5 is its farthest from before

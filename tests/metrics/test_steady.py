"""Steady state over a window, and the success criteria judged at the end of a session."""

from __future__ import annotations

import pytest

from controlroom.errors import MetricsError
from controlroom.metrics.conditions import parse_condition
from controlroom.metrics.criteria import evaluate_success, parse_data_loss
from controlroom.metrics.steady import SampleHistory, evaluate_steady
from controlroom.scenario.model import SuccessCriteria

REQUIRE = [parse_condition("success_rate >= 0.99"), parse_condition("p99_ms < 500")]


def samples(start: float, end: float, **series: float | None) -> list[tuple[float, dict[str, float | None]]]:
    return [(float(t), dict(series)) for t in range(int(start), int(end) + 1)]


def test_holds_when_every_sample_in_a_covered_window_meets_every_condition() -> None:
    verdict = evaluate_steady(samples(0, 30, success_rate=1.0, p99_ms=40.0), REQUIRE, window=10, now=30)
    assert verdict.ok
    assert verdict.failed == []
    assert verdict.figures == {"success_rate": 1.0, "p99_ms": 40.0}
    assert verdict.detail == "held for 10s (11 samples)"


def test_figures_are_the_worst_value_for_each_conditions_direction() -> None:
    data = samples(0, 10, success_rate=1.0, p99_ms=40.0)
    data[3][1].update(success_rate=0.995, p99_ms=480.0)
    data[7][1].update(success_rate=0.999, p99_ms=120.0)
    verdict = evaluate_steady(data, REQUIRE, window=10, now=10)
    assert verdict.ok
    assert verdict.figures == {"success_rate": 0.995, "p99_ms": 480.0}


def test_one_bad_sample_in_the_window_breaks_it_and_is_named() -> None:
    data = samples(0, 10, success_rate=1.0, p99_ms=40.0)
    data[5][1]["p99_ms"] = 900.0
    verdict = evaluate_steady(data, REQUIRE, window=10, now=10)
    assert not verdict.ok
    assert verdict.failed == ["p99_ms < 500"]
    assert verdict.figures["p99_ms"] == 900.0
    assert "p99_ms < 500 (worst 900)" in verdict.detail


def test_a_bad_sample_older_than_the_window_no_longer_counts() -> None:
    data = samples(0, 20, success_rate=1.0, p99_ms=40.0)
    data[5][1]["success_rate"] = 0.5
    assert not evaluate_steady(data, REQUIRE, window=20, now=20).ok
    assert evaluate_steady(data, REQUIRE, window=10, now=20).ok


def test_a_sample_without_data_does_not_hold() -> None:
    data = samples(0, 10, success_rate=1.0, p99_ms=40.0)
    data[4][1]["success_rate"] = None
    verdict = evaluate_steady(data, REQUIRE, window=10, now=10)
    assert not verdict.ok and verdict.failed == ["success_rate >= 0.99"]
    assert "1 samples without data" in verdict.detail


def test_a_window_not_yet_covered_by_samples_does_not_hold() -> None:
    # The session started 4 s ago: a 10 s steady state cannot have been shown yet.
    verdict = evaluate_steady(samples(6, 10, success_rate=1.0, p99_ms=40.0), REQUIRE, window=10, now=10)
    assert not verdict.ok and verdict.failed == []
    assert verdict.detail.startswith("samples cover only the last 4.0s of the 10s window")


def test_a_gap_of_two_missed_samples_breaks_coverage_but_one_does_not() -> None:
    data = samples(0, 10, success_rate=1.0, p99_ms=40.0)
    one_missed = [s for s in data if s[0] != 5]
    assert evaluate_steady(one_missed, REQUIRE, window=10, now=10, every=1.0).ok
    two_missed = [s for s in data if s[0] not in (5, 6)]
    verdict = evaluate_steady(two_missed, REQUIRE, window=10, now=10, every=1.0)
    assert not verdict.ok and "a 3.0s gap without samples" in verdict.detail
    # Silence at the end counts too: the source stopped answering 3 s ago.
    stale = evaluate_steady(data[:8], REQUIRE, window=10, now=10, every=1.0)
    assert not stale.ok


def test_no_samples_at_all() -> None:
    verdict = evaluate_steady([], REQUIRE, window=10, now=10)
    assert not verdict.ok
    assert verdict.figures == {"success_rate": None, "p99_ms": None}
    assert verdict.failed == ["success_rate >= 0.99", "p99_ms < 500"]
    assert verdict.payload("before") == {
        "when": "before", "ok": False, "figures": verdict.figures, "failed": verdict.failed, "detail": verdict.detail
    }


def test_equality_conditions_show_the_first_failing_value() -> None:
    data = [(float(t), {"errors": v}) for t, v in enumerate([0.0, 0.0, 2.0, 5.0, 0.0])]
    verdict = evaluate_steady(data, [parse_condition("errors == 0")], window=4, now=4)
    assert verdict.figures == {"errors": 2.0} and verdict.failed == ["errors == 0"]


def test_sample_history_keeps_only_what_the_window_needs() -> None:
    history = SampleHistory(keep=5)
    for t in range(20):
        history.add(float(t), {"x": float(t)})
    assert [t for t, _ in history.samples()] == [14.0, 15.0, 16.0, 17.0, 18.0, 19.0]
    assert history.latest() == {"x": 19.0}


# -- success criteria ------------------------------------------------------------------------------

OBSERVED = {
    "slow-db": {"orders_rows": {"before": 100.0, "during": 100.0, "after": 104.0, "peak": 100.0}},
    "cut-db": {"orders_rows": {"before": 104.0, "during": 104.0, "after": 108.0, "peak": 104.0}},
}


def test_recovery_time_must_hold_for_every_faulted_step() -> None:
    criteria = SuccessCriteria(recovery_time=30.0)
    [ok] = evaluate_success(criteria, OBSERVED, {"slow-db": 12.0, "cut-db": 29.5})
    assert ok.ok and ok.detail == "slow-db 12.0s ≤ 30s; cut-db 29.5s ≤ 30s"
    [slow] = evaluate_success(criteria, OBSERVED, {"slow-db": 12.0, "cut-db": 45.0})
    assert not slow.ok and "cut-db 45.0s > 30s" in slow.detail
    [never] = evaluate_success(criteria, OBSERVED, {"slow-db": None})
    assert not never.ok and never.detail == "slow-db did not recover"


def test_data_loss_compares_the_end_with_before_the_first_fault() -> None:
    criteria = SuccessCriteria(data_loss="orders_rows must not drop")
    [kept] = evaluate_success(criteria, OBSERVED, {}, final={"orders_rows": 110.0})
    assert kept.ok and kept.detail == "orders_rows kept: 100 before, 110 after"
    [dropped] = evaluate_success(criteria, OBSERVED, {}, final={"orders_rows": 97.0})
    assert not dropped.ok and dropped.detail == "orders_rows dropped: 100 before, 97 after"
    # Without a final sample, the last step's "after" is the end value.
    [from_steps] = evaluate_success(criteria, OBSERVED, {})
    assert from_steps.ok and "108 after" in from_steps.detail
    [unknown] = evaluate_success(SuccessCriteria(data_loss="missing must not drop"), OBSERVED, {})
    assert not unknown.ok and "no value before the first fault" in unknown.detail


def test_custom_criteria_are_conditions_on_the_final_sample() -> None:
    criteria = SuccessCriteria(custom=("success_rate >= 99%", "p99_ms < 800"))
    results = evaluate_success(criteria, {}, {}, final={"success_rate": 0.995, "p99_ms": 950.0})
    assert [(r.name, r.ok) for r in results] == [("success_rate >= 99%", True), ("p99_ms < 800", False)]
    assert results[1].detail == "p99_ms = 950 at the end"
    [no_data] = evaluate_success(SuccessCriteria(custom=("x > 1",)), {}, {}, final={})
    assert not no_data.ok and no_data.detail == "no data at the end"


def test_a_malformed_data_loss_criterion_says_what_to_write() -> None:
    assert parse_data_loss("orders_rows must not drop") == "orders_rows"
    with pytest.raises(MetricsError, match="expected '<series> must not drop'"):
        parse_data_loss("zero")
    with pytest.raises(MetricsError, match=r"success_criteria\.custom: .*needs an operator"):
        evaluate_success(SuccessCriteria(custom=("p99_ms 800",)), {}, {}, final={})


def test_backfilled_history_can_cover_the_window_at_once() -> None:
    from controlroom.metrics.steady import samples_from_backfill

    unix0 = 1_800_000_000.0  # unix time of session mono 0
    points = {
        "success_rate": [(unix0 - 10 + i, 1.0) for i in range(11)],
        "p99_ms": [(unix0 - 10 + i, 40.0) for i in range(11) if i != 3],
    }
    seeded = samples_from_backfill(points, shift=unix0)
    assert seeded[0] == (-10.0, {"p99_ms": 40.0, "success_rate": 1.0})
    assert seeded[3] == (-7.0, {"p99_ms": None, "success_rate": 1.0})
    history = SampleHistory(keep=30)
    history.extend(seeded)
    verdict = evaluate_steady(history.samples(), REQUIRE, window=5, now=0.0)
    assert verdict.ok  # the gap at -7 is older than the window
    assert not evaluate_steady(history.samples(), REQUIRE, window=10, now=0.0).ok

"""The rolling window: trimming by time, interpolated percentiles, success share and rate while it fills."""

from __future__ import annotations

import pytest

from controlroom.metrics.window import RollingWindow


def test_percentiles_interpolate_between_observations():
    w = RollingWindow(10.0)
    for i, latency in enumerate([0.010, 0.020, 0.030, 0.040, 0.100]):
        w.add(float(i), True, latency)
    assert w.percentile(0) == 0.010
    assert w.percentile(50) == 0.030
    assert w.percentile(100) == 0.100
    assert w.percentile(95) == pytest.approx(0.040 + 0.8 * 0.060)


def test_trim_forgets_what_is_older_than_the_window():
    w = RollingWindow(2.0)
    w.add(0.0, False, 5.0)
    w.add(1.5, True, 0.01)
    w.add(2.5, True, 0.02)
    w.trim(2.5)
    assert len(w) == 1 + 1  # 0.0 is out (2.5 - 2.0 = 0.5), 1.5 and 2.5 stay
    assert w.success_rate() == 1.0
    assert w.percentile(99) == pytest.approx(0.0199)


def test_errors_without_latency_count_for_success_but_not_percentiles():
    w = RollingWindow(5.0)
    w.add(1.0, True, 0.010)
    w.add(1.1, False, None)  # connection refused: no latency to speak of
    w.add(1.2, False, 2.0)  # a timeout: the user waited the full 2 s
    assert w.ok_count == 1 and w.error_count == 2
    assert w.success_rate() == pytest.approx(1 / 3)
    assert w.percentile(100) == 2.0 and w.percentile(0) == 0.010


def test_empty_window_has_no_figures():
    w = RollingWindow(1.0)
    assert w.success_rate() is None and w.percentile(99) is None and w.rate(5.0) == 0.0


def test_rate_uses_the_elapsed_time_while_the_window_fills():
    w = RollingWindow(10.0)
    for i in range(10):
        w.add(i * 0.2, True, 0.001)
    assert w.rate(2.0, since=0.0) == pytest.approx(5.0)  # 10 in 2 s, not 10 in 10 s
    for i in range(10, 60):
        w.add(i * 0.2, True, 0.001)
    w.trim(12.0)
    assert w.rate(12.0, since=0.0) == pytest.approx(len(w) / 10.0)


def test_invalid_arguments_are_refused():
    with pytest.raises(ValueError):
        RollingWindow(0)
    with pytest.raises(ValueError):
        RollingWindow(1.0).percentile(101)

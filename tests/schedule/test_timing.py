"""Schedule arithmetic: intervals, jitter (seeded), windows in a time zone (DST-aware), a weekend skipped."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from controlroom.schedule import ScheduleError, next_run, parse_interval, parse_window


def test_intervals_parse_and_bad_ones_are_one_line_errors() -> None:
    assert parse_interval("2h", "--every") == 7200
    assert parse_interval("1h30m", "--every") == 5400
    assert parse_interval("0s", "--jitter", allow_zero=True) == 0
    for bad in ("", "2", "2 h", "h", "-1h", "31d", "2hours", "0s"):
        with pytest.raises(ScheduleError) as err:
            parse_interval(bad, "--every")
        assert "\n" not in str(err.value) and "--every" in str(err.value)


def test_jitter_is_uniform_within_bounds_and_seeded() -> None:
    start = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    runs = [next_run(start, 7200, 900, rng=random.Random(7)) for _ in range(2)]
    assert runs[0] == runs[1]  # the same seed, the same time
    rng = random.Random(1)
    offsets = [(next_run(start, 7200, 900, rng=rng) - start).total_seconds() for _ in range(500)]
    assert all(7200 <= o <= 8100 for o in offsets)
    assert max(offsets) - min(offsets) > 600  # it spreads, not a constant
    assert next_run(start, 7200) == start + timedelta(hours=2)


def test_a_window_moves_a_run_to_its_next_opening_and_skips_the_weekend() -> None:
    w = parse_window("Mon-Fri 10:00-16:00 Asia/Tokyo")  # UTC+9, no DST
    friday_15 = datetime(2026, 3, 6, 15, 0, tzinfo=w.tz)  # a Friday
    assert w.is_open(friday_15)
    # 15:00 + 2h = 17:00 Friday: closed; the weekend is skipped: Monday 10:00 Tokyo = 01:00 UTC.
    nxt = next_run(friday_15.astimezone(UTC), 7200, window=w)
    assert nxt == datetime(2026, 3, 9, 1, 0, tzinfo=UTC)
    assert nxt.astimezone(w.tz).weekday() == 0
    # Inside the window: unchanged. Before it opens the same day: that day's opening.
    monday_11 = datetime(2026, 3, 9, 11, 0, tzinfo=w.tz)
    assert w.next_open(monday_11) == monday_11.astimezone(UTC)
    assert w.next_open(datetime(2026, 3, 9, 6, 0, tzinfo=w.tz)) == datetime(2026, 3, 9, 1, 0, tzinfo=UTC)
    assert not w.is_open(datetime(2026, 3, 7, 12, 0, tzinfo=w.tz))  # Saturday noon


def test_a_window_follows_daylight_saving_time() -> None:
    w = parse_window("Mon-Fri 10:00-16:00 Europe/Paris")
    # Paris is UTC+1 in winter, UTC+2 from 29 March 2026: the opening moves in UTC, not in Paris.
    assert w.next_open(datetime(2026, 3, 27, 5, 0, tzinfo=UTC)) == datetime(2026, 3, 27, 9, 0, tzinfo=UTC)
    assert w.next_open(datetime(2026, 3, 30, 5, 0, tzinfo=UTC)) == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)


def test_day_lists_and_wrapping_ranges() -> None:
    assert parse_window("Sat,Sun 09:00-12:00 UTC").days == {5, 6}
    assert parse_window("Fri-Mon 09:00-12:00 UTC").days == {4, 5, 6, 0}
    assert parse_window("daily 00:00-24:00 UTC").days == set(range(7))


@pytest.mark.parametrize("bad", [
    "Mon-Fri 10:00-16:00", "Mon-Fry 10:00-16:00 UTC", "Mon-Fri 16:00-10:00 UTC", "Mon-Fri 10-16 UTC",
    "Mon-Fri 10:00-16:00 Mars/Olympus", "Mon-Fri 25:00-26:00 UTC", "Mon-Fri 10:00 UTC",
])
def test_bad_windows_are_one_line_errors(bad: str) -> None:
    with pytest.raises(ScheduleError) as err:
        parse_window(bad)
    assert str(err.value).startswith("--window") and "\n" not in str(err.value)

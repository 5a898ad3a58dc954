"""A rolling window of timestamped observations: success counts, latency percentiles and rate over the last N seconds.

The prober records one observation per finished request and reads its figures
from here; timestamps come from the caller's clock, so tests need no sleeping.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Observation:
    at: float  # monotonic seconds when the attempt finished
    ok: bool
    latency: float | None  # seconds; None when there is no meaningful latency (connection refused)


class RollingWindow:
    def __init__(self, length: float) -> None:
        if length <= 0:
            raise ValueError("a rolling window needs a positive length")
        self.length = length
        self._items: deque[Observation] = deque()
        self._first_at: float | None = None

    def add(self, at: float, ok: bool, latency: float | None) -> None:
        if self._first_at is None:
            self._first_at = at
        self._items.append(Observation(at, ok, latency))

    def trim(self, now: float) -> None:
        """Forget observations older than the window as of `now`."""
        horizon = now - self.length
        while self._items and self._items[0].at <= horizon:
            self._items.popleft()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def ok_count(self) -> int:
        return sum(1 for o in self._items if o.ok)

    @property
    def error_count(self) -> int:
        return len(self._items) - self.ok_count

    def success_rate(self) -> float | None:
        return self.ok_count / len(self._items) if self._items else None

    def percentile(self, q: float) -> float | None:
        """The q-th percentile (0..100) of the latencies in the window, linearly interpolated; None if empty."""
        if not 0 <= q <= 100:
            raise ValueError("percentile must be within 0..100")
        values = sorted(o.latency for o in self._items if o.latency is not None)
        if not values:
            return None
        rank = (len(values) - 1) * q / 100.0
        lo, hi = math.floor(rank), math.ceil(rank)
        return values[lo] + (values[hi] - values[lo]) * (rank - lo)

    def rate(self, now: float, since: float | None = None) -> float:
        """Observations per second over the window, or over the time since `since` (default: the first one) while it fills."""
        start = since if since is not None else self._first_at
        if start is None:
            return 0.0
        span = min(self.length, now - start)
        if span <= 0:
            return 0.0
        return len(self._items) / span

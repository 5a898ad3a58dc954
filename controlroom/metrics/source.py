"""The metric source protocol: anything that, asked once per interval, answers named values.

Sources: the built-in HTTP prober, Prometheus, command probes. A source that
cannot answer raises `SourceUnavailable`; the engine applies the scenario's
lost-telemetry policy. A value of None means "no data this interval".
A source that keeps history (Prometheus) is also a `BackfillSource`: an optional capability.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


class SourceUnavailable(Exception):
    """The source did not answer this interval (connection refused, timeout, HTTP error)."""


@runtime_checkable
class MetricSource(Protocol):
    name: str  # shown in the metrics pane and in telemetry-lost events

    def series(self) -> list[str]:
        """The series names this source produces, e.g. ["checkout.success_rate", "checkout.p99_ms"]."""
        ...

    async def start(self) -> None:
        """Open connections, start background probing; called once before the first sample."""
        ...

    async def sample(self) -> dict[str, float | None]:
        """One value per series for the interval that just ended. Raises SourceUnavailable."""
        ...

    async def close(self) -> None: ...


History = dict[str, list[tuple[float, float | None]]]  # series -> [(unix time, value)], oldest first


@runtime_checkable
class BackfillSource(MetricSource, Protocol):
    """A source that keeps history: the sparklines start with what came before the session.

    Optional: the engine asks it of the sources that are one (`isinstance(src, BackfillSource)`), and a
    source without history simply starts with empty sparklines.
    """

    async def backfill(self, seconds: float, step: float) -> History:
        """The last `seconds` of every series at `step` resolution. Raises SourceUnavailable."""
        ...

"""A whole session watched by one real metric source, run to its end in the test's event loop: the kit of the
tests whose source goes bad once the fault is in (a probe, a command, Prometheus: tests/metrics, tests/prometheus).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from controlroom.engine.gates import AutoFacilitator
from controlroom.engine.session import Outcome, Session
from controlroom.journal.events import Event
from controlroom.journal.reader import read_journal
from controlroom.metrics.source import MetricSource
from controlroom.scenario.model import Scenario


@dataclass
class Watched:
    outcome: Outcome
    events: list[Event]  # the journal's, read once the session ended
    took: float  # seconds, real time


async def run_watched(sc: Scenario, journal: Path, source: MetricSource, *,
                      when_injected: Callable[[Session], object] | None = None,
                      recovery_timeout: float | None = None) -> Watched:
    """Runs `sc` to its end: confirmed by an AutoFacilitator, watched by `source` alone, no control socket.
    `when_injected(session)` runs at every `fault-injected` (where a test makes its source lie or go dark);
    the source is closed whatever happens. `recovery_timeout` as Session's (None: derived from the scenario)."""
    session = Session(sc, journal, facilitator=AutoFacilitator(), sources=[source], control=False,
                      recovery_timeout=recovery_timeout)
    if when_injected is not None:
        hook = when_injected
        session.subscribe(lambda e: e.type == "fault-injected" and hook(session))
    started = time.monotonic()
    try:
        outcome = await session.run()
    finally:
        await source.close()
    return Watched(outcome, read_journal(journal).events, time.monotonic() - started)

"""Where the room's events come from: a live session, a followed journal, or a fixed list (tests, screenshots).

No Textual here. Only a live feed has `controls`; the read-only feeds have none,
so nothing in `watch` or replay can inject or stop anything.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from controlroom.journal.events import Event
from controlroom.journal.reader import follow

Emit = Callable[[Event], None]


class Controls(Protocol):
    """What a facilitator can do: the subset of Session + InteractiveFacilitator the room uses."""

    def decide(self, decision: str) -> bool: ...
    async def emergency_stop(self) -> None: ...
    def add_note(self, text: str) -> None: ...
    def tick_checklist(self, item: str, ticked: bool) -> None: ...


class Feed(Protocol):
    mode: str  # live | watch | replay
    controls: Controls | None

    async def pump(self, emit: Emit) -> Any: ...
    def clock(self) -> float | None: ...


class LiveControls:
    """Controls backed by a Session and its InteractiveFacilitator."""

    def __init__(self, session: Any, facilitator: Any) -> None:
        self.session = session
        self.facilitator = facilitator

    def decide(self, decision: str) -> bool:
        return bool(self.facilitator.resolve(decision))

    async def emergency_stop(self) -> None:
        await self.session.emergency_stop("key")

    def add_note(self, text: str) -> None:
        self.session.add_note(text)

    def tick_checklist(self, item: str, ticked: bool) -> None:
        tick = getattr(self.session, "tick_checklist", None)
        if tick is not None:
            tick(item, ticked)


class LiveFeed:
    """A running Session: every journaled event reaches the room on the event loop."""

    mode = "live"

    def __init__(self, session: Any, facilitator: Any,
                 runner: Callable[[Any], Awaitable[Any]] | None = None) -> None:
        self.session = session
        self.controls: Controls | None = LiveControls(session, facilitator)
        self._runner = runner  # e.g. controlroom.headless.run_session: signals wired to the e-stop
        self._started = False
        self.outcome: Any = None

    async def pump(self, emit: Emit) -> Any:
        self.session.subscribe(emit)
        self._started = True
        self.outcome = await (self._runner(self.session) if self._runner else self.session.run())
        return self.outcome

    def clock(self) -> float | None:
        if not self._started:
            return None
        now = getattr(self.session, "now", None)
        return float(now()) if callable(now) else None


class FollowFeed:
    """`controlroom watch`: follow a journal another process is writing. Read-only."""

    mode = "watch"
    controls: Controls | None = None

    def __init__(self, path: str | Path, *, poll: float = 0.1) -> None:
        self.path = Path(path)
        self.poll = poll
        self.header: dict[str, Any] | None = None

    async def pump(self, emit: Emit) -> Any:
        async for item in follow(self.path, poll=self.poll):
            if isinstance(item, Event):
                emit(item)
            else:
                self.header = item
        return None

    def clock(self) -> float | None:
        return None


class RecordingControls:
    """Controls that only record what was asked: the facilitator's view of a fixed event list (screenshots, tests)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def decide(self, decision: str) -> bool:
        self.calls.append(("decide", decision))
        return True

    async def emergency_stop(self) -> None:
        self.calls.append(("emergency_stop", None))

    def add_note(self, text: str) -> None:
        self.calls.append(("note", text))

    def tick_checklist(self, item: str, ticked: bool) -> None:
        self.calls.append(("tick", (item, ticked)))


class EventListFeed:
    """A fixed list of events, all at once or `pace`d (seconds between events). Read-only unless given controls."""

    def __init__(self, events: Sequence[Event], *, mode: str = "replay", pace: float = 0.0,
                 controls: Controls | None = None) -> None:
        self.events = list(events)
        self.mode = mode
        self.pace = pace
        self.controls: Controls | None = controls

    async def pump(self, emit: Emit) -> Any:
        for ev in self.events:
            emit(ev)
            if self.pace:
                await asyncio.sleep(self.pace)
        return None

    def clock(self) -> float | None:
        return None


class ReplayFeed:
    """`controlroom replay`: a finished journal played at `speed`, with pause and event-by-event seeking.

    Seeking re-folds the events from the start (`rebuild`), which is what makes
    the panes of a replay exactly the panes of the live session.
    """

    controls: Controls | None = None
    mode = "replay"
    MAX_GAP_S = 5.0  # a long wait in the session (a gate, a quiet step) plays as at most this, in real seconds

    def __init__(self, events: Sequence[Event], *, speed: float = 1.0) -> None:
        self.events = list(events)
        self.speed = speed if speed > 0 else 1.0
        self.position = 0  # events[:position] have been shown
        self.paused = False
        self.rebuild: Callable[[Sequence[Event]], None] | None = None
        self._wake: asyncio.Event | None = None

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def pump(self, emit: Emit) -> Any:
        self._wake = asyncio.Event()
        while True:
            if self.paused or self.position >= len(self.events):
                self._wake.clear()
                await self._wake.wait()
                continue
            event = self.events[self.position]
            emit(event)
            self.position += 1
            if self.position < len(self.events):
                gap = max(0.0, self.events[self.position].mono - event.mono)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=min(gap / self.speed, self.MAX_GAP_S))

    def toggle_pause(self) -> None:
        self.paused = not self.paused
        self._poke()

    def seek(self, delta: int) -> None:
        """Move `delta` events (pauses playback): the state is rebuilt from the first event."""
        self.paused = True
        self.position = max(0, min(len(self.events), self.position + delta))
        if self.rebuild is not None:
            self.rebuild(self.events[: self.position])
        self._poke()

    def faster(self, factor: float) -> None:
        self.speed = max(0.25, min(600.0, self.speed * factor))
        self._poke()

    def clock(self) -> float | None:
        return None

"""Where the room's events come from: a live session, a followed journal, or a fixed list (tests, screenshots).

No Textual here. Only a live feed has `controls`; the read-only feeds have none,
so nothing in `watch` or replay can inject or stop anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar

from controlroom.engine.gates import Decision, Judgements
from controlroom.journal.events import Event, StopKind
from controlroom.journal.reader import ended, follow
from controlroom.replay import Replay
from controlroom.viewstate import RoomState, format_clock

Emit = Callable[[Event], None]
Mode = Literal["live", "watch", "replay"]


class Ended(Protocol):
    """What a feed's run ends with, when it ends a session (the engine's `Outcome`)."""

    @property
    def exit_code(self) -> int: ...


class Controls(Protocol):
    """What a facilitator can do from the room."""

    def decide(self, decision: Decision) -> bool: ...
    async def emergency_stop(self) -> None: ...
    def add_note(self, text: str) -> None: ...
    def tick_checklist(self, item: str, ticked: bool) -> None: ...
    def judge(self, verdicts: Judgements) -> bool: ...
    def end_recovery(self) -> bool: ...


class Playback(Protocol):
    """What a reviewer can do to a replay: move its playhead. Nothing here reaches a target or the engine.

    The room shows whatever state the playback hands to `show` (folded by the replay, not by the room).
    """

    show: Callable[[RoomState], None] | None  # set by the room: called with the state at the playhead after a move

    @property
    def duration(self) -> float: ...  # session seconds from the first event to the last
    @property
    def needs_index(self) -> bool: ...  # long enough that seeks want the checkpoint index

    def build_index(self) -> None: ...  # blocking: the room runs it in a thread
    def index_built(self) -> None: ...  # on the event loop, once `build_index` has returned
    def toggle(self) -> bool: ...
    def step(self, delta: int) -> None: ...
    def jump(self, seconds: float) -> None: ...
    def seek(self, seconds: float) -> None: ...
    def to_start(self) -> None: ...
    def to_end(self) -> None: ...
    def faster(self, delta: int) -> float: ...
    def banner(self) -> str: ...


class Feed(Protocol):
    mode: Mode
    controls: Controls | None  # a facilitator's room: only a live feed (or a test's recording) has them

    @property
    def playback(self) -> Playback | None: ...  # a reviewer's room: only a replay has one

    journal: str | None  # the journal these events are (or will be) in, when there is one
    exit_when_done: bool  # the room closes by itself once `pump` returns (nobody is there to read it)

    async def pump(self, emit: Emit) -> Ended | None: ...
    def clock(self) -> float | None: ...


class RunningSession(Protocol):
    """What the room uses of an engine `Session`: run it, hear its events, and act on it for the facilitator."""

    @property
    def journal_path(self) -> Path | None: ...
    @property
    def stop_source(self) -> str: ...  # the stop kind as journaled; "" while nothing stopped the session

    def subscribe(self, listener: Emit) -> None: ...
    def now(self) -> float: ...
    async def run(self) -> Ended: ...
    async def emergency_stop(self, source: StopKind, reason: str = "") -> None: ...
    def add_note(self, text: str) -> None: ...
    def tick_checklist(self, item: str, ticked: bool) -> None: ...
    def end_recovery(self) -> bool: ...


class GateHolder(Protocol):
    """What the room uses of the engine's `InteractiveFacilitator`: answer the open gate and the statements."""

    def resolve(self, decision: Decision) -> bool: ...
    def judged(self, verdicts: Judgements) -> bool: ...


S = TypeVar("S", bound=RunningSession)


class LiveControls:
    """Controls backed by a running session and the facilitator's gates."""

    def __init__(self, session: RunningSession, facilitator: GateHolder) -> None:
        self.session = session
        self.facilitator = facilitator

    def decide(self, decision: Decision) -> bool:
        return self.facilitator.resolve(decision)

    async def emergency_stop(self) -> None:
        await self.session.emergency_stop(StopKind.KEY)

    def add_note(self, text: str) -> None:
        self.session.add_note(text)

    def tick_checklist(self, item: str, ticked: bool) -> None:
        self.session.tick_checklist(item, ticked)

    def judge(self, verdicts: Judgements) -> bool:
        return self.facilitator.judged(verdicts)

    def end_recovery(self) -> bool:
        return self.session.end_recovery()


class LiveFeed(Generic[S]):
    """A running Session: every journaled event reaches the room on the event loop."""

    mode: Mode = "live"

    def __init__(self, session: S, facilitator: GateHolder,
                 runner: Callable[[S], Awaitable[Ended]] | None = None) -> None:
        self.session = session
        self.controls: Controls | None = LiveControls(session, facilitator)
        self.playback: Playback | None = None
        self._runner = runner  # e.g. controlroom.headless.run_session: signals wired to the e-stop
        self._started = False
        self.outcome: Ended | None = None
        # A stop by signal (SIGTERM, SIGHUP: the terminal is gone) ends the room once the session has ended:
        # nobody is there to read the verdict and press q.
        self.exit_when_done = False
        path = session.journal_path
        self.journal: str | None = None if path is None else str(path)

    async def pump(self, emit: Emit) -> Ended | None:
        self.session.subscribe(emit)
        self._started = True
        try:
            self.outcome = await (self._runner(self.session) if self._runner else self.session.run())
        finally:
            self.exit_when_done = self.session.stop_source == StopKind.SIGNAL
        return self.outcome

    def clock(self) -> float | None:
        return self.session.now() if self._started else None


class FollowFeed:
    """`controlroom watch`: follow a journal another process is writing. Read-only."""

    mode: Mode = "watch"
    controls: Controls | None = None
    playback: Playback | None = None
    exit_when_done = False

    def __init__(self, path: str | Path, *, poll: float = 0.1) -> None:
        self.path = Path(path)
        self.journal: str | None = str(path)
        self.poll = poll
        self.header: dict[str, Any] | None = None
        self._last: tuple[float, float] | None = None  # (mono, wall epoch) of the newest event

    async def pump(self, emit: Emit) -> Ended | None:
        async for item in follow(self.path, poll=self.poll):
            if isinstance(item, Event):
                self._last = (item.mono, _epoch(item.t, time.time()))
                emit(item)
            else:
                self.header = item
        return None

    def clock(self) -> float | None:
        """The session clock as the facilitator's room shows it: the newest event's session time plus the wall
        time since it was written. Events do not flow at every moment (a gate waits, metrics start after the
        checklist), and a participant's clock must not stop while the facilitator's runs."""
        if self._last is None:
            return None
        mono, wall = self._last
        return mono + max(0.0, time.time() - wall)


def _epoch(t: str, fallback: float) -> float:
    """An event's ISO 8601 wall time as epoch seconds; `fallback` when unreadable (an old or odd journal)."""
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        return fallback
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


class RecordingControls:
    """Controls that only record what was asked: the facilitator's view of a fixed event list (screenshots, tests)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def decide(self, decision: Decision) -> bool:
        self.calls.append(("decide", decision))
        return True

    async def emergency_stop(self) -> None:
        self.calls.append(("emergency_stop", None))

    def add_note(self, text: str) -> None:
        self.calls.append(("note", text))

    def tick_checklist(self, item: str, ticked: bool) -> None:
        self.calls.append(("tick", (item, ticked)))

    def judge(self, verdicts: Judgements) -> bool:
        self.calls.append(("judge", dict(verdicts)))
        return True

    def end_recovery(self) -> bool:
        self.calls.append(("end_recovery", None))
        return True


class EventListFeed:
    """A fixed list of events, all at once or `pace`d (seconds between events). Read-only unless given controls."""

    exit_when_done = False

    def __init__(self, events: Sequence[Event], *, mode: Mode = "replay", pace: float = 0.0,
                 controls: Controls | None = None, journal: str | None = None) -> None:
        self.events = list(events)
        self.journal = journal
        self.mode: Mode = mode
        self.pace = pace
        self.controls: Controls | None = controls
        self.playback: Playback | None = None

    async def pump(self, emit: Emit) -> Ended | None:
        for ev in self.events:
            emit(ev)
            if self.pace:
                await asyncio.sleep(self.pace)
        return None

    def clock(self) -> float | None:
        return None


class ReplayFeed:
    """`controlroom replay`: a finished (or crashed) journal under the reviewer's clock, read-only.

    The playhead is a `controlroom.replay.Replay`: it folds the events into the same
    RoomState the live panes read, and restores checkpoints on seeks. The room shows
    `replay.state()` after every move (`show`), so a seek shows exactly what the room showed then.
    """

    controls: Controls | None = None
    mode: Mode = "replay"
    exit_when_done = False
    FRAME_S = 0.05  # playing: the playhead moves this often (wall seconds)

    def __init__(self, replay: Replay, *, speed: float = 1.0, playing: bool = True) -> None:
        self.replay = replay
        self.journal: str | None = str(replay.path)
        replay.set_speed(speed)  # ValueError unless 1, 4, 16 or 60: the entry point turns it into a user error
        self.show: Callable[[RoomState], None] | None = None
        self.index_progress: float | None = None  # 0..1 while the checkpoint index is built, then None
        self.indexed = False  # every checkpoint is there: any seek folds at most `replay.every` events
        self.last_move_s = 0.0  # how long the last key's move of the playhead took (benchmarks)
        self.pending_seek: float | None = None  # a far seek asked for while the index is still being built
        # The session did not end properly: no session-ended, or a torn last line.
        self.incomplete = bool(replay.warnings) or \
            not ended(replay.event(i).type for i in range(replay.count - 1, -1, -1))
        self._start_playing = playing
        self._wake: asyncio.Event | None = None
        self._shown_second = -1

    @property
    def playback(self) -> Playback:
        return self

    @property
    def duration(self) -> float:
        return self.replay.duration

    @property
    def needs_index(self) -> bool:
        return self.replay.count > self.replay.every

    def build_index(self) -> None:
        """Checkpoints over the whole journal (blocking), so every later seek is quick; progress in the banner."""

        def progress(done: float) -> None:
            self.index_progress = done

        self.index_progress = 0.0
        self.replay.build_index(progress)

    def _changed(self) -> None:
        if self.show is not None:
            self.show(self.replay.state())

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def pump(self, emit: Emit) -> Ended | None:
        """Plays while `playing`; `emit` is unused: the replay folds the events itself and hands over its state."""
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        rp = self.replay
        rp.seek_event(0)  # the first frame: the session's header, targets and series
        if self._start_playing:
            rp.play()
        self._changed()
        last = loop.time()
        while True:
            if not rp.playing:
                self._wake.clear()
                await self._wake.wait()
                last = loop.time()
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.FRAME_S)
            now = loop.time()
            if not rp.playing:
                continue
            applied = rp.tick(now - last)
            last = now
            # Redraw when something happened, or the clock shows another second.
            if applied or int(rp.time) != self._shown_second or not rp.playing:
                self._shown_second = int(rp.time)
                self._changed()

    # ---- the reviewer's keys: each moves the playhead and shows the state there ---------------------------

    def toggle(self) -> bool:
        playing = self.replay.toggle()
        self._poke()
        self._changed()
        return playing

    def _move(self, move: Callable[[], object]) -> None:
        self.pending_seek = None  # the reviewer moved on: a seek still waiting for the index is dropped
        t0 = time.perf_counter()
        move()
        self.last_move_s = time.perf_counter() - t0
        self._poke()
        self._changed()

    def step(self, delta: int) -> None:
        """One event forward or back (pauses)."""
        self.replay.pause()
        self._move(self.replay.next_event if delta > 0 else self.replay.prev_event)

    # A seek that would fold more than this many events waits for the index rather than freeze the room.
    FAR_SEEK_EVENTS = 20_000

    def seek(self, seconds: float) -> None:
        """To a session time: the last event at or before it is the one shown. Playing goes on from there."""
        rp = self.replay
        if self.index_progress is not None and rp.fold_cost(rp.applied_at(seconds)) > self.FAR_SEEK_EVENTS:
            self.pending_seek = seconds
            rp.pause()
            self._changed()
            return
        self._move(lambda: rp.seek(seconds))

    def index_built(self) -> None:
        """The checkpoint index is complete: a seek that waited for it happens now."""
        self.indexed = True
        self.index_progress = None
        if self.pending_seek is not None:
            self.seek(self.pending_seek)
        else:
            self._changed()

    def jump(self, seconds: float) -> None:
        self.seek(self.replay.time + seconds)

    def to_start(self) -> None:
        self.replay.pause()
        self._move(lambda: self.replay.seek_event(0))

    def to_end(self) -> None:
        self.replay.pause()
        self.seek(self.replay.duration)

    def faster(self, delta: int) -> float:
        speed = self.replay.faster() if delta > 0 else self.replay.slower()
        self._changed()
        return speed

    def banner(self) -> str:
        """The replay's position in one line: play state, speed, session time, event."""
        rp = self.replay
        parts = [
            f"{'▶ playing' if rp.playing else '❚❚ paused'} {rp.speed:g}×",
            f"{format_clock(rp.time)} / {format_clock(rp.duration)[2:]}",
            f"event {rp.position + 1:,}/{rp.count:,}",
        ]
        if self.incomplete:
            parts.append("INCOMPLETE")
        if self.pending_seek is not None:
            parts.append(f"seeking to {format_clock(self.pending_seek)} once indexed")
        if self.index_progress is not None:
            parts.append(f"indexing {self.index_progress:.0%}")
        return "  ".join(parts)

    def clock(self) -> float | None:
        return None

"""Replay: a journal under a clock the reviewer controls, folded into the same RoomState the live panes read.

UI-free. `Replay.open(path)` indexes the journal's lines and their session times
without parsing every event, so the first frame is quick even for a million
events; events are parsed when the playhead reaches them. Seeking restores the
nearest checkpoint of the view state (one every `every` events, made as the fold
passes them, or all at once by `build_index`) and folds forward from there.
Nothing here can inject or stop anything: a replay has no controls.
"""

from __future__ import annotations

import bisect
import copy
import json
import math
import re
from collections.abc import Callable
from itertools import accumulate
from pathlib import Path
from typing import Any

from controlroom.journal.events import Event
from controlroom.journal.reader import event_from_line, read_lines
from controlroom.journal.schema import BadEvent
from controlroom.viewstate import RoomState, apply

SPEEDS: tuple[float, ...] = (1.0, 4.0, 16.0, 60.0)
DEFAULT_EVERY = 2000  # events between checkpoints: a seek folds at most this many (docs/report.md has figures)

_MONO_RE = re.compile(rb'"mono":\s*(-?[0-9][0-9.eE+-]*)')


def _finite(raw: bytes) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and abs(value) < 1e12 else None


def parse_time(text: str) -> float:
    """A session time the reviewer types: `90`, `1:30`, `1:02:03`, `T+01:30`, `95.5`; ValueError otherwise."""
    raw = text.strip().upper().removeprefix("T+").strip()
    parts = raw.split(":")
    if not raw or len(parts) > 3:
        raise ValueError(f"not a time: {text!r}; type seconds (90) or m:ss (1:30)")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"not a time: {text!r}; type seconds (90) or m:ss (1:30)") from None
    if any(v < 0 for v in values) or any(v >= 60 for v in values[1:]):
        raise ValueError(f"not a time: {text!r}; minutes and seconds after a colon are 0-59")
    seconds = 0.0
    for v in values:
        seconds = seconds * 60 + v
    return seconds


class Replay:
    """The playhead over one journal: position (last applied event), time, play/pause and speed."""

    def __init__(self, path: Path, header: dict[str, Any], lines: list[bytes], monos: list[float],
                 warnings: list[str], every: int = DEFAULT_EVERY) -> None:
        self.path = path
        self.header = header
        self.warnings = warnings
        self.every = max(1, every)
        self._lines = lines
        self._line0 = 2  # journal line number of event 0 (line 1 is the header)
        self._monos = monos  # non-decreasing session times, one per event
        self._flagged: set[str] = set()  # damaged lines already warned about
        self.checkpoints: dict[int, RoomState] = {0: RoomState()}  # events applied -> state after them
        self._state = RoomState()
        self._applied = 0  # events folded into _state
        self.time = 0.0
        self.playing = False
        self.speed = SPEEDS[0]

    # ---- opening ------------------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, *, every: int = DEFAULT_EVERY) -> Replay:
        p, header, lines, torn_tail, warnings = read_lines(path)
        body = lines[1:]
        if body and not body[-1].strip():
            body.pop()
        if torn_tail and body:
            try:
                json.loads(body[-1])
            except (ValueError, RecursionError):
                body.pop()
                warnings.append(f"{p}:{len(body) + 2}: skipped a torn last line (the session stopped mid-write)")
        if any(not line.strip() for line in body):
            body = [line for line in body if line.strip()]  # blank lines carry nothing; line numbers then shift
        monos = []
        search = _MONO_RE.search
        last = 0.0
        for line in body:
            m = search(line, 0, 120)  # the writer puts t and mono first
            if m is None:
                m = search(line)
            # A line without a usable time keeps the one before: it is checked (and skipped) when reached.
            value = _finite(m.group(1)) if m is not None else None
            last = value if value is not None else last
            monos.append(last)
        # A clock that stepped back must not break bisect: seek by the running maximum.
        monos = list(accumulate(monos, max))
        return cls(p, header, body, monos, warnings, every)

    # ---- what there is ------------------------------------------------------------------------------------

    @property
    def count(self) -> int:
        return len(self._lines)

    @property
    def duration(self) -> float:
        return self._monos[-1] if self._monos else 0.0

    @property
    def position(self) -> int:
        """Index of the last applied event; -1 before the first."""
        return self._applied - 1

    @property
    def at_end(self) -> bool:
        return self._applied >= self.count

    def applied_at(self, seconds: float) -> int:
        """How many events a seek to `seconds` applies (the index after the last one shown)."""
        return bisect.bisect_right(self._monos, max(0.0, min(seconds, self.duration)))

    def fold_cost(self, applied: int) -> int:
        """Events a move to `applied` would fold now: from the playhead going forward, else from a checkpoint."""
        base = max(k for k in list(self.checkpoints) if k <= applied)
        if self._applied <= applied:
            base = max(base, self._applied)
        return applied - base

    def mono(self, index: int) -> float:
        return self._monos[index]

    def event(self, index: int) -> Event:
        """Event `index`, parsed now. A line that is not an event of the vocabulary becomes a `warning` event
        saying where and why (and joins `warnings`): the panes show the gap, and the fold never stops on it."""
        line = self._lines[index]
        try:
            ev = event_from_line(line)
            if ev.type == "session-started" and index > 0:  # the rule every reader keeps (reader.LineChecker)
                raise BadEvent("a second session-started (one journal holds one session)")
            return ev
        except BadEvent as err:
            why = f"{self.path}:{index + self._line0}: skipped: {err}"
            if why not in self._flagged:
                self._flagged.add(why)
                self.warnings.append(why)
            return Event("warning", "", self._monos[index], {"message": why})

    def state(self) -> RoomState:
        """The view state at the playhead. Read it, do not change it: the replay owns it."""
        self._state.now = max(self._state.now, self.time)
        return self._state

    # ---- folding ------------------------------------------------------------------------------------------

    def _fold_to(self, applied: int, on_event: Callable[[Event], None] | None = None) -> None:
        """Make exactly `applied` events folded into the state, from a checkpoint when going back or far."""
        applied = max(0, min(self.count, applied))
        if applied < self._applied or applied - self._applied > self.every:
            # list(): build_index may add checkpoints from a worker thread meanwhile.
            base = max(k for k in list(self.checkpoints) if k <= applied)
            if not (self._applied <= applied and self._applied >= base):
                self._state = copy.deepcopy(self.checkpoints[base])
                self._applied = base
        state = self._state
        for i in range(self._applied, applied):
            ev = self.event(i)
            apply(state, ev)
            if on_event is not None:
                on_event(ev)
            done = i + 1
            if done % self.every == 0 and done not in self.checkpoints:
                self.checkpoints[done] = copy.deepcopy(state)
        self._applied = applied

    def build_index(self, progress: Callable[[float], None] | None = None) -> None:
        """Fold the whole journal once, keeping a checkpoint every `every` events, so any seek is quick.

        Safe to run in a worker thread while the playhead stays where it is; `progress` hears 0..1.
        """
        start = max(self.checkpoints)
        state = copy.deepcopy(self.checkpoints[start])
        for i in range(start, self.count):
            apply(state, self.event(i))
            done = i + 1
            if done % self.every == 0:
                if done not in self.checkpoints:
                    self.checkpoints[done] = copy.deepcopy(state)
                if progress is not None:
                    progress(done / self.count)
        if progress is not None:
            progress(1.0)

    # ---- the reviewer's controls --------------------------------------------------------------------------

    def seek(self, seconds: float) -> RoomState:
        """Jump to a session time: every event at or before it is applied, none after."""
        self.time = max(0.0, min(seconds, self.duration))
        self._fold_to(bisect.bisect_right(self._monos, self.time))
        self._state.now = self.time
        return self.state()

    def seek_event(self, index: int) -> RoomState:
        """Jump to just after event `index` (-1: before the first), the clock on that event's time."""
        index = max(-1, min(index, self.count - 1))
        self._fold_to(index + 1)
        self.time = self._monos[index] if index >= 0 else 0.0
        self._state.now = self.time
        return self.state()

    def next_event(self) -> RoomState:
        return self.seek_event(self.position + 1)

    def prev_event(self) -> RoomState:
        return self.seek_event(self.position - 1)

    def play(self) -> None:
        self.playing = not self.at_end

    def pause(self) -> None:
        self.playing = False

    def toggle(self) -> bool:
        if self.playing:
            self.pause()
        else:
            self.play()
        return self.playing

    def set_speed(self, speed: float) -> None:
        if speed not in SPEEDS:
            raise ValueError(f"replay speed must be one of {', '.join(f'{s:g}x' for s in SPEEDS)}")
        self.speed = speed

    def faster(self) -> float:
        self.speed = SPEEDS[min(len(SPEEDS) - 1, SPEEDS.index(self.speed) + 1)]
        return self.speed

    def slower(self) -> float:
        self.speed = SPEEDS[max(0, SPEEDS.index(self.speed) - 1)]
        return self.speed

    def tick(self, wall_seconds: float) -> list[Event]:
        """Advance a playing replay by `wall_seconds` of real time at its speed; returns the events applied,
        in order, so a UI can hand them to panes that animate per event. Stops playing at the end."""
        if not self.playing or wall_seconds <= 0:
            return []
        applied: list[Event] = []
        target = min(self.duration, self.time + wall_seconds * self.speed)
        self.time = target
        self._fold_to(bisect.bisect_right(self._monos, target), applied.append)
        self._state.now = self.time
        if self.at_end and self.time >= self.duration:
            self.playing = False
        return applied

"""TUI test kit: animations off before Textual loads, a fake session with the engine's surface, screen text."""

from __future__ import annotations

import os

os.environ["TEXTUAL_ANIMATIONS"] = "none"  # read by textual.constants at import: set before Textual loads
os.environ.pop("NO_COLOR", None)  # snapshots must not depend on the runner's colour preference

import asyncio
import io
from typing import Any

import pytest
from rich.console import Console

from controlroom.app import fixtures
from controlroom.engine.gates import Gate, InteractiveFacilitator
from controlroom.journal.events import Event


def screen_text(app: Any) -> str:
    """The screen as plain text, the way a participant reads it."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, legacy_windows=False,
                      color_system=None)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


class FakeSession:
    """Plays the sample session through an InteractiveFacilitator; records every control the room uses."""

    def __init__(self, facilitator: InteractiveFacilitator) -> None:
        self.facilitator = facilitator
        self.listeners: list[Any] = []
        self.notes: list[str] = []
        self.ticks: list[tuple[str, bool]] = []
        self.stops: list[str] = []
        self.decisions: list[str] = []
        self.stopped = asyncio.Event()
        self.mono = 0.0
        self.journal_path = None  # nothing is written: the end screen names no journal
        self.stop_source = ""
        self.recovery_ended = 0

    def subscribe(self, listener: Any) -> None:
        self.listeners.append(listener)

    def now(self) -> float:
        return self.mono

    def emit(self, event: Event) -> None:
        self.mono = max(self.mono, event.mono)
        for listener in self.listeners:
            listener(event)

    def emit_new(self, type_: str, **data: Any) -> None:
        self.emit(fixtures.ev(type_, self.mono, **data))

    async def run(self) -> Any:
        for event in fixtures.gate_events():
            self.emit(event)
        decision = await self.facilitator.decide(Gate(kind="step", step="slow-db", title="300 ms on the payments DB"))
        self.decisions.append(decision)
        if decision == "confirm":
            for event in fixtures.mid_step_events():
                if event.mono >= 62.0:
                    self.emit(event)
            await self.stopped.wait()
        else:
            self.emit(fixtures.ev("step-confirmed", 62.0, step="slow-db", decision=decision, by="facilitator"))
            self.emit(fixtures.ev("step-completed", 62.1, step="slow-db",
                                  outcome="skipped" if decision == "skip" else "aborted"))
            if decision == "abort":
                self.emit(fixtures.ev("session-ended", 62.2, outcome="aborted", exit_code=1, unconfirmed=[]))
                return type("Outcome", (), {"exit_code": 1})()
            await self.stopped.wait()
        return type("Outcome", (), {"exit_code": 1})()

    async def emergency_stop(self, source: str, reason: str = "") -> None:
        self.stops.append(source)
        self.stop_source = str(source)
        if self.facilitator.pending is not None:  # like the engine: a stop answers an open gate with abort
            self.facilitator.pending.resolve("abort")
            await asyncio.sleep(0)
        if len(self.stops) == 1:
            for event in fixtures.estop_events(finished=True):
                if event.mono >= 126.0:
                    self.emit(event)
        self.stopped.set()

    def add_note(self, text: str, author: str = "facilitator") -> None:
        self.notes.append(text)
        self.emit_new("note", text=text, author=author)

    def tick_checklist(self, item: str, ticked: bool = True) -> None:
        self.ticks.append((item, ticked))
        self.emit_new("checklist-item", item=item, ticked=ticked)

    def end_recovery(self) -> bool:
        self.recovery_ended += 1
        return True


@pytest.fixture
def fake() -> FakeSession:
    return FakeSession(InteractiveFacilitator())

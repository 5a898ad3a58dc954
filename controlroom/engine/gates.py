"""Facilitator gates: awaitable decisions, so the TUI, `--yes` and tests drive the same engine code.

The engine opens a `Gate` (confirm a step, tick the checklist) and awaits it;
whoever facilitates resolves it with a `Decision`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Literal, Protocol

Decision = Literal["confirm", "skip", "abort"]
DECISIONS: tuple[Decision, ...] = ("confirm", "skip", "abort")


@dataclass
class Gate:
    """A question the engine waits on. `kind` is "step" (inject this step?) or "checklist"."""

    kind: str
    step: str | None = None
    title: str = ""
    items: tuple[str, ...] = ()
    future: asyncio.Future[Decision] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def resolve(self, decision: Decision) -> bool:
        """Answer the gate; False when it was already answered (a second key press is harmless)."""
        if decision not in DECISIONS:
            raise ValueError(f"unknown decision {decision!r}")
        if self.future.done():
            return False
        self.future.set_result(decision)
        return True


class Facilitator(Protocol):
    async def decide(self, gate: Gate) -> Decision: ...


class AutoFacilitator:
    """`--yes`: confirms every gate at once. Safety rules still apply; only the human wait is skipped."""

    async def decide(self, gate: Gate) -> Decision:
        return "confirm"


class InteractiveFacilitator:
    """Holds the open gate for a UI: the UI reads `pending` and calls `resolve`; listeners hear of new gates."""

    def __init__(self) -> None:
        self.pending: Gate | None = None
        self._listeners: list[object] = []

    async def decide(self, gate: Gate) -> Decision:
        self.pending = gate
        for listener in list(self._listeners):
            listener(gate)  # type: ignore[operator]
        try:
            return await gate.future
        finally:
            self.pending = None

    def on_gate(self, listener: object) -> None:
        self._listeners.append(listener)

    def resolve(self, decision: Decision) -> bool:
        gate = self.pending
        return gate.resolve(decision) if gate is not None else False

"""Facilitator gates: awaitable decisions, so the TUI, `--yes` and tests drive the same engine code.

The engine opens a `Gate` (confirm a step, tick the checklist) and awaits it;
whoever facilitates resolves it with a `Decision`. At the end of a session the
engine also asks the facilitator to judge the scenario's human statements
(`judge`): met, not met, or left not judged — `--yes` judges nothing, it never
pretends a person said yes.
"""

from __future__ import annotations

import asyncio
import getpass
import os
from dataclasses import dataclass, field
from typing import Literal, Protocol

Decision = Literal["confirm", "skip", "abort"]
DECISIONS: tuple[Decision, ...] = ("confirm", "skip", "abort")
Judgements = dict[str, bool | None]  # statement -> met (True), not met (False), not judged (None or absent)


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


def facilitator_name() -> str:
    """Who runs the room, for the journal (who confirmed, who pressed the e-stop, who judged a statement):
    `$CONTROLROOM_FACILITATOR` when set (a name, as people know each other), else the login name."""
    name = " ".join(os.environ.get("CONTROLROOM_FACILITATOR", "").split())[:64]
    if name:
        return name
    try:
        return getpass.getuser()
    except Exception:  # no user name (a container without a passwd entry): say so rather than guess
        return f"uid {os.getuid()}"


class Facilitator(Protocol):
    async def decide(self, gate: Gate) -> Decision: ...


async def judge_statements(facilitator: object, statements: tuple[str, ...]) -> tuple[Judgements, str]:
    """Ask `facilitator` to judge the statements: (judgements, who judged). A facilitator that cannot judge
    (no `judge` method) leaves every statement not judged."""
    judge = getattr(facilitator, "judge", None)
    if judge is None:
        return {}, "nobody"
    verdicts: Judgements = await judge(statements)
    return verdicts, str(getattr(facilitator, "judge_by", "") or facilitator_name())


class AutoFacilitator:
    """`--yes`: confirms every gate at once. Safety rules still apply; only the human wait is skipped.

    Statements are left not judged: nobody was asked, so nobody said yes (docs/scenario-format.md).
    """

    judge_by = "nobody (--yes: not asked)"

    async def decide(self, gate: Gate) -> Decision:
        return "confirm"

    async def judge(self, statements: tuple[str, ...]) -> Judgements:
        return {}


class InteractiveFacilitator:
    """Holds the open gate for a UI: the UI reads `pending` and calls `resolve`; listeners hear of new gates."""

    def __init__(self) -> None:
        self.pending: Gate | None = None
        self._listeners: list[object] = []
        self.statements: tuple[str, ...] = ()  # waiting to be judged (the UI shows them, then calls `judged`)
        self._judged: asyncio.Future[Judgements] | None = None

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

    async def judge(self, statements: tuple[str, ...]) -> Judgements:
        self.statements = statements
        self._judged = asyncio.get_running_loop().create_future()
        try:
            return await self._judged
        finally:
            self.statements = ()
            self._judged = None

    def judged(self, verdicts: Judgements) -> bool:
        """The UI's answer to `judge`; False when nothing is waiting for one."""
        if self._judged is None or self._judged.done():
            return False
        self._judged.set_result({k: v for k, v in verdicts.items() if k in self.statements})
        return True

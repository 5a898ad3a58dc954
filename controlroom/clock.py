"""Clocks: the real one, and one a test advances by hand, so the engine is testable without sleeping."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...
    def wall(self) -> datetime: ...
    async def sleep(self, seconds: float) -> None: ...


class RealClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that moves only when the test calls `advance`; sleepers wake in deadline order."""

    def __init__(self, start_wall: datetime | None = None) -> None:
        self._now = 0.0
        self._start_wall = start_wall or datetime(2026, 1, 1, tzinfo=UTC)
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> datetime:
        from datetime import timedelta

        return self._start_wall + timedelta(seconds=self._now)

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._now + max(0.0, seconds), fut))
        await fut

    async def advance(self, seconds: float, step: float = 0.05) -> None:
        """Move time forward in small steps, letting woken tasks run between them."""
        target = self._now + seconds
        while True:
            for _ in range(5):
                await asyncio.sleep(0)
            due = [d for d, f in self._sleepers if not f.done()]
            nxt = min(due) if due else None
            if nxt is None or nxt > target:
                self._now = target
                for _ in range(5):
                    await asyncio.sleep(0)
                return
            self._now = max(self._now, nxt)
            for d, f in list(self._sleepers):
                if d <= self._now and not f.done():
                    f.set_result(None)
            self._sleepers = [(d, f) for d, f in self._sleepers if not f.done()]

"""An in-memory executor for unit tests: records every action and answers from a handler.

Like httpx's MockTransport: honest about being a double, and the only one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from controlroom.targets.base import Action, ActionResult

Handler = Callable[[Action], ActionResult | Awaitable[ActionResult]]


class MemoryExecutor:
    def __init__(self, target: str, handler: Handler | None = None) -> None:
        self.target = target
        self.actions: list[Action] = []
        self._handler = handler
        self.closed = False

    async def run(self, action: Action) -> ActionResult:
        self.actions.append(action)
        if self._handler is None:
            return ActionResult(ok=True, status=0)
        result = self._handler(action)
        if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
            return await result
        assert isinstance(result, ActionResult)
        return result

    async def close(self) -> None:
        self.closed = True

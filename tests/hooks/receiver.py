"""A loopback webhook receiver for the hook tests (the project's own small HTTP server, no aiohttp)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from controlroom.lab._http import HttpServer, Request, Response


@dataclass
class Receiver:
    """Records every request; answers `statuses` in turn (then 200); `dead` accepts and never answers;
    `delay` answers late."""

    statuses: list[int] = field(default_factory=list)
    dead: bool = False
    delay: float = 0.0
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    async def handle(self, req: Request) -> Response:
        self.requests.append(req)
        if self.dead:
            await asyncio.Event().wait()  # accepts, reads the request, never answers (stop() cancels it)
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.statuses.pop(0) if self.statuses else 200
        return Response(status, b"ok", "text/plain")

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.requests]


@asynccontextmanager
async def receiver(**kw: Any) -> AsyncIterator[Receiver]:
    r = Receiver(**kw)
    server = HttpServer(r.handle)
    port = await server.start()
    r.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield r
    finally:
        await server.stop()

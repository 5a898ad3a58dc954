"""How many SSH connections are set up at once: one bounded limiter shared by every SshExecutor of a session.

An SSH handshake (key exchange, host-key check, client-key login) costs the control room ~50 ms of CPU, all
of it on the one event-loop thread. Two hundred of them started together share that thread so thinly that
each one takes seconds, and a connect timeout that started counting before the handshake got its turn
declares healthy hosts unreachable (issue 18: `h3: cannot reach h3 over ssh: TimeoutError` at 200 lab hosts,
every sshd answering). Holding a slot while a connection is attempted keeps each handshake fast; the
timeout counts from the moment a slot is held, so time spent queueing is never taken for unreachability.

A slot is held only while a connection is set up, never while it is used: commands, reverts and renewals on
live connections never wait here. Every holder is bounded (its connect timeout), so the queue always drains.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import weakref
from collections.abc import AsyncIterator

# Measured on the 2-core lab (docs/benchmarks.md, "Connecting a fleet"): 8 handshakes per core keep the
# loop busy without starving any one handshake; more only lengthens each one.
PER_CPU = 8
MIN_SIZE = 4
MAX_SIZE = 64


def default_size(cpus: int | None = None) -> int:
    """Connections set up at once when neither the scenario nor the command line says: sized to the machine."""
    n = cpus if cpus is not None else (os.cpu_count() or 1)
    return max(MIN_SIZE, min(MAX_SIZE, PER_CPU * n))


class SlotTimeout(Exception):
    """No slot came free before the caller's deadline (a command's own timeout): not the host's fault."""


class ConnectLimiter:
    """At most `size` connection attempts at once; the rest wait, in order, without a timeout of their own."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"a connect limit must be at least 1, got {size}")
        self.size = size
        self._sem = asyncio.Semaphore(size)
        self.waiting = 0  # attempts queued for a slot
        self.attempting = 0  # attempts holding a slot

    @contextlib.asynccontextmanager
    async def slot(self, wait: float | None = None) -> AsyncIterator[None]:
        """Hold one slot for the body (one connection attempt). `wait`: the longest to queue for it, after
        which SlotTimeout is raised; None waits as long as it takes (every holder is bounded)."""
        self.waiting += 1
        try:
            if wait is None:
                await self._sem.acquire()
            else:
                try:
                    await asyncio.wait_for(self._sem.acquire(), timeout=max(0.0, wait))
                except TimeoutError:
                    raise SlotTimeout(f"no connection slot came free within {wait:g}s "
                                      f"({self.size} connecting at once)") from None
        finally:
            self.waiting -= 1
        self.attempting += 1
        try:
            yield
        finally:
            self.attempting -= 1
            self._sem.release()


_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ConnectLimiter] = weakref.WeakKeyDictionary()


def loop_limiter() -> ConnectLimiter:
    """The limiter of executors no session gave one (`recover`, a Toxiproxy target's leash shell, tests):
    one per event loop, of the default size, so they too never start a whole fleet's handshakes at once."""
    loop = asyncio.get_running_loop()
    limiter = _per_loop.get(loop)
    if limiter is None:
        limiter = _per_loop[loop] = ConnectLimiter(default_size())
    return limiter

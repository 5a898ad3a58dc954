"""The Toxiproxy stand-in's byte pipeline: links of toxic stubs, as Shopify/toxiproxy's link.go and toxics/.

A proxied connection has two links, upstream (client → server) and downstream
(server → client). Each link is a chain: a reader task puts timestamped chunks into
the first queue, one stub per toxic moves chunks from its input queue to its output
queue (a hidden noop first, as in Toxiproxy), and a writer task copies the last
queue to the destination socket. A chunk `None` is end of stream, and stays so
(like a closed Go channel), so a re-run stub sees it again.

Adding, updating or removing a toxic interrupts the affected stubs (a task
cancel) and rewires their queues live, like `ToxicLink.AddToxic/UpdateToxic/
RemoveToxic`; an interrupted toxic never drops the chunk it holds. Each toxic's
`pipe` is a line-by-line port of the Go toxic, quirks included (see the stand-in's
docstring in toxiproxy.py for the list of differences).

Why this cannot eat memory: queues do not block writers (so rewiring never
deadlocks), but the reader waits while a link holds more than `MAX_BUFFERED`
bytes, which is TCP back-pressure on the sender, as Go's channels give.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

READ_SIZE = 32 * 1024  # io.Copy's buffer
MAX_BUFFERED = 4 * 1024 * 1024
UPSTREAM, DOWNSTREAM = 0, 1
DIRECTIONS = ("upstream", "downstream")


@dataclass
class Chunk:
    data: bytes
    stamp: float  # time.monotonic() when read, moved along by latency toxics as in Go


class _Budget:
    """Bytes a link holds between its reader and its writer; the reader waits while it is over the limit."""

    def __init__(self, limit: int = MAX_BUFFERED) -> None:
        self.limit, self.held = limit, 0
        self._room = asyncio.Event()
        self._room.set()

    def add(self, n: int) -> None:
        self.held += n
        if self.held >= self.limit:
            self._room.clear()

    def remove(self, n: int) -> None:
        self.held -= n
        if self.held < self.limit:
            self._room.set()

    async def wait_room(self) -> None:
        await self._room.wait()


class ChunkQueue:
    """An unbounded queue of chunks with a sticky end-of-stream, counted against the link's budget."""

    def __init__(self, budget: _Budget) -> None:
        self._budget = budget
        self._items: deque[Chunk] = deque()
        self._eof = False
        self._sink = False
        self._ready = asyncio.Event()

    def put(self, chunk: Chunk | None) -> None:
        if self._sink:
            return
        if chunk is None:
            self._eof = True
        elif not self._eof:
            self._items.append(chunk)
            self._budget.add(len(chunk.data))
        self._ready.set()

    def ready(self) -> bool:
        return bool(self._items) or self._eof

    def take(self) -> Chunk | None:
        """The next chunk, or None at end of stream; only when ready()."""
        if self._items:
            chunk = self._items.popleft()
            self._budget.remove(len(chunk.data))
            return chunk
        return None

    async def get(self) -> Chunk | None:
        while not self.ready():
            self._ready.clear()
            await self._ready.wait()
        return self.take()

    def sink(self) -> None:
        """Nobody reads this queue any more: drop what it holds and whatever comes, so the reader never waits
        on a budget that cannot free up (it must go on reading to see its socket close)."""
        self._sink = True
        while self._items:
            self._budget.remove(len(self._items.popleft().data))


class Stub:
    """One toxic's place in a link: its input, its output, its running task and (for limit_data) its state."""

    def __init__(self, input: ChunkQueue, output: ChunkQueue) -> None:
        self.input, self.output = input, output
        self.state: Any = None
        self.closed = False
        self.killed = False  # the stand-in is stopping: even reset_peer's wait gives way
        self.task: asyncio.Task[None] | None = None

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.output.put(None)

    def run(self, toxic: Toxic, rng: random.Random) -> None:
        # Toxicity is rolled each time the stub (re)starts, as ToxicStub.Run does: once per connection, and
        # again whenever a change elsewhere in the chain interrupts this stub.
        chosen: Toxic = toxic if rng.random() < toxic.toxicity else NoopToxic()
        self.task = asyncio.get_running_loop().create_task(chosen.pipe(self, rng))

    async def interrupt(self) -> bool:
        """Stop the running toxic without losing data; False when the stub has already closed."""
        if self.closed or self.task is None:
            return False
        task, self.task = self.task, None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return not self.closed


async def _sleep_holding(seconds: float, stub: Stub, held: Chunk) -> None:
    """Sleep; when interrupted, pass on the chunk being held ("don't drop any data on the floor")."""
    try:
        await asyncio.sleep(max(0.0, seconds))
    except asyncio.CancelledError:
        stub.output.put(held)
        raise


@dataclass(eq=False)
class Toxic:
    """A toxic as the API shows it; subclasses add their `attributes` as int fields, in Go's field order."""

    name: str = ""
    stream: str = "downstream"
    toxicity: float = 1.0
    type: ClassVar[str] = ""
    go_struct: ClassVar[str] = ""
    go_types: ClassVar[dict[str, str]] = {}  # attribute -> Go type, for Go's decode error messages

    @property
    def direction(self) -> int:
        return DIRECTIONS.index(self.stream.lower())

    @classmethod
    def attribute_names(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.name not in ("name", "stream", "toxicity")]

    def attributes(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.attribute_names()}

    def to_json(self) -> dict[str, Any]:
        toxicity: float | int = int(self.toxicity) if float(self.toxicity).is_integer() else self.toxicity
        return {"attributes": self.attributes(), "name": self.name, "type": self.type, "stream": self.stream,
                "toxicity": toxicity}

    def new_state(self) -> Any:
        return None

    def cleanup(self, stub: Stub) -> None:
        """Called when the toxic is removed from a live link (only timeout has one: it closes the link)."""

    async def pipe(self, stub: Stub, rng: random.Random) -> None:
        raise NotImplementedError


@dataclass(eq=False)
class NoopToxic(Toxic):
    type: ClassVar[str] = "noop"
    go_struct: ClassVar[str] = "NoopToxic"

    async def pipe(self, stub: Stub, rng: random.Random) -> None:
        while True:
            chunk = await stub.input.get()
            if chunk is None:
                stub.close()
                return
            stub.output.put(chunk)


@dataclass(eq=False)
class LatencyToxic(Toxic):
    latency: int = 0
    jitter: int = 0
    type: ClassVar[str] = "latency"
    go_struct: ClassVar[str] = "LatencyToxic"
    go_types: ClassVar[dict[str, str]] = {"latency": "int64", "jitter": "int64"}

    def _delay(self, rng: random.Random) -> float:
        delay = self.latency
        if self.jitter > 0:
            delay += rng.randrange(self.jitter * 2) - self.jitter
        return delay / 1000.0

    async def pipe(self, stub: Stub, rng: random.Random) -> None:
        while True:
            chunk = await stub.input.get()
            if chunk is None:
                stub.close()
                return
            # Relative to when the chunk was read, so back-to-back chunks are not delayed twice.
            sleep = self._delay(rng) - (time.monotonic() - chunk.stamp)
            await _sleep_holding(sleep, stub, chunk)
            chunk.stamp += sleep
            stub.output.put(chunk)


@dataclass(eq=False)
class BandwidthToxic(Toxic):
    rate: int = 0
    type: ClassVar[str] = "bandwidth"
    go_struct: ClassVar[str] = "BandwidthToxic"
    go_types: ClassVar[dict[str, str]] = {"rate": "int64"}

    async def pipe(self, stub: Stub, rng: random.Random) -> None:
        sleep = 0.0
        while True:
            chunk = await stub.input.get()
            if chunk is None:
                stub.close()
                return
            # rate is KB/s: a chunk of n bytes is owed n / rate milliseconds; debt and credit carry over.
            sleep = 0.0 if self.rate <= 0 else sleep + len(chunk.data) / self.rate / 1000.0
            piece = self.rate * 100  # what 100 ms at this rate lets through
            while len(chunk.data) > piece:
                # Go slices big chunks into 100 ms pieces. With rate <= 0 its loop never advances (nothing
                # gets through until the toxic is removed); here the same: hold the chunk, tick, repeat.
                await _sleep_holding(0.1, stub, chunk)
                if piece > 0:
                    stub.output.put(Chunk(chunk.data[:piece], chunk.stamp))
                    chunk = Chunk(chunk.data[piece:], chunk.stamp)
                sleep -= 0.1
            start = time.monotonic()
            await _sleep_holding(sleep, stub, chunk)
            sleep -= time.monotonic() - start
            stub.output.put(chunk)


@dataclass(eq=False)
class SlowCloseToxic(Toxic):
    delay: int = 0
    type: ClassVar[str] = "slow_close"
    go_struct: ClassVar[str] = "SlowCloseToxic"
    go_types: ClassVar[dict[str, str]] = {"delay": "int64"}

    async def pipe(self, stub: Stub, rng: random.Random) -> None:
        while True:
            chunk = await stub.input.get()
            if chunk is None:
                await asyncio.sleep(self.delay / 1000.0)  # interrupted: return without closing, as Go does
                stub.close()
                return
            stub.output.put(chunk)


@dataclass(eq=False)
class TimeoutToxic(Toxic):
    timeout: int = 0
    type: ClassVar[str] = "timeout"
    go_struct: ClassVar[str] = "TimeoutToxic"
    go_types: ClassVar[dict[str, str]] = {"timeout": "int64"}

    async def pipe(self, stub: Stub, rng: random.Random) -> None:
        # Data is swallowed. With timeout > 0 the link closes `timeout` ms after the last chunk seen (Go makes
        # a new timer on every loop turn); with 0 it holds until the toxic is removed (see cleanup).
        while True:
            if self.timeout > 0:
                try:
                    chunk = await asyncio.wait_for(stub.input.get(), self.timeout / 1000.0)
                except TimeoutError:
                    stub.close()
                    return
            else:
                chunk = await stub.input.get()
            if chunk is None:
                stub.close()
                return

    def cleanup(self, stub: Stub) -> None:
        stub.close()


@dataclass(eq=False)
class ResetPeerToxic(Toxic):
    timeout: int = 0
    type: ClassVar[str] = "reset_peer"
    go_struct: ClassVar[str] = "ResetToxic"
    go_types: ClassVar[dict[str, str]] = {"timeout": "int64"}

    async def pipe(self, stub: Stub, rng: random.Random) -> None:
        await stub.input.get()  # the first chunk (or end of stream) starts the clock; its data is dropped
        # Go's wait here is not interruptible: removing the toxic meanwhile still resets the connection.
        deadline = time.monotonic() + self.timeout / 1000.0
        while True:
            try:
                await asyncio.sleep(max(0.0, deadline - time.monotonic()))
                break
            except asyncio.CancelledError:
                if stub.killed:
                    raise
                if time.monotonic() >= deadline:
                    break
        stub.close()


@dataclass(eq=False)
class SlicerToxic(Toxic):
    average_size: int = 0
    size_variation: int = 0
    delay: int = 0
    type: ClassVar[str] = "slicer"
    go_struct: ClassVar[str] = "SlicerToxic"
    go_types: ClassVar[dict[str, str]] = {"average_size": "int", "size_variation": "int", "delay": "int"}

    def _bounds(self, start: int, end: int, rng: random.Random) -> list[int]:
        """Go's SlicerToxic.chunk: split in halves (moved by up to ±size_variation) down to about average_size."""
        if (end - start) - self.average_size <= self.size_variation or end - start <= 1:
            return [start, end]
        mid = start + (end - start) // 2
        if self.size_variation > 0:
            mid += rng.randrange(self.size_variation * 2) - self.size_variation
        # Go panics (bad slice bounds) or recurses forever when mid leaves the piece; keep it inside instead.
        mid = min(max(mid, start + 1), end - 1)
        return self._bounds(start, mid, rng) + self._bounds(mid, end, rng)

    async def pipe(self, stub: Stub, rng: random.Random) -> None:
        while True:
            chunk = await stub.input.get()
            if chunk is None:
                stub.close()
                return
            bounds = self._bounds(0, len(chunk.data), rng)
            for i in range(1, len(bounds), 2):
                stub.output.put(Chunk(chunk.data[bounds[i - 1]:bounds[i]], chunk.stamp))
                await _sleep_holding(self.delay / 1_000_000.0, stub, Chunk(chunk.data[bounds[i]:], chunk.stamp))


@dataclass
class _LimitState:
    transmitted: int = 0


@dataclass(eq=False)
class LimitDataToxic(Toxic):
    bytes: int = 0
    type: ClassVar[str] = "limit_data"
    go_struct: ClassVar[str] = "LimitDataToxic"
    go_types: ClassVar[dict[str, str]] = {"bytes": "int64"}

    def new_state(self) -> Any:
        return _LimitState()

    async def pipe(self, stub: Stub, rng: random.Random) -> None:
        state: _LimitState = stub.state
        remaining = self.bytes - state.transmitted
        while True:
            chunk = await stub.input.get()
            if chunk is None:
                stub.close()
                return
            remaining = max(remaining, 0)
            if remaining < len(chunk.data):
                chunk = Chunk(chunk.data[:remaining], chunk.stamp)
            if chunk.data:
                stub.output.put(chunk)
                state.transmitted += len(chunk.data)
            remaining = self.bytes - state.transmitted
            if remaining <= 0:
                stub.close()
                return


TOXIC_TYPES: dict[str, type[Toxic]] = {cls.type: cls for cls in (
    NoopToxic, LatencyToxic, BandwidthToxic, SlowCloseToxic, TimeoutToxic, ResetPeerToxic, SlicerToxic,
    LimitDataToxic)}


@dataclass(eq=False)
class Connection:
    """One accepted client and its upstream; closed together, with RST when a reset_peer set SO_LINGER 0."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    linger_zero: bool = False
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def set_linger_zero(self) -> None:
        self.linger_zero = True
        for writer in (self.client, self.upstream):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def close(self, writer: asyncio.StreamWriter) -> None:
        # With SO_LINGER 0 a close sends RST and drops unsent data, as Go's Close does then; abort() closes the
        # socket at once instead of flushing asyncio's buffer first.
        if self.linger_zero:
            writer.transport.abort()
        else:
            writer.close()

    def close_all(self) -> None:
        for writer in (self.client, self.upstream):
            self.close(writer)


class Link:
    """One direction of a connection: reader → stubs (noop + toxics) → writer."""

    def __init__(self, direction: int, chain: list[Toxic], source: asyncio.StreamReader,
                 dest: asyncio.StreamWriter, conn: Connection, rng: random.Random,
                 on_done: Callable[[Link], None]) -> None:
        self.direction = direction
        self._source, self._dest, self._conn, self._rng = source, dest, conn, rng
        self._on_done = on_done
        self._budget = _Budget()
        self.stubs: list[Stub] = []
        first = ChunkQueue(self._budget)
        self._input = first
        for _ in chain:
            nxt = ChunkQueue(self._budget)
            self.stubs.append(Stub(first, nxt))
            first = nxt
        self._output = first
        self._chain = chain

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for stub, toxic in zip(self.stubs, self._chain, strict=True):
            stub.state = toxic.new_state()
            if isinstance(toxic, ResetPeerToxic):
                self._conn.set_linger_zero()  # only toxics present when the link starts do this, as in Go
            stub.run(toxic, self._rng)
        for coro in (self._read(), self._write()):
            task = loop.create_task(coro)
            self._conn.tasks.add(task)
            task.add_done_callback(self._conn.tasks.discard)

    async def _read(self) -> None:
        try:
            while True:
                await self._budget.wait_room()
                data = await self._source.read(READ_SIZE)
                if not data:
                    break
                self._input.put(Chunk(data, time.monotonic()))
        except (ConnectionError, OSError):
            pass
        finally:
            self._input.put(None)

    async def _write(self) -> None:
        try:
            while True:
                chunk = await self._output.get()
                if chunk is None:
                    break
                if chunk.data and not self._dest.is_closing():
                    self._dest.write(chunk.data)
                    await self._dest.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            # Go's link.write: dest.Close() when the chain ends, whatever ended it. The other link then reads
            # end-of-stream from this socket and closes its own destination: the connection goes as a whole.
            self._conn.close(self._dest)
            self._output.sink()
            self._on_done(self)

    async def stop(self) -> None:
        for stub in self.stubs:
            stub.killed = True
            if stub.task is not None:
                stub.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await stub.task

    async def add_toxic(self, toxic: Toxic) -> None:
        last = self.stubs[-1]
        new_input = ChunkQueue(self._budget)
        stub = Stub(new_input, last.output)
        self.stubs.append(stub)
        if await last.interrupt():
            last.output = new_input
            stub.state = toxic.new_state()
            stub.run(toxic, self._rng)
            last.run(self._chain[len(self.stubs) - 2], self._rng)
        else:
            # The link is closing already: close the new stub too, so nothing waits on it.
            stub.output = new_input
            stub.close()

    async def update_toxic(self, index: int, toxic: Toxic) -> None:
        stub = self.stubs[index]
        if await stub.interrupt():
            stub.run(toxic, self._rng)

    async def remove_toxic(self, index: int, toxic: Toxic) -> None:
        stub = self.stubs[index]
        if not await stub.interrupt():
            return
        toxic.cleanup(stub)
        if stub.closed:
            return  # timeout's cleanup closed the link
        prev = self.stubs[index - 1]
        await prev.interrupt()
        # Pass on what the removed toxic had not yet taken, in order, then splice it out.
        while stub.input.ready():
            item = stub.input.take()
            if item is None:
                stub.close()
                break
            stub.output.put(item)
        prev.output = stub.output
        del self.stubs[index]
        if not prev.closed:
            prev.run(self._chain[index - 1], self._rng)

    def set_chain(self, chain: list[Toxic]) -> None:
        """The collection's chain for this direction (one list, shared, so restarts pick up current toxics)."""
        self._chain = chain

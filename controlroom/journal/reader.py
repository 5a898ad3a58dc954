"""Journal reader: the whole file at once (replay, report, recover) or followed live (watch).

Every line is checked against the event vocabulary (`journal.events`, via
`journal.schema`). A line that is not an event of it — damaged bytes, a wrong
type, a missing field, a second `session-started` — is skipped with a located
warning `JOURNAL:LINE: why`, and the journal is marked damaged (`Journal.skipped`),
so a report says it is incomplete and `recover` refuses to act on it. A torn
*last* line is what a crash leaves: it is skipped with its own warning and is
not damage. A file that is not a controlroom journal at all is a JournalError.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import compress, pairwise, repeat
from operator import itemgetter, ne
from pathlib import Path
from typing import Any

from controlroom.errors import JournalError
from controlroom.journal.events import FORMAT, Event
from controlroom.journal.schema import MISSING, BadEvent, check_header, event_from_doc, samples_fast

_loads: Callable[[bytes], Any]
try:  # optional: orjson parses journal lines about twice as fast; the standard library is the fallback
    import orjson

    _loads = orjson.loads
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads

MAX_WARNINGS = 50  # warnings kept per journal; the rest are counted


@dataclass(slots=True)
class Samples:
    """A run of consecutive `metric-sample` events, as columns: what the report's fold takes in one call.

    Each is an event of the vocabulary exactly as `event_from_doc` makes it (`monos` floats, `values` its
    readings, `errors` its errors or None); `first_t` / `last_t` are the first and last one's `t`.
    Or, from the parallel reader, `columns` instead of `values` (then empty): each series' readings, one per
    sample, when every sample of the run has the same series (in the order the first sample has them).
    """

    monos: list[float]
    values: list[dict[str, Any]]
    errors: list[dict[str, str] | None]
    first_t: str
    last_t: str
    columns: dict[str, list[Any]] | None = None

    def rows(self) -> list[dict[str, Any]]:
        """`values`, made from `columns` when the run came as columns (tests and rare passes only: it costs)."""
        if self.columns is None:
            return self.values
        cols = self.columns
        return [dict(zip(cols, vals, strict=True)) for vals in zip(*cols.values(), strict=True)] if cols \
            else [{} for _ in self.monos]


Batch = Event | Samples  # what `iter_batches` yields: an event, or a run of samples (never a metric-sample Event)


def batches(events: Iterable[Event]) -> Iterator[Batch]:
    """Events with each run of consecutive metric samples gathered into one `Samples`: the batched form of any
    reader's events (`Journal.iter_batches`, the slow lines of `JournalStream`)."""
    run: list[Event] = []
    for ev in events:
        if ev.type == "metric-sample":
            run.append(ev)
            continue
        if run:
            yield _samples(run)
            run = []
        yield ev
    if run:
        yield _samples(run)


def _samples(run: list[Event]) -> Samples:
    return Samples([ev.mono for ev in run], [ev.data.get("values") or {} for ev in run],
                   [ev.data.get("errors") for ev in run], run[0].t, run[-1].t)


@dataclass
class Journal:
    path: Path
    header: dict[str, Any]
    events: list[Event]
    warnings: list[str] = field(default_factory=list)
    skipped: int = 0  # lines that were not events of the vocabulary (a torn last line is not counted)
    first_bad: str = ""  # the first such line's warning, for a one-line refusal

    @property
    def complete(self) -> bool:
        """The session ended: its last event is `session-ended`, or only hook records follow it."""
        return ended(ev.type for ev in reversed(self.events))

    @property
    def damaged(self) -> bool:
        return self.skipped > 0

    def iter_events(self) -> Iterator[Event]:
        """The events again, from the start (the report's rare second pass; `JournalStream` re-reads its file)."""
        return iter(self.events)

    def iter_batches(self) -> Iterator[Batch]:
        """The events with runs of samples gathered (`batches`), as `JournalStream.iter_batches` gives them."""
        return batches(self.events)


# Hook records may follow `session-ended`: the session's end gives pending deliveries a short grace
# (docs/hooks.md). They do not make a journal incomplete.
AFTER_END = frozenset({"hook-delivered", "hook-failed", "hook-dropped"})


def ended(types_backwards: Iterable[str]) -> bool:
    """Whether a journal whose event types these are, LAST FIRST, ended: the last one not a hook record is
    `session-ended`."""
    for t in types_backwards:
        if t not in AFTER_END:
            return t == "session-ended"
    return False


BLOCK = 1 << 20  # bytes read at a time by `JournalStream`: its memory, whatever the journal's size
PARALLEL_BLOCKS = 8  # a journal of fewer blocks is read in this process alone (starting workers costs more)
AHEAD = 6  # blocks handed to the workers ahead of the one being folded: the parallel reader's memory


class JournalStream:
    """A journal read as it is iterated, a block at a time, in bounded memory: the report of a journal of any size.

    Opening reads and checks the header (JournalError as `read_journal`); iterating yields every event checked
    against the vocabulary exactly as `read_journal` does (same skipped lines, warnings, torn last line), and
    fills `warnings`, `skipped` and `first_bad` on the first pass. `iter_events()` starts another pass.
    """

    def __init__(self, path: str | Path, workers: int = 0) -> None:
        self.path = Path(path)
        self.workers = workers  # processes that parse blocks of a large journal's first pass (0: none)
        try:
            with self.path.open("rb") as fh:
                first = fh.readline()
        except IsADirectoryError:
            raise JournalError(f"{self.path}: is a directory; give the journal file (*.jsonl)") from None
        except OSError as err:
            raise JournalError(f"{self.path}: cannot read journal: {err.strerror}") from None
        if not first.strip():
            raise JournalError(f"{self.path}:1: empty journal; nothing was recorded")
        self.header, self.warnings = _parse_header(self.path, first.rstrip(b"\n").decode("utf-8", errors="replace"))
        self._body = len(first)  # where the line after the header starts
        self.skipped = 0
        self.first_bad = ""
        self._passes = 0

    @property
    def damaged(self) -> bool:
        return self.skipped > 0

    def __iter__(self) -> Iterator[Event]:
        return self.iter_events()

    def iter_events(self) -> Iterator[Event]:
        first = self._passes == 0
        self._passes += 1
        return self._events(first)

    def iter_batches(self) -> Iterator[Batch]:
        """The events `iter_events` yields, each run of samples gathered into one `Samples` (`batches`): the
        report's pass. Same lines skipped, same warnings, same line numbers; only cheaper per sample."""
        first = self._passes == 0
        self._passes += 1
        return self._batches(first)

    def _blocks(self, start: int | None = None, lineno: int = 2) -> Iterator[tuple[int, list[bytes], bool]]:
        """(number of the first line, the whole lines, torn) a block at a time; last, the piece after the
        last newline alone, torn (empty when the journal ends with a newline: a blank line, skipped).
        From the line after the header, or from byte `start` (a line's start, that line numbered `lineno`)."""
        p = self.path
        try:
            fh = p.open("rb")
        except OSError as err:
            raise JournalError(f"{p}: cannot read journal: {err.strerror}") from None
        with fh:
            if start is None:
                fh.readline()  # the header, read at open
            else:
                fh.seek(start)
            rest = b""
            while True:
                block = fh.read(BLOCK)
                if not block:
                    yield lineno, [rest], True
                    return
                lines = (rest + block).split(b"\n")
                rest = lines.pop()
                yield lineno, lines, False
                lineno += len(lines)

    def _plan(self) -> list[int] | None:
        """Where to cut the journal for `_parallel_batches`: byte offsets c0 < c1 < ... < cn, the lines that start
        in [c_k, c_k+1) being block k; cn just after the last newline of the file as it is now, so that every
        line of every block is whole. None for a journal of fewer than PARALLEL_BLOCKS blocks."""
        try:
            size = self.path.stat().st_size
            with self.path.open("rb") as fh:
                base = max(self._body, size - BLOCK)
                fh.seek(base)
                tail = fh.read(size - base)
        except OSError as err:
            raise JournalError(f"{self.path}: cannot read journal: {err.strerror}") from None
        end = base + tail.rfind(b"\n") + 1
        if end <= base or end - self._body < PARALLEL_BLOCKS * BLOCK:
            return None
        return [*range(self._body, end, BLOCK), end]

    def _parallel_batches(self, cuts: list[int], rules: LineChecker) -> Iterator[Batch]:
        """The first pass with blocks parsed and checked in `workers` other processes, in journal order.

        Each block is parsed by `_parse_block` exactly as `_block_batches` parses it here, with one difference:
        a worker cannot know whether any event came before its block (the rule of one `session-started`,
        first), so it assumes one did, and says when that decided anything; such a block (every line before
        it damaged) is parsed again here. Its skipped lines come back numbered within the block and are
        counted here, in order, with their journal line numbers; so the warnings, counts and batches are the
        serial reader's. At most AHEAD blocks are in flight: memory stays bounded whatever the journal's size.
        The first block is parsed here while the workers start on the next ones; what follows the last cut (lines
        written since, the torn last piece) is read as the serial reader reads it. No workers to be had (no fork,
        no semaphores, no process left), or one that died: the blocks no worker parsed are parsed here.
        """
        from concurrent.futures import BrokenExecutor, Future

        skip = self._skip
        blocks = list(pairwise(cuts))
        pending: dict[int, Future[_Parsed]] = {}
        pool = _pool(self.workers)
        handed = 1  # blocks handed out so far (the first is parsed here)

        def ahead() -> None:
            nonlocal pool, handed
            while pool is not None and handed < len(blocks) and len(pending) < AHEAD:
                try:
                    pending[handed] = pool.submit(_parse_block, self.path, *blocks[handed])
                except (BrokenExecutor, OSError, RuntimeError):  # no process could be started
                    _drop(pool, pending)
                    pool = None
                    return
                handed += 1

        lineno = 2
        try:
            ahead()
            for k, r in enumerate(blocks):
                result: _Parsed | None = None
                future = pending.pop(k, None)
                if future is not None:
                    ahead()
                    try:
                        result = future.result()
                    except BrokenExecutor:  # a worker died (killed, out of memory): the rest is parsed here
                        if pool is not None:
                            _drop(pool, pending)
                        pool = None
                if result is None or (result[3] and not rules.seen_any):
                    # Parsed here: the first block (while the workers start), a block no worker parsed, or one
                    # whose worker assumed an event before it when none came.
                    lines = _read_range(self.path, *r, k == 0)
                    yield from _block_batches(lines, lineno, False, rules, skip)
                    lineno += len(lines)
                    continue
                n, items, bad, _ = result
                for i, why in bad:
                    skip(lineno + i, BadEvent(why), False)
                if items:
                    rules.saw()
                yield from items
                lineno += n
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        for start, block, torn in self._blocks(cuts[-1], lineno):
            yield from _block_batches(block, start, torn, rules, skip)

    def _skip(self, lineno: int, err: BadEvent, torn: bool) -> None:
        _skipped(self, self.path, lineno, err, torn)

    def _events(self, first_pass: bool) -> Iterator[Event]:
        rules = LineChecker()
        skip = self._skip if first_pass else _quiet
        for lineno, lines, torn in self._blocks():
            yield from _checked(lines, lineno, rules, skip, torn)

    def _batches(self, first_pass: bool) -> Iterator[Batch]:
        """A block's lines parsed in one call (`map` over the parser: each line still parsed alone, so no line
        can borrow from its neighbour), then the samples checked a run at a time (`schema.samples_fast`).
        Anything unusual — a line that does not parse, that is not an object with a type, a run the fast
        check does not vouch for — falls back to the line-by-line path for that block or run, which says
        where and why exactly as `iter_events` does. Only the torn last piece always goes line by line.
        With `workers` (the first pass of a large journal), blocks are parsed in other processes:
        `_parallel_batches`."""
        rules = LineChecker()
        if first_pass and self.workers > 0:
            plan = self._plan()
            if plan is not None:
                yield from self._parallel_batches(plan, rules)
                return
        skip = self._skip if first_pass else _quiet
        for lineno, lines, torn in self._blocks():
            yield from _block_batches(lines, lineno, torn, rules, skip)

SAMPLE = "metric-sample"
_TYPE = itemgetter("type")  # KeyError / TypeError for a line that is not an object with a type: line by line
_get: Callable[..., Any] = dict.get

Skip = Callable[[int, BadEvent, bool], None]  # where a line that is not an event goes: (line number, why, torn)


def _quiet(lineno: int, err: BadEvent, torn: bool) -> None:
    """A later pass over a journal: its skipped lines were counted by the first."""


def _checked(lines: list[bytes], lineno: int, rules: LineChecker, skip: Skip, torn: bool) -> Iterator[Event]:
    """Line by line: each parsed and checked on its own, a bad one skipped with its located warning."""
    for line in lines:
        try:
            ev = event_from_line(line)
            rules.check(ev)
        except BadEvent as err:
            if line.strip():
                skip(lineno, err, torn)
            lineno += 1
            continue
        lineno += 1
        yield ev


def _block_batches(lines: list[bytes], lineno: int, torn: bool, rules: LineChecker, skip: Skip) -> Iterator[Batch]:
    """One block's lines (the first numbered `lineno`) as `JournalStream.iter_batches` gives them."""
    if not torn:
        try:
            docs = list(map(_loads, lines))
            kinds = list(map(_TYPE, docs))
        except (ValueError, TypeError, KeyError, RecursionError):
            pass
        else:
            yield from _fast(docs, kinds, lineno, rules, skip)
            return
    yield from batches(_checked(lines, lineno, rules, skip, torn))


def _fast(docs: list[Any], kinds: list[Any], lineno: int, rules: LineChecker, skip: Skip) -> Iterator[Batch]:
    """A block whose every line parsed to an object with a `type` (`docs`, their `kinds`)."""
    n = len(docs)
    # Where the other events are (a few a block): found in C, not by a Python loop over every line.
    others = [] if kinds.count(SAMPLE) == n else list(compress(range(n), map(ne, kinds, repeat(SAMPLE))))
    others.append(n)
    a = 0
    for o in others:
        if o > a:  # samples a..o-1
            sub = docs[a:o]
            run: Samples | None = None
            # Columns of the run (a field missing reads as None, which the check refuses: line by line).
            ts: list[Any] = list(map(_get, sub, repeat("t")))
            values: list[Any] = list(map(_get, sub, repeat("values")))
            errors: list[Any] = list(map(_get, sub, repeat("errors"), repeat(MISSING)))
            floats = samples_fast(ts, list(map(_get, sub, repeat("mono"))), values, errors)
            if floats is not None:
                if MISSING in errors:
                    errors = [None if e is MISSING else e for e in errors]
                run = Samples(floats, values, errors, ts[0], ts[-1])
            if run is not None:
                rules.saw()
                yield run
            else:
                yield from batches(_from_docs(docs, a, o, lineno, rules, skip))
        if o < n:
            yield from _from_docs(docs, o, o + 1, lineno, rules, skip)
        a = o + 1


def _from_docs(docs: list[Any], a: int, b: int, lineno: int, rules: LineChecker, skip: Skip) -> Iterator[Event]:
    """docs[a:b], parsed lines of a block whose first is line `lineno`, checked one by one."""
    for k in range(a, b):
        try:
            ev = event_from_doc(docs[k])
            rules.check(ev)
        except BadEvent as err:
            skip(lineno + k, err, False)
            continue
        yield ev


async def _sleep(seconds: float) -> None:
    import asyncio  # here: the report's start-up does not pay for asyncio (only `follow` waits)

    await asyncio.sleep(seconds)


def _parse_header(path: Path, line: str) -> tuple[dict[str, Any], list[str]]:
    try:
        header = json.loads(line)
    except (ValueError, RecursionError):
        raise JournalError(f"{path}:1: not a controlroom journal (first line is not JSON)") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise JournalError(f"{path}:1: not a controlroom journal (no '{FORMAT}' header)")
    return header, [f"{path}:1: {why}" for why in check_header(header)]


def _parse_doc(line: bytes) -> Any:
    try:
        return _loads(line)
    except ValueError:
        # What orjson refuses but the writer can produce (NaN, huge ints) or a damaged byte: the standard
        # parser decides, on text with bad UTF-8 replaced, as the reader always did.
        return json.loads(line.decode("utf-8", errors="replace"))


def event_from_line(line: bytes) -> Event:
    """One journal line -> Event, checked against the vocabulary; BadEvent (a ValueError) says why it is not one."""
    try:
        doc = _parse_doc(line)
    except RecursionError:
        raise BadEvent("nested too deeply to be an event") from None
    except ValueError as err:
        raise BadEvent(f"not JSON ({str(err).split(':')[0]})") from None
    return event_from_doc(doc)


_event_from_line = event_from_line  # the name the replay used


class LineChecker:
    """The rules that span lines: one `session-started`, first. Shared by every reader."""

    def __init__(self) -> None:
        self.seen_any = False

    def check(self, ev: Event) -> None:
        if ev.type == "session-started" and self.seen_any:
            raise BadEvent("a second session-started (one journal holds one session)")
        self.seen_any = True

    def saw(self) -> None:
        """A run of samples passed (they are events: a session-started after them is a second one)."""
        self.seen_any = True


def read_lines(path: str | Path) -> tuple[Path, dict[str, Any], list[bytes], bool, list[str]]:
    """The file read whole and split into byte lines: (path, header, all lines, torn tail?, header warnings).

    Splitting bytes, not text: decoding a large journal up front costs as much as parsing it.
    Shared by `read_journal` and the replay, which parses lines lazily.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except IsADirectoryError:
        raise JournalError(f"{p}: is a directory; give the journal file (*.jsonl)") from None
    except OSError as err:
        raise JournalError(f"{p}: cannot read journal: {err.strerror}") from None
    lines = raw.split(b"\n")
    if not lines or not lines[0].strip():
        raise JournalError(f"{p}:1: empty journal; nothing was recorded")
    header, warnings = _parse_header(p, lines[0].decode("utf-8", errors="replace"))
    return p, header, lines, not raw.endswith(b"\n"), warnings


def read_journal(path: str | Path) -> Journal:
    p, header, lines, torn_tail, warnings = read_lines(path)
    events: list[Event] = []
    append = events.append
    last_index = len(lines)
    rules = LineChecker()
    journal = Journal(path=p, header=header, events=events, warnings=warnings)
    for i, line in enumerate(lines[1:], start=2):
        try:
            ev = event_from_line(line)
            rules.check(ev)
            append(ev)
        except BadEvent as err:
            if not line.strip():
                continue
            _skipped(journal, p, i, err, i == last_index and torn_tail)
    return journal


def _skipped(into: Journal | JournalStream, p: Path, lineno: int, err: BadEvent, torn: bool) -> None:
    """The account of a line that is not an event, the same from every reader: a torn last line is a warning,
    anything else damage (counted; the first MAX_WARNINGS located)."""
    if torn:
        into.warnings.append(f"{p}:{lineno}: skipped a torn last line (the session stopped mid-write)")
        return
    into.skipped += 1
    why = f"{p}:{lineno}: skipped: {err}"
    if not into.first_bad:
        into.first_bad = why
    if into.skipped <= MAX_WARNINGS:
        into.warnings.append(why)
    elif into.skipped == MAX_WARNINGS + 1:
        into.warnings.append(f"{p}: more damaged lines skipped (counted, not listed)")


async def follow(path: str | Path, *, poll: float = 0.1, stop_at_end: bool = True) -> AsyncIterator[Event | dict[str, Any]]:
    """Yield the header (a dict) then every event as it is appended, until session-ended.

    Reads only whole lines, so a line still being written is picked up on the next poll. A line that is
    not an event of the vocabulary is skipped; a `warning` event saying where and why takes its place,
    so a watcher sees that something was left out.
    """
    p = Path(path)
    buf = b""
    header_seen = False
    lineno = 0
    last_t, last_mono = "", 0.0
    rules = LineChecker()
    with p.open("rb") as fh:
        while True:
            chunk = fh.read(65536)
            if not chunk:
                await _sleep(poll)
                continue
            buf += chunk
            *complete, buf = buf.split(b"\n")
            for raw in complete:
                lineno += 1
                if not raw.strip():
                    continue
                if not header_seen:
                    header_seen = True
                    header, _ = _parse_header(p, raw.decode("utf-8", errors="replace"))
                    yield header
                    continue
                try:
                    ev = event_from_line(raw)
                    rules.check(ev)
                except BadEvent as err:
                    yield Event("warning", last_t, last_mono, {"message": f"{p}:{lineno}: skipped: {err}"})
                    continue
                last_t, last_mono = ev.t, ev.mono
                yield ev
                if stop_at_end and ev.type == "session-ended":
                    return


_Parsed = tuple[int, list[Batch], list[tuple[int, str]], bool]  # lines, batches, skipped (number in block, why), assumed


def _pool(workers: int) -> Any:
    """A pool of forked workers (they start with this process's modules loaded: no second start-up of the
    package), or None where there can be none (no fork on this platform, no working semaphores)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    try:
        return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    except (ValueError, OSError, ImportError, NotImplementedError):
        return None


def _drop(pool: Any, pending: dict[int, Any]) -> None:
    """A pool that broke: its blocks still pending are parsed in this process instead."""
    pool.shutdown(wait=False, cancel_futures=True)
    pending.clear()


def _read_range(path: Path, start: int, end: int, at_line_start: bool) -> list[bytes]:
    """The whole lines of the journal that start in bytes [start, end), each without its newline. `end` is
    just after a newline, so the last of them ends by then; `start`, unless `at_line_start`, may fall inside
    a line, which then belongs to the block before."""
    try:
        with path.open("rb") as fh:
            if at_line_start:
                fh.seek(start)
            else:
                fh.seek(start - 1)
                if fh.read(1) != b"\n":
                    fh.readline()  # the rest of a line that started in the block before
            pos = fh.tell()
            if pos >= end:
                return []
            data = fh.read(end - pos)
            last = b"" if data.endswith(b"\n") else fh.readline()  # the last line that starts in the block
            short = len(data) < end - pos
    except OSError as err:
        raise JournalError(f"{path}: cannot read journal: {err.strerror}") from None
    lines = data.split(b"\n")
    tail = lines.pop() + last  # the piece after the last newline read, to its line's end (not the whole block copied)
    if short or (tail and not tail.endswith(b"\n")):
        raise JournalError(f"{path}: the journal became shorter while it was read; report it again")
    if tail:
        lines.append(tail[:-1])
    return lines


class _Assuming(LineChecker):
    """The rules in a worker, which cannot know whether an event came before its block: one did, it assumes,
    and `assumed` says whether that decided anything (a `session-started` before any other event of the block)."""

    def __init__(self) -> None:
        self.seen_any = True
        self.assumed = False
        self._own = False

    def check(self, ev: Event) -> None:
        if not self._own and ev.type == "session-started":
            self.assumed = True
        self._own = True
        super().check(ev)

    def saw(self) -> None:
        self._own = True


def _parse_block(path: Path, start: int, end: int) -> _Parsed:
    """In a worker process: block [start, end) as `_block_batches` gives it, its skipped lines numbered from
    0 within the block (the parent knows where the block starts). Sent back pickled: the batches' values
    as they are (an int stays an int, a null a null)."""
    lines = _read_range(path, start, end, False)
    rules = _Assuming()
    bad: list[tuple[int, str]] = []
    items = list(map(_as_columns, _block_batches(lines, 0, False, rules, lambda k, err, torn: bad.append((k, str(err))))))
    return len(lines), items, bad, rules.assumed


def _as_columns(item: Batch) -> Batch:
    """A run of samples sent as columns when every sample has the same series (a float each, not a dict a
    sample, to pickle and unpickle: the parent's cost)."""
    if not isinstance(item, Samples):
        return item
    values = item.values
    first = values[0]
    k = len(first)
    if set(map(len, values)) != {k} or len(set().union(*values)) != k:
        return item  # samples with different series: as rows
    cols = {name: list(map(itemgetter(name), values)) for name in first}
    # No errors at all (the common case): Nones, which cost nothing to send, instead of an empty object each
    # (the fold reads a sample's errors only when there are some).
    errors: list[dict[str, str] | None] = item.errors if any(item.errors) else [None] * len(values)
    return Samples(item.monos, [], errors, item.first_t, item.last_t, cols)

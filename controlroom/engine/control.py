"""The control socket beside a running session, and the registry `status` and `stop` read.

A running session registers itself in its private runtime directory
(`<id>.json`: pid, process start time, journal, socket) and listens on
`<id>.sock`. `controlroom stop` connects and sends `stop`; the session runs its
one rollback path and answers with the verdict.

What makes an answer trustworthy: the directory is ours and 0700
(`paths.private_dir`), the socket 0600, and the client checks with
SO_PEERCRED that the process answering is ours and is the registered pid. When
the socket does not answer (a dead socket, a hung loop, an impostor), `stop`
falls back to SIGTERM — the session's same one rollback path — but only to a
pid that is still the recorded process (start time), ours, and a controlroom
session; the verdict then comes from the journal, never from a guess.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from controlroom.engine.liveness import same_process, signalable, start_time
from controlroom.engine.recover import unverified_faults
from controlroom.engine.registry import journal_ended, running_sessions
from controlroom.errors import ControlroomError
from controlroom.journal.reader import read_journal
from controlroom.paths import private_sessions_dir
from controlroom.safefile import write_atomically

MAX_LINE = 256  # the longest command a client may send; anything longer is answered and closed
READ_TIMEOUT = 5.0
CONNECT_TIMEOUT = 3.0


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a connected unix socket (SO_PEERCRED)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return pid, uid, gid


_TTY_RE = re.compile(r"[A-Za-z0-9/._-]{1,64}")


def _user_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (KeyError, ImportError):
        return f"uid {uid}"


def _who_stops(sock: Any, said: str) -> str:
    """Who sent `stop`, for the journal: the user from SO_PEERCRED (checked by the kernel), the terminal the
    client says it runs on (informational: only the same user can connect), and the client's pid."""
    pid = uid = None
    if sock is not None:
        with contextlib.suppress(OSError):
            pid, uid, _ = peer_credentials(sock)
    tty = None
    with contextlib.suppress(ValueError, AttributeError):
        doc = json.loads(said) if said else {}
        candidate = doc.get("tty") if isinstance(doc, dict) else None
        if isinstance(candidate, str) and _TTY_RE.fullmatch(candidate):
            tty = candidate
    who = _user_name(uid) if uid is not None else "someone"
    where = f" on {tty}" if tty else " (no terminal)"
    return f"{who}{where} (controlroom stop, pid {pid})" if pid is not None else f"{who}{where} (controlroom stop)"


def client_terminal() -> str | None:
    """The terminal `controlroom stop` runs on, if any, for the session's journal."""
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            if os.isatty(fd):
                return os.ttyname(fd)
    return None


MAX_SOCKET_PATH = 107  # sun_path is 108 bytes with its terminating NUL


class ControlServer:
    """The session's control socket and registry entry. It knows the session only by what it answers with:
    `stop(by)` runs the one rollback path and returns the targets left unconfirmed; `state()` the current state."""

    def __init__(self, session_id: str, scenario: str, journal: Path, *,
                 stop: Callable[[str], Awaitable[Sequence[str]]], state: Callable[[], str]) -> None:
        self.session_id = session_id
        self.scenario = scenario
        self.journal = journal
        self._stop = stop
        self._state = state
        self._server: asyncio.AbstractServer | None = None
        self.path: Path | None = None
        self.registry: Path | None = None

    def prepare(self) -> None:
        """Claim the private sessions directory; raises UnsafePathError before anything is journaled or injected."""
        d = private_sessions_dir()
        assert d is not None
        path = d / f"{self.session_id}.sock"
        if len(os.fsencode(path)) > MAX_SOCKET_PATH:
            # The kernel takes at most 107 bytes for a unix socket's path; found failing only once the session
            # had started (an internal error and a traceback). Said now, before anything is journaled.
            raise ControlroomError(f"{d}: the runtime directory's path is too long for the control socket "
                                   f"({len(os.fsencode(path))} bytes, at most {MAX_SOCKET_PATH}); set "
                                   "CONTROLROOM_RUNTIME_DIR (or XDG_RUNTIME_DIR) to a shorter directory")
        self.path = path
        self.registry = d / f"{self.session_id}.json"

    async def start(self) -> None:
        if self.path is None:
            self.prepare()
        assert self.path is not None and self.registry is not None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # our own directory: only a stale socket of ours can be there
        self._server = await asyncio.start_unix_server(self._handle, path=str(self.path), limit=MAX_LINE)
        os.chmod(self.path, 0o600)
        pid = os.getpid()
        doc = {"session": self.session_id, "pid": pid, "pid_start": start_time(pid), "uid": os.getuid(),
               "scenario": self.scenario, "journal": str(self.journal.resolve()), "socket": str(self.path)}
        write_atomically(self.registry, json.dumps(doc), mode=0o600)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One command per connection. Whatever arrives — binary, an endless line, nothing, a second `stop` —
        is answered or the connection closed; never an exception on the session's output."""
        try:
            sock = writer.get_extra_info("socket")
            if sock is not None and peer_credentials(sock)[1] not in (os.getuid(), 0):
                return  # the socket is 0600 in a 0700 directory; a stranger here is refused without a word
            try:
                raw = await asyncio.wait_for(reader.readuntil(b"\n"), timeout=READ_TIMEOUT)
            except asyncio.IncompleteReadError as partial:
                raw = partial.partial  # a command without its newline, then EOF: read it anyway
            except asyncio.LimitOverrunError:
                writer.write(b"line too long\n")
                await writer.drain()
                return
            line = raw.decode("utf-8", errors="replace").strip()
            command, _, rest = line.partition(" ")
            if command == "stop":
                writer.write(b"stopping\n")
                await writer.drain()
                unconfirmed = list(await self._stop(_who_stops(sock, rest)))
                verdict = {"clean": not unconfirmed, "unconfirmed": unconfirmed}
                writer.write((json.dumps(verdict) + "\n").encode())
            elif line == "status":
                writer.write((json.dumps({"state": self._state()}) + "\n").encode())
            else:
                writer.write(b"unknown command\n")
            await writer.drain()
        except (TimeoutError, ConnectionError, OSError, ValueError):
            pass  # a client that went away or sent garbage: nothing to tell anyone
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        for p in (self.path, self.registry):
            if p is not None:
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()


class NoAnswer(Exception):
    """The control socket did not give a trustworthy answer; the message says why."""


async def ask(sock: str, command: str, timeout: float, *, pid: int | None = None,
               connect_timeout: float = CONNECT_TIMEOUT) -> list[str]:
    """Send one command and read the answer lines, after checking who answers (SO_PEERCRED).

    Raises NoAnswer when the socket cannot be reached in `connect_timeout`, or is served by a process
    that is not ours (or not `pid`, the registered session); its answer is then never read.
    """
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(sock, limit=1 << 16),
                                                timeout=connect_timeout)
    except (OSError, TimeoutError) as err:
        raise NoAnswer(f"cannot connect: {getattr(err, 'strerror', None) or type(err).__name__}") from None
    try:
        peer_pid, peer_uid, _ = peer_credentials(writer.get_extra_info("socket"))
        if peer_uid != os.getuid():
            raise NoAnswer(f"the socket is served by uid {peer_uid}, not by you (uid {os.getuid()}); its answer "
                           "is not trusted")
        if pid is not None and peer_pid != pid:
            raise NoAnswer(f"the socket is served by pid {peer_pid}, not by the session's pid {pid}")
        writer.write((command + "\n").encode())
        await writer.drain()
        lines: list[str] = []
        while True:
            # The first line comes at once from a live session ("stopping"); a hung one gets no minute's grace.
            wait = min(timeout, READ_TIMEOUT) if not lines else timeout
            line = await asyncio.wait_for(reader.readline(), timeout=wait)
            if not line:
                break
            lines.append(line.decode("utf-8", errors="replace").strip())
        return lines
    except (OSError, TimeoutError, ValueError) as err:
        raise NoAnswer(f"no answer ({type(err).__name__}: {err})") from None
    finally:
        writer.close()


def pick_session(session_id: str | None, verb: str = "stop") -> dict[str, Any]:
    sessions = running_sessions()
    live = [s for s in sessions if s["alive"]]
    if session_id:
        for s in live:
            if s["session"].startswith(session_id):
                return s
        for s in sessions:
            if s["session"].startswith(session_id):
                raise ControlroomError(f"session {s['session']} is not running (pid {s['pid']} ended or now belongs "
                                       f"to another program); if it crashed, run: controlroom recover {s['journal']}")
        raise ControlroomError(f"no running session {session_id!r}; `controlroom status` lists them")
    if not live:
        raise ControlroomError("no running session on this machine; `controlroom status` lists them")
    if len(live) > 1:
        ids = ", ".join(f"{s['session']} ({s.get('scenario', '?')}, pid {s['pid']})" for s in live)
        raise ControlroomError(f"{len(live)} sessions are running: {ids}; say which: controlroom {verb} SESSION")
    return live[0]


async def _stop_via_socket(s: dict[str, Any], timeout: float, connect_timeout: float) -> dict[str, Any]:
    who = json.dumps({"tty": client_terminal()}, separators=(",", ":"))
    lines = await ask(s["socket"], f"stop {who}", timeout, pid=s["pid"], connect_timeout=connect_timeout)
    if not lines or lines[0] != "stopping":
        raise NoAnswer(f"unexpected answer {lines[:1]!r}")
    try:
        verdict = json.loads(lines[-1])
    except ValueError:
        raise NoAnswer("the session stopped answering before its verdict") from None
    if not isinstance(verdict, dict) or not isinstance(verdict.get("clean"), bool):
        raise NoAnswer(f"unexpected verdict {lines[-1][:80]!r}")
    return {"clean": verdict["clean"], "unconfirmed": [str(u) for u in verdict.get("unconfirmed") or []]}


def journal_verdict(journal: str | Path) -> dict[str, Any]:
    """What the journal says after a stop: clean only if it recorded the session's end and every announced
    fault verified gone."""
    j = read_journal(journal)
    if not j.complete:
        return {"clean": False, "unconfirmed": [], "ended": False}
    left = unverified_faults(j.events)
    unconfirmed = set(j.events[-1].data.get("unconfirmed") or []) | {str(d.get("target")) for d in left.values()}
    return {"clean": not unconfirmed, "unconfirmed": sorted(unconfirmed), "ended": True}


def _stop_via_signal(s: dict[str, Any], why: str, timeout: float) -> dict[str, Any]:
    if not same_process(s.get("pid"), s.get("pid_start")):
        # It ended while we asked (or crashed mid-stop): the journal says what it managed to do.
        verdict = journal_verdict(s["journal"])
        if not verdict["ended"]:
            verdict["detail"] = f"it ended without recording its end; run: controlroom recover {s['journal']}"
        return {**verdict, "via": "gone", "why": why}
    refused = signalable(s.get("pid"), s.get("pid_start"))
    if refused:
        raise ControlroomError(f"session {s['session']}: control socket not answering ({why}) and {refused}: not "
                               f"signalling it; if it crashed, run: controlroom recover {s['journal']}")
    pid = int(s["pid"])
    os.kill(pid, signal.SIGTERM)  # the session's own handler runs the one rollback path
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if journal_ended(s["journal"]) or not same_process(pid, s.get("pid_start")):
            break
        time.sleep(0.1)
    verdict = journal_verdict(s["journal"])
    if not verdict["ended"]:
        alive = same_process(pid, s.get("pid_start"))
        verdict["detail"] = (f"it has not recorded its end within {timeout:g}s" if alive
                             else "it ended without recording its end") + \
            f"; run: controlroom recover {s['journal']}"
    return {**verdict, "via": "signal", "why": why}


def stop_session(session_id: str | None, timeout: float = 60.0,
                 connect_timeout: float = CONNECT_TIMEOUT) -> dict[str, Any]:
    s = pick_session(session_id)
    try:
        verdict = {**asyncio.run(_stop_via_socket(s, timeout, connect_timeout)), "via": "socket"}
    except NoAnswer as why:
        verdict = _stop_via_signal(s, str(why), timeout)
    return {"session": s["session"], "pid": s["pid"], "journal": s["journal"], **verdict}

"""The control socket beside a running session, and the registry `status` and `stop` read.

A running session registers itself under the runtime dir (`<id>.json`) and
listens on `<id>.sock`. `controlroom stop` connects and sends `stop`; the
session runs its one rollback path and answers with the verdict.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from typing import TYPE_CHECKING, Any

from controlroom.errors import ControlroomError
from controlroom.paths import sessions_dir

if TYPE_CHECKING:
    from controlroom.engine.session import Session


class ControlServer:
    def __init__(self, session: Session) -> None:
        self.session = session
        d = sessions_dir()
        self.path = d / f"{session.session_id}.sock"
        self.registry = d / f"{session.session_id}.json"
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._server = await asyncio.start_unix_server(self._handle, path=str(self.path))
        os.chmod(self.path, 0o600)
        s = self.session
        doc = {"session": s.session_id, "pid": os.getpid(), "scenario": s.scenario.name,
               "journal": str(s.journal_path.resolve()), "socket": str(self.path)}
        self.registry.write_text(json.dumps(doc))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = (await asyncio.wait_for(reader.readline(), timeout=5)).decode().strip()
            if line == "stop":
                writer.write(b"stopping\n")
                await writer.drain()
                await self.session.emergency_stop("control", "controlroom stop")
                unconfirmed = self.session.rollback.unconfirmed
                verdict = {"clean": not unconfirmed, "unconfirmed": list(unconfirmed)}
                writer.write((json.dumps(verdict) + "\n").encode())
            elif line == "status":
                writer.write((json.dumps({"state": self.session.state}) + "\n").encode())
            else:
                writer.write(b"unknown command\n")
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        for p in (self.path, self.registry):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_sessions() -> list[dict[str, Any]]:
    """Registered sessions; `alive` False means the process is gone (crashed: use `recover`)."""
    out = []
    d = sessions_dir()
    if not d.is_dir():
        return []
    for f in sorted(d.glob("*.json")):
        try:
            doc = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        doc["alive"] = _pid_alive(int(doc.get("pid", 0)))
        out.append(doc)
    return out


async def _ask(sock: str, command: str, timeout: float) -> list[str]:
    reader, writer = await asyncio.open_unix_connection(sock)
    writer.write((command + "\n").encode())
    await writer.drain()
    lines = []
    try:
        while True:
            line = await asyncio.wait_for(reader.readline(), timeout=timeout)
            if not line:
                break
            lines.append(line.decode().strip())
    finally:
        writer.close()
    return lines


def pick_session(session_id: str | None) -> dict[str, Any]:
    live = [s for s in running_sessions() if s["alive"]]
    if session_id:
        for s in live:
            if s["session"].startswith(session_id):
                return s
        raise ControlroomError(f"no running session {session_id!r}; `controlroom status` lists them")
    if not live:
        raise ControlroomError("no running session on this machine; `controlroom status` lists them")
    if len(live) > 1:
        ids = ", ".join(s["session"] for s in live)
        raise ControlroomError(f"{len(live)} sessions are running ({ids}); say which: controlroom stop SESSION")
    return live[0]


def stop_session(session_id: str | None, timeout: float = 60.0) -> dict[str, Any]:
    s = pick_session(session_id)
    try:
        lines = asyncio.run(_ask(s["socket"], "stop", timeout))
    except (OSError, TimeoutError) as err:
        raise ControlroomError(f"session {s['session']}: control socket not answering ({err}); "
                               f"if it crashed, run: controlroom recover {s['journal']}") from None
    verdict = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {"clean": False, "unconfirmed": []}
    return {"session": s["session"], **verdict}

"""`controlroom serve`: the room's read-only panes in a browser, for participants outside the tmux session.

textual-serve gives the page (xterm.js and its fonts, bundled: it renders offline) and the protocol to an app
process. Each browser connection starts a NEW process running `controlroom watch`'s read-only follower
(`controlroom.app.spectator`) on the session's journal, never the facilitator's room: that follower reads the
journal and has no controls and no control socket, so nothing typed or clicked in the page reaches the session.

Every spectator runs in a process group of its own, and ends with the server: on SIGINT, SIGTERM or SIGHUP the
server ends every group (SIGTERM, then SIGKILL after a second) before it exits; a spectator also dies with the
server if the server is killed outright (PR_SET_PDEATHSIG, set by the spectator itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from string import Template

import textual_serve
from aiohttp import WSMsgType, web
from textual_serve.app_service import AppService
from textual_serve.download_manager import DownloadManager

from controlroom.errors import ServeError
from controlroom.spectators import (
    UNAUTHENTICATED,
    bind_warning,
    end_group,
    kill_group_now,
    loopback_only,
    refusal,
    renice,
)

STATIC = Path(textual_serve.__file__).parent / "static"  # xterm.js, its CSS and fonts: the page needs no network
QUIT_GRACE = 1.0  # seconds a view gets to quit by itself when its page closes, before its group is ended
Say = Callable[[str], None]


class SpectatorService(AppService):
    """One spectator: the read-only follower in a process group of its own, ended whatever it does."""

    def __init__(self, journal: str, *, spawned: list[asyncio.subprocess.Process],
                 write_bytes: Callable[[bytes], Awaitable[None]], write_str: Callable[[str], Awaitable[None]],
                 close: Callable[[], Awaitable[None]]) -> None:
        super().__init__(f"controlroom watch {journal}", write_bytes=write_bytes, write_str=write_str, close=close,
                         download_manager=DownloadManager())
        self.journal = journal
        self._spawned = spawned

    async def _open_app_process(self, width: int = 80, height: int = 24) -> asyncio.subprocess.Process:
        # exec, not a shell: the journal path is one argument, never parsed. start_new_session: the view leads a
        # process group (and session) of its own, which the server ends as a whole.
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "controlroom.app.spectator", "--server-pid", str(os.getpid()), self.journal,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=self._build_environment(width=width, height=height), start_new_session=True,
        )
        self._spawned.append(process)
        renice(process.pid)
        assert process.stdin is not None
        self._process, self._stdin = process, process.stdin
        return process

    async def run(self) -> None:
        """Relay the view until it ends, then close its page (a view that ended without saying so — killed,
        crashed — would otherwise leave a frozen page that looks live)."""
        await super().run()
        with contextlib.suppress(Exception):
            await self.remote_close()

    async def stop(self) -> None:
        """Ask the view to quit; end its process group after QUIT_GRACE whatever it did; wait for its relay."""
        process = self._process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.send_meta({"type": "quit"}), QUIT_GRACE)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(process.wait()), QUIT_GRACE)
        await end_group(process)
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(task, 5.0)  # its pipes are closed: it ends


PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<title>$title</title>
<link rel="stylesheet" href="/static/css/xterm.css">
<script src="/static/js/textual.js"></script>
<style>
@font-face { font-family: "Roboto Mono"; font-style: normal; font-weight: 100 700;
             src: url("/static/fonts/RobotoMono-VariableFont_wght.ttf") format("truetype"); }
@font-face { font-family: "Roboto Mono"; font-style: italic; font-weight: 100 700;
             src: url("/static/fonts/RobotoMono-Italic-VariableFont_wght.ttf") format("truetype"); }
body { background: #0c181f; margin: 0; }
.dialog { position: absolute; inset: 0; display: flex; align-items: center; justify-content: center; z-index: 10;
          background: #0c181f; }
.dialog div { max-width: 44em; padding: 2em; background: #12232d; color: rgba(255, 255, 255, 0.95);
              font: 16px "Roboto Mono", menlo, monospace; text-align: center; line-height: 1.5; }
.dialog button { margin-top: 1em; padding: 0.8em 2em; border: none; background: #5e0ba7; color: #fff;
                 font: inherit; cursor: pointer; }
body.-first-byte .opening, .closed { display: none; }
body.-closed .closed { display: flex; }
.textual-terminal { opacity: 0; }
body.-first-byte .textual-terminal { opacity: 1; }
</style>
</head>
<body>
<div class="dialog opening"><div>controlroom: $scenario<br>spectator view, read-only: opening…</div></div>
<div class="dialog closed"><div>This view has closed (q, or the server stopped).<br>Closing it did nothing to the
session: this page only ever shows it.<br><button type="button" onclick="location.reload()">Open again</button>
</div></div>
<div id="terminal" class="textual-terminal" data-session-websocket-url="$websocket" data-font-size="$font_size"></div>
</body>
</html>
""")


def _int(text: str | None, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(text or default)))
    except ValueError:
        return default


class SpectatorServer:
    """The page, its websocket and the spectators it started; `serve()` until SIGINT, SIGTERM or SIGHUP."""

    def __init__(self, journal: str, scenario: str, *, host: str, port: int, max_viewers: int, say: Say) -> None:
        self.journal, self.scenario = journal, scenario
        self.host, self.port, self.max_viewers = host, port, max_viewers
        self.loopback = loopback_only(host)
        self.say = say
        self.viewers: set[SpectatorService] = set()
        self.spawned: list[asyncio.subprocess.Process] = []  # every view ever started: the last sweep ends them
        self.closing = False

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        app.add_routes([web.get("/", self._page), web.get("/ws", self._websocket),
                        web.static("/static", STATIC)])
        return app

    @web.middleware
    async def _guard(self, request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        why = refusal(request.headers.get("Host"), request.headers.get("Origin"), loopback=self.loopback,
                      websocket=request.path == "/ws")
        if why:
            self.say(f"refused {request.remote}: {why}")
            raise web.HTTPForbidden(text=f"controlroom serve: {why}\n")
        return await handler(request)

    async def _page(self, request: web.Request) -> web.Response:
        scheme = "wss" if request.secure else "ws"
        body = PAGE.substitute(
            title=html.escape(f"controlroom: {self.scenario} (spectator, read-only)"),
            scenario=html.escape(self.scenario),
            websocket=html.escape(f"{scheme}://{request.host}/ws", quote=True),
            font_size=_int(request.query.get("fontsize"), 16, 6, 48),
        )
        return web.Response(text=body, content_type="text/html", headers={"Cache-Control": "no-store"})

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if self.closing:
            raise web.HTTPServiceUnavailable(text="controlroom serve: stopping\n")
        if len(self.viewers) >= self.max_viewers:
            self.say(f"spectator from {request.remote} turned away: {len(self.viewers)} already watching "
                     "(--max-viewers)")
            raise web.HTTPServiceUnavailable(text="controlroom serve: too many spectators; try again later\n")
        ws = web.WebSocketResponse(heartbeat=15)
        await ws.prepare(request)
        async def close() -> None:
            await ws.close()

        view = SpectatorService(self.journal, spawned=self.spawned, write_bytes=ws.send_bytes,
                                write_str=ws.send_str, close=close)
        self.viewers.add(view)
        self.say(f"spectator from {request.remote} joined ({len(self.viewers)} watching)")
        try:
            await view.start(_int(request.query.get("width"), 80, 20, 500),
                             _int(request.query.get("height"), 24, 10, 300))
            await self._relay(ws, view)
        finally:
            await view.stop()
            self.viewers.discard(view)
            self.say(f"spectator from {request.remote} left ({len(self.viewers)} watching)")
        return ws

    @staticmethod
    async def _relay(ws: web.WebSocketResponse, view: SpectatorService) -> None:
        """The page's messages to its view: keys and the mouse (the view is read-only), size, focus, ping."""
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                kind, *rest = message.json()
            except (ValueError, TypeError):
                continue
            data = rest[0] if rest else None
            if kind == "stdin" and isinstance(data, str):
                await view.send_bytes(data.encode("utf-8"))
            elif kind == "resize" and isinstance(data, dict):
                await view.set_terminal_size(_int(str(data.get("width")), 80, 20, 500),
                                             _int(str(data.get("height")), 24, 10, 300))
            elif kind == "ping":
                await ws.send_json(["pong", data])
            elif kind == "blur":
                await view.blur()
            elif kind == "focus":
                await view.focus()

    async def _end_all(self) -> None:
        """Every spectator's process group ended (concurrently: one second for them all, not one each)."""
        self.closing = True
        await asyncio.gather(*(end_group(p) for p in self.spawned if p.returncode is None),
                             return_exceptions=True)

    async def serve(self) -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, stop.set)
        runner = web.AppRunner(self.make_app(), handle_signals=False, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        try:
            try:
                await web.TCPSite(runner, self.host, self.port).start()
            except OSError as err:
                raise ServeError(f"cannot listen on {self.host}:{self.port}: {err.strerror or err}; "
                                 "pick another with --port (0: any free port)") from None
            for address in runner.addresses:
                host, port = address[0], address[1]
                self.say(f"serving http://{f'[{host}]' if ':' in host else host}:{port}/  "
                         f"(spectators of {self.scenario}, read-only; journal {self.journal})")
            if not self.loopback:
                self.say(f"open to the network: {UNAUTHENTICATED}")
            self.say("stop with Ctrl+C (or SIGTERM): every spectator's view ends with the server")
            await stop.wait()
            self.say("stopping: ending every spectator's view")
            await self._end_all()
        finally:
            self.closing = True
            try:
                await runner.cleanup()
            finally:
                for process in self.spawned:  # whatever happened above, no view outlives the server
                    kill_group_now(process)
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                    loop.remove_signal_handler(sig)
        return 0


def run_serve(journal: str, *, host: str, port: int, max_viewers: int) -> int:
    """`controlroom serve`: listen until stopped; 0 after a stop by signal."""
    from controlroom.journal.reader import read_journal

    j = read_journal(journal)  # a missing or foreign file fails here, in one line
    scenario = str(j.header.get("scenario") or Path(journal).name)
    if not 0 <= port <= 65535:  # the socket layer would raise OverflowError, a traceback, not an OSError
        raise ServeError(f"--port {port}: a port is 0-65535 (0: any free port)")
    if max_viewers < 1:
        raise ServeError(f"--max-viewers {max_viewers}: at least 1")
    warning = bind_warning(host, port)
    if warning:
        print(warning, file=sys.stderr, flush=True)

    def say(line: str) -> None:
        print(f"controlroom serve: {line}", flush=True)

    server = SpectatorServer(str(journal), scenario, host=host, port=port, max_viewers=max_viewers, say=say)
    return asyncio.run(server.serve())

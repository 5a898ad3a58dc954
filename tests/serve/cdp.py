"""A real headless Chromium, driven over the DevTools protocol (CDP) from synchronous test code.

Playwright is not available offline; this speaks CDP over the browser's websocket (aiohttp, already a dependency
of textual-serve) on a private event loop thread, so tests read like the tmux ones: open, wait_for, key, click.

The spectator page draws the terminal with xterm.js on a canvas (WebGL), so its text is not in the DOM. To read
what the page shows, `open` rewrites one expression of the page's own textual.js as Chromium receives it
(CDP Fetch), keeping a reference to the xterm Terminal in `window.__xterm`; `screen()` reads that terminal's
buffer, the very cells xterm.js paints. Nothing on the server side changes for the test.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp

from tests.waits import wait_for_text

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As in tests/report/test_render.py: without the background-networking flags Chromium's many connections to
# Google's hosts are refused by this machine's closed network, and slow its start.
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]
XTERM_NEW = re.compile(r"this\.terminal=new (\w+)\.Terminal\(")

# What Chromium needs to type one key as a person would (keyDown produces the keypress/input for text keys).
KEYS: dict[str, dict[str, Any]] = {
    "F12": {"key": "F12", "code": "F12", "windowsVirtualKeyCode": 123},
    "Escape": {"key": "Escape", "code": "Escape", "windowsVirtualKeyCode": 27},
    "Enter": {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"},
    "Space": {"key": " ", "code": "Space", "windowsVirtualKeyCode": 32, "text": " "},
    "Down": {"key": "ArrowDown", "code": "ArrowDown", "windowsVirtualKeyCode": 40},
    "!": {"key": "!", "code": "Digit1", "windowsVirtualKeyCode": 49, "text": "!", "modifiers": 8},
    "ctrl+c": {"key": "c", "code": "KeyC", "windowsVirtualKeyCode": 67, "modifiers": 2},  # 2 = Ctrl
    "?": {"key": "?", "code": "Slash", "windowsVirtualKeyCode": 191, "text": "?", "modifiers": 8},
    **{ch: {"key": ch, "code": f"Key{ch.upper()}", "windowsVirtualKeyCode": ord(ch.upper()), "text": ch}
       for ch in "abcdefghijklmnopqrstuvwxyz"},
}

SCREEN_JS = """(() => {
  const t = window.__xterm;
  if (!t) return null;
  const b = t.buffer.active, rows = [];
  for (let y = 0; y < t.rows; y++) { const l = b.getLine(b.viewportY + y); rows.push(l ? l.translateToString(true) : ""); }
  return rows.join("\\n");
})()"""

CELL_JS = """(() => {
  const t = window.__xterm, r = t.element.querySelector(".xterm-screen").getBoundingClientRect();
  return {left: r.left, top: r.top, w: r.width / t.cols, h: r.height / t.rows};
})()"""


class CdpError(AssertionError):
    pass


class Chromium:
    """Headless Chromium with one page; `close()` ends it (and its process group)."""

    def __init__(self, profile: Path, *, width: int = 1400, height: int = 1000) -> None:
        profile.mkdir(parents=True, exist_ok=True)
        self.log = (profile.parent / "chromium.log").open("wb")
        self.proc = subprocess.Popen(
            [CHROMIUM, *CHROME_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
             f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, start_new_session=True)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise CdpError(f"Chromium did not open its DevTools port (exit {self.proc.poll()}); "
                               f"see {self.log.name}")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._handlers: dict[str, Callable[[dict[str, Any], str | None], Coroutine[Any, Any, None]]] = {}
        self.session: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="cdp", daemon=True)
        self._thread.start()
        self._call(self._connect(f"ws://127.0.0.1:{port}{path}"))

    # ---- plumbing ----------------------------------------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _connect(self, url: str) -> None:
        self._http = aiohttp.ClientSession()
        self._ws = await self._http.ws_connect(url, max_msg_size=0)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self._ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            if "id" in data:
                fut = self._pending.pop(data["id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(data)
            elif (handler := self._handlers.get(data.get("method", ""))) is not None:
                task = asyncio.create_task(handler(data.get("params", {}), data.get("sessionId")))
                self._tasks.add(task)  # held until done: the loop keeps only a weak reference
                task.add_done_callback(self._tasks.discard)

    async def _send(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None) -> Any:
        msg_id = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = self.loop.create_future()
        self._pending[msg_id] = fut
        payload: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            payload["sessionId"] = session
        await self._ws.send_json(payload)
        reply = await asyncio.wait_for(fut, 30)
        if "error" in reply:
            raise CdpError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def send(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """A CDP command to the page."""
        return self._call(self._send(method, params, session=self.session))

    async def _expose_xterm(self, params: dict[str, Any], session: str | None) -> None:
        """Fetch.requestPaused for textual.js: the same script, keeping its Terminal in window.__xterm."""
        rid = params["requestId"]
        body = await self._send("Fetch.getResponseBody", {"requestId": rid}, session=session)
        text = base64.b64decode(body["body"]).decode() if body.get("base64Encoded") else body["body"]
        patched, n = XTERM_NEW.subn(r"this.terminal=window.__xterm=new \1.Terminal(", text)
        if n != 1:  # textual-serve's bundle changed: say so rather than read nothing
            patched = text + "\nconsole.error('cdp.py: xterm Terminal not found in textual.js');"
            self.patch_failed = True
        headers = [h for h in params.get("responseHeaders", []) if h["name"].lower() != "content-length"]
        await self._send("Fetch.fulfillRequest", {
            "requestId": rid, "responseCode": params.get("responseStatusCode", 200), "responseHeaders": headers,
            "body": base64.b64encode(patched.encode()).decode()}, session=session)

    # ---- what a test uses --------------------------------------------------------------------------------------

    def open(self, url: str) -> None:
        """A new page at `url`, with the page's terminal readable by `screen()`."""
        self.patch_failed = False
        self._handlers["Fetch.requestPaused"] = self._expose_xterm
        target = self._call(self._send("Target.createTarget", {"url": "about:blank"}))["targetId"]
        self.session = self._call(self._send("Target.attachToTarget", {"targetId": target, "flatten": True}))[
            "sessionId"]
        self.send("Fetch.enable", {"patterns": [{"urlPattern": "*/static/js/textual.js", "requestStage": "Response"}]})
        self.send("Page.enable")
        self.send("Page.navigate", {"url": url})

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise CdpError(f"{expression[:60]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screen(self) -> str:
        """The text the page's terminal shows now ("" before it exists)."""
        if self.patch_failed:
            raise CdpError("textual.js no longer creates its xterm Terminal as cdp.py expects: update XTERM_NEW")
        return self.evaluate(SCREEN_JS) or ""

    def wait_for(self, what: str | Callable[[str], bool], timeout: float = 30.0) -> str:
        return wait_for_text(self.screen, what, timeout, "the page")

    def page_closed(self) -> bool:
        """The page's own "this view has closed" state (its websocket closed)."""
        return bool(self.evaluate("document.body.classList.contains('-closed')"))

    def focus(self) -> None:
        self.evaluate("window.__xterm.focus()")

    def key(self, *names: str) -> None:
        """Type keys into the page, as a person at its keyboard (Input.dispatchKeyEvent)."""
        for name in names:
            spec = KEYS[name]
            self.send("Input.dispatchKeyEvent", {"type": "keyDown", **spec})
            self.send("Input.dispatchKeyEvent", {"type": "keyUp", **{k: v for k, v in spec.items() if k != "text"}})

    def click_text(self, text: str) -> None:
        """A mouse click on the first cell showing `text` in the page's terminal."""
        rows = self.screen().splitlines()
        row, col = next(((y, line.index(text)) for y, line in enumerate(rows) if text in line), (None, None))
        if row is None or col is None:
            raise AssertionError(f"{text!r} is not on the page:\n" + "\n".join(rows))
        cell = self.evaluate(CELL_JS)
        x, y = cell["left"] + (col + 0.5) * cell["w"], cell["top"] + (row + 0.5) * cell["h"]
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def close(self) -> None:
        if hasattr(self, "loop") and self.loop.is_running():
            async def shut() -> None:
                with contextlib.suppress(Exception):
                    await self._send("Browser.close")
                with contextlib.suppress(Exception):
                    await self._ws.close()
                    await self._http.close()

            with contextlib.suppress(Exception):
                self._call(shut(), timeout=10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            import os
            import signal

            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.log.close()

"""`controlroom serve` without a browser: where it listens, which requests it answers, and that every spectator
view (a process group of its own) ends with the server, however the server is told to stop."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import aiohttp
import pytest

from controlroom.errors import ServeError
from controlroom.spectators import bind_warning, loopback_only, refusal
from tests.serve.kit import CONTROLROOM, Served, group_members, pgid_of, wait_until

FIXTURE = Path(__file__).parent.parent / "report" / "fixtures" / "demo.jsonl"


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    """A finished demo session's journal, private as the room writes it (0600)."""
    path = tmp_path / "demo.jsonl"
    shutil.copyfile(FIXTURE, path)
    path.chmod(0o600)
    return path


async def _open_views(url: str, n: int) -> tuple[aiohttp.ClientSession, list[aiohttp.ClientWebSocketResponse]]:
    http = aiohttp.ClientSession()
    sockets = [await http.ws_connect(url.replace("http://", "ws://") + "ws?width=100&height=30") for _ in range(n)]
    return http, sockets


def _views_started(served: Served, n: int) -> list[int]:
    """The server's `n` spectator views, once each leads a process group of its own (a child just forked is in
    the server's group until it has called setsid, before its exec: the wait covers that moment, no more)."""
    def started() -> bool:
        views = served.views()
        return len(views) == n and all(pgid_of(pid) == pid for pid in views)

    wait_until(started, 30, f"the server never had {n} spectator views, each leading a process group of its own")
    return served.views()


# ---- every view ends with the server ---------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
async def test_every_spectator_view_ends_when_the_server_is_told_to_stop(journal: Path, tmp_path: Path,
                                                                         sig: signal.Signals) -> None:
    served = Served(str(journal), "--port", "0", log=tmp_path / "serve.log")
    http = None
    try:
        http, _sockets = await _open_views(served.url, 2)
        views = await asyncio.to_thread(_views_started, served, 2)
        # One view hangs (stopped: it can act on neither the quit nor SIGTERM): it is SIGKILLed after its grace.
        os.kill(views[0], signal.SIGSTOP)
        code = await asyncio.to_thread(served.signal, sig)
        assert code == 0, served.output()  # it stopped itself, after ending its views (not killed by the signal)
        for pid in views:
            assert group_members(pid) == [], f"view {pid}'s process group outlived the server"
        assert "ending every spectator's view" in served.output()
    finally:
        if http is not None:
            await http.close()
        served.stop()


async def test_views_die_with_a_server_that_is_killed_outright(journal: Path, tmp_path: Path) -> None:
    """SIGKILL leaves the server no chance to end anything: each view dies with it by itself (PDEATHSIG).

    A view that is well ends anyway when its stdin closes with the server; the stopped one cannot read that
    (as a view seen spinning could not): only the kernel's PDEATHSIG ends it."""
    served = Served(str(journal), "--port", "0", log=tmp_path / "serve.log")
    http = None
    try:
        http, sockets = await _open_views(served.url, 2)
        views = await asyncio.to_thread(_views_started, served, 2)
        for ws in sockets:  # each view has drawn its screen: it is past its start, PDEATHSIG set
            assert (await asyncio.wait_for(ws.receive(), 30)).type == aiohttp.WSMsgType.BINARY
        os.kill(views[0], signal.SIGSTOP)
        await asyncio.to_thread(served.signal, signal.SIGKILL)
        await asyncio.to_thread(wait_until, lambda: not any(group_members(p) for p in views), 10,
                                "a spectator view outlived its SIGKILLed server")
    finally:
        if http is not None:
            await http.close()
        served.stop()


async def test_a_view_ends_when_its_page_goes_away(journal: Path, tmp_path: Path) -> None:
    served = Served(str(journal), "--port", "0", log=tmp_path / "serve.log")
    http = None
    try:
        http, sockets = await _open_views(served.url, 2)
        views = await asyncio.to_thread(_views_started, served, 2)
        await sockets[0].close()
        await asyncio.to_thread(wait_until, lambda: served.views() == views[1:], 10,
                                "closing a page did not end its view (or ended the other one)")
        assert group_members(views[0]) == []
    finally:
        if http is not None:
            await http.close()
        served.stop()


# ---- who may connect -------------------------------------------------------------------------------------------


async def test_the_page_refuses_foreign_hosts_and_origins_and_caps_its_viewers(journal: Path, tmp_path: Path) -> None:
    served = Served(str(journal), "--port", "0", "--max-viewers", "1", log=tmp_path / "serve.log")
    port = served.url.rsplit(":", 1)[1].strip("/")
    ws_url = served.url.replace("http://", "ws://") + "ws"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(served.url) as page:
                assert page.status == 200
                assert f'data-session-websocket-url="ws://127.0.0.1:{port}/ws"' in await page.text()
            # DNS rebinding: a site whose name now points at 127.0.0.1 is not answered.
            async with http.get(served.url, headers={"Host": f"attacker.example:{port}"}) as page:
                assert page.status == 403
            # Another site, open in the facilitator's browser, cannot open the view's websocket.
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(ws_url, origin="http://attacker.example")
            assert refused.value.status == 403
            view = await http.ws_connect(ws_url, origin=f"http://127.0.0.1:{port}")  # the page's own origin
            # --max-viewers 1: a second spectator is turned away, not given a process.
            with pytest.raises(aiohttp.WSServerHandshakeError) as full:
                await http.ws_connect(ws_url)
            assert full.value.status == 503
            await view.close()
        assert "turned away" in served.output() and "refused" in served.output()
    finally:
        served.stop()


def test_loopback_is_the_default_and_other_addresses_are_warned(journal: Path, tmp_path: Path) -> None:
    served = Served(str(journal), "--port", "0", log=tmp_path / "default.log")
    try:
        assert served.url.startswith("http://127.0.0.1:")
        assert "WARNING" not in served.output()
        port = int(served.url.rsplit(":", 1)[1].strip("/"))
        other = _non_loopback_address()
        if other is not None:  # listening on loopback only: this machine's other address gets no answer
            with pytest.raises(OSError), socket.create_connection((other, port), timeout=2):
                pass
    finally:
        served.stop()
    wide = Served(str(journal), "--port", "0", "--host", "0.0.0.0", log=tmp_path / "wide.log")
    try:
        out = wide.output()
        assert "WARNING: serving on 0.0.0.0" in out and "no login" in out
        assert "open to the network" in out
    finally:
        wide.stop()


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: only picks the outgoing interface's address
            address = str(s.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_bind_policy() -> None:
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        assert loopback_only(host) and bind_warning(host, 8000) is None, host
    for host in ("0.0.0.0", "::", "192.0.2.7"):
        warning = bind_warning(host, 8000)
        assert warning is not None and "no login" in warning, host
    with pytest.raises(ServeError, match="name an address"):
        loopback_only(" ")
    with pytest.raises(ServeError, match="cannot resolve"):
        loopback_only("no-such-host.invalid")


def test_request_policy() -> None:
    own = "127.0.0.1:8000"
    assert refusal(own, None, loopback=True, websocket=False) is None
    assert refusal("localhost:9000", "http://localhost:9000", loopback=True, websocket=True) is None  # ssh -L
    assert refusal("[::1]:8000", None, loopback=True, websocket=True) is None
    assert refusal("shop.example:8000", None, loopback=True, websocket=False)  # rebinding
    assert refusal(None, None, loopback=True, websocket=False)
    assert refusal(own, "http://attacker.example", loopback=True, websocket=True)
    assert refusal(own, "null", loopback=True, websocket=True)
    # Served to the network on purpose: any name reaches it, but only its own pages open its websocket.
    assert refusal("gameday.example:8000", "http://gameday.example:8000", loopback=False, websocket=True) is None
    assert refusal("gameday.example:8000", "http://attacker.example", loopback=False, websocket=True)


# ---- the command line ------------------------------------------------------------------------------------------


def _serve(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CONTROLROOM, "serve", *args], capture_output=True, text=True, timeout=timeout)


def test_serve_without_a_running_session_says_so_in_one_line() -> None:
    result = _serve("--port", "0")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "controlroom: no running session on this machine; `controlroom status` lists them"]


def test_serve_on_a_port_in_use_says_which_in_one_line(journal: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _serve(str(journal), "--port", str(port))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"cannot listen on 127.0.0.1:{port}" in lines[0] and "--port" in lines[0]


def test_serve_an_unknown_host_is_one_line(journal: Path) -> None:
    result = _serve(str(journal), "--host", "no-such-host.invalid", "--port", "0")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--host no-such-host.invalid" in result.stderr


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_serve_a_port_out_of_range_is_one_line(journal: Path, port: str) -> None:
    result = _serve(str(journal), "--port", port)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"controlroom: --port {port}: a port is 0-65535 (0: any free port)"]


def test_serve_max_viewers_below_one_is_one_line(journal: Path) -> None:
    result = _serve(str(journal), "--port", "0", "--max-viewers", "0")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["controlroom: --max-viewers 0: at least 1"]

"""Spectators in a browser (`controlroom serve`): where the page may listen, which requests it answers, and the
spectator processes, each in a process group of its own that ends with the server. No Textual here.

The page is unauthenticated: whoever reaches it sees the session (read-only). So it listens on loopback unless the
facilitator names another address with --host (and is warned), a page bound to loopback answers only requests
addressed to loopback (a web page the facilitator visits cannot rebind its own name to 127.0.0.1 and read it), and
a browser's websocket is accepted only from the page's own origin (a foreign page cannot open it in their browser).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import signal
import socket
from urllib.parse import urlsplit

from controlroom.errors import ServeError

# Spectators yield the CPU to the room on the same machine: its heartbeat and e-stop come first.
VIEWER_NICENESS = 10
UNAUTHENTICATED = ("the page has no login: anyone who can reach this address sees the session (read-only: "
                   "no key in it acts on the session)")


def _loopback_ip(text: str) -> bool | None:
    """True/False for an IP address literal (brackets allowed), None when `text` is a name."""
    try:
        return ipaddress.ip_address(text.strip("[]")).is_loopback
    except ValueError:
        return None


def loopback_only(host: str) -> bool:
    """Whether every address `host` (an address or a name) stands for is a loopback address."""
    if not host.strip():
        raise ServeError("--host '': name an address to listen on (127.0.0.1, the default, or 0.0.0.0 for all)")
    literal = _loopback_ip(host)
    if literal is not None:
        return literal
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as err:
        raise ServeError(f"--host {host}: not an address, and this machine cannot resolve it ({err}); "
                         "give an address such as 127.0.0.1") from None
    return bool(infos) and all(_loopback_ip(str(info[4][0])) for info in infos)


def bind_warning(host: str, port: int) -> str | None:
    """What to tell the facilitator before listening on `host`; None for loopback."""
    if loopback_only(host):
        return None
    return (f"WARNING: serving on {host}:{port}, beyond this machine: {UNAUTHENTICATED}. "
            "Bind to 127.0.0.1 (the default) and share it through an SSH tunnel if that is not what you want.")


def _loopback_name(hostname: str) -> bool:
    name = hostname.lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost") or bool(_loopback_ip(name))


def refusal(host_header: str | None, origin: str | None, *, loopback: bool, websocket: bool) -> str | None:
    """Why the page refuses a request, or None to answer it.

    * Bound to loopback, only requests addressed to a loopback name are answered: DNS rebinding (a site the
      facilitator visits pointing its own name at 127.0.0.1) cannot read the page.
    * A websocket that a browser opens carries an Origin: it must be the page's own (Host), or any site the
      facilitator visits could open the spectator view in their browser and read it. Clients that are not
      browsers send no Origin, and could read the page anyway.
    """
    hostname = urlsplit(f"//{host_header}").hostname if host_header else None
    if loopback and (hostname is None or not _loopback_name(hostname)):
        return f"this page answers on loopback only (Host: {host_header or 'none'})"
    if websocket and origin is not None:
        seen = urlsplit(origin)
        if seen.scheme not in ("http", "https") or not host_header or seen.netloc.lower() != host_header.lower():
            return f"websocket from another origin ({origin}) refused"
    return None


def die_with_server(server_pid: int) -> bool:
    """In a spectator process, first thing: SIGKILL this process when the server dies, however it dies (Linux
    PR_SET_PDEATHSIG). False when the server is already gone (it died before this ran): the caller exits.

    Done by the spectator itself rather than in a preexec_fn, so nothing runs between fork and exec in the
    server, which has threads. The kernel sends the signal when the THREAD that forked the spectator ends: the
    server forks from its event loop, on its main thread, which lives exactly as long as the server. A spectator holds nothing to clean up: SIGKILL, not a polite signal that a stuck
    view might not act on (one was seen spinning after SIGTERM).
    """
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    return os.getppid() == server_pid


def renice(pid: int) -> None:
    """Lower a spectator's CPU priority: the room on the same machine comes first."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, pid, VIEWER_NICENESS)


def kill_group_now(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL a spectator's whole process group (it leads it: started with start_new_session), at once.

    Only while its leader has not been reaped: until then the group id cannot name anything else.
    """
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


async def end_group(proc: asyncio.subprocess.Process, *, grace: float = 1.0) -> None:
    """End a spectator's process group: SIGTERM, then SIGKILL if the leader is still there after `grace`
    seconds; returns once the leader is reaped (bounded: SIGKILL cannot be ignored)."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), grace)
        except TimeoutError:
            kill_group_now(proc)
            await asyncio.wait_for(proc.wait(), 10.0)
    # Anything the view started and left in its group (it starts nothing today): the group id is still held by
    # such a straggler, so it cannot have been reused. With no straggler the id was freed an instant ago and this
    # finds nothing (ESRCH): for it to name another group, a new process would have to be given that very pid and
    # make itself a group leader in between.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)

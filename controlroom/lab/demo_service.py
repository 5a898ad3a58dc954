"""The demo's sample service: a tiny shop on loopback with Prometheus metrics and admin fault hooks.

`GET /checkout` is the business endpoint, `GET /health` a shallow health check,
`GET /metrics` Prometheus text. Faults are set with `POST /admin/faults`
(`{"latency_ms": 150, "error_rate": 0.5, "ttl_s": 12}`) and carry a
service-side leash: each fault clears by itself `ttl_s` after it was last set,
so a control room that dies cannot leave the shop broken. Faults apply to
`/checkout` only — the health check stays shallow, as in many real services.

A minimal HTTP/1.1 server on asyncio streams (keep-alive, Content-Length
bodies) keeps it cheap: no framework, thousands of requests a second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controlroom.errors import ControlroomError
from controlroom.lab._http import BadRequest, Connections, parse_head, read_head
from controlroom.lab._proc import die_with_parent, served_from_the_command_line, until_stopped

# Bucket bounds in seconds, chosen around the demo's few-ms normal and 100 ms–2 s faulted latencies.
BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MAX_TTL_S = 3600.0
_MAX_BODY = 64 * 1024
_REASONS = {200: "OK", 204: "No Content", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            409: "Conflict", 411: "Length Required", 413: "Payload Too Large", 500: "Internal Server Error"}


@dataclass
class _Fault:
    value: float = 0.0
    expires: float | None = None  # monotonic deadline; None when not set

    def active(self, now: float) -> float:
        if self.expires is not None and now >= self.expires:
            # The leash: the fault is gone once its ttl has passed, whether anyone asked or not.
            self.value, self.expires = 0.0, None
        return self.value


class FaultGone(Exception):
    """A renewal of a fault that is no longer set: answered 409, nothing applied."""


@dataclass
class FaultState:
    """The service's active faults, each with its own leash deadline."""

    clock: Callable[[], float] = time.monotonic
    latency: _Fault = field(default_factory=_Fault)
    errors: _Fault = field(default_factory=_Fault)

    def set(self, doc: Any) -> str:
        """Apply a POST body; '' on success, else the reason it was refused (nothing is applied then).

        Raises FaultGone for `"renew": true` on a fault that is no longer set.
        """
        if not isinstance(doc, dict):
            return "body must be a JSON object"
        unknown = set(doc) - {"latency_ms", "error_rate", "ttl_s", "renew"}
        if unknown:
            return f"unknown keys: {', '.join(sorted(unknown))} (allowed: latency_ms, error_rate, ttl_s, renew)"
        ttl = doc.get("ttl_s")
        if not isinstance(ttl, (int, float)) or isinstance(ttl, bool) or not 0 < ttl <= MAX_TTL_S:
            return f"ttl_s is required: seconds after which the faults clear by themselves (0 < ttl_s <= {MAX_TTL_S:g})"
        latency, rate = doc.get("latency_ms"), doc.get("error_rate")
        if latency is None and rate is None:
            return "set latency_ms and/or error_rate"
        if latency is not None and (not _number(latency) or not 0 <= latency <= 60_000):
            return "latency_ms must be a number of milliseconds within 0..60000"
        if rate is not None and (not _number(rate) or not 0 <= rate <= 1):
            return "error_rate must be a fraction within 0..1"
        if "renew" in doc and not isinstance(doc["renew"], bool):
            return "renew must be true or false"
        now = self.clock()
        if doc.get("renew"):
            # A renewal only extends a fault that is still set: one whose ttl ran out stays cleared.
            kinds = (("latency_ms", self.latency, latency), ("error_rate", self.errors, rate))
            gone = [name for name, fault, given in kinds if given is not None and not fault.active(now)]
            if gone:
                raise FaultGone(f"{', '.join(gone)} is not set (its ttl ran out or it was cleared); not renewed")
        deadline = now + float(ttl)
        if latency is not None:
            self.latency = _Fault(float(latency), deadline if latency > 0 else None)
        if rate is not None:
            self.errors = _Fault(float(rate), deadline if rate > 0 else None)
        return ""

    def clear(self, which: str = "all") -> None:
        if which in ("all", "latency"):
            self.latency = _Fault()
        if which in ("all", "errors"):
            self.errors = _Fault()

    def snapshot(self) -> dict[str, Any]:
        now = self.clock()
        latency, rate = self.latency.active(now), self.errors.active(now)
        left = [f.expires - now for f in (self.latency, self.errors) if f.expires is not None]
        return {
            "latency_ms": latency,
            "error_rate": rate,
            "expires_in_s": round(max(left), 3) if left else None,
            "latency_expires_in_s": _left(self.latency, now),
            "error_rate_expires_in_s": _left(self.errors, now),
        }


def _left(fault: _Fault, now: float) -> float | None:
    return round(fault.expires - now, 3) if fault.expires is not None else None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Metrics:
    """Counters and a latency histogram for the served (non-admin) endpoints, in Prometheus text form."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = {}
        self.bucket_counts: dict[str, list[int]] = {}
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def observe(self, path: str, code: int, seconds: float) -> None:
        self.requests[(path, code)] = self.requests.get((path, code), 0) + 1
        buckets = self.bucket_counts.setdefault(path, [0] * len(BUCKETS))
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                buckets[i] += 1
        self.sums[path] = self.sums.get(path, 0.0) + seconds
        self.counts[path] = self.counts.get(path, 0) + 1

    def exposition(self, faults: dict[str, Any] | None = None) -> str:
        lines = []
        if faults is not None:
            # The active faults as gauges, so a Prometheus pane can show the cause beside the effect.
            lines += ["# HELP demo_fault_latency_seconds Latency added to /checkout by an admin fault.",
                      "# TYPE demo_fault_latency_seconds gauge",
                      f"demo_fault_latency_seconds {faults['latency_ms'] / 1000.0:g}",
                      "# HELP demo_fault_error_ratio Share of /checkout requests failed by an admin fault.",
                      "# TYPE demo_fault_error_ratio gauge",
                      f"demo_fault_error_ratio {faults['error_rate']:g}"]
        lines += ["# HELP http_requests_total Requests served, by path and status code.",
                 "# TYPE http_requests_total counter"]
        for (path, code), n in sorted(self.requests.items()):
            lines.append(f'http_requests_total{{path="{path}",code="{code}"}} {n}')
        lines += ["# HELP http_request_duration_seconds Time to answer a request, by path.",
                  "# TYPE http_request_duration_seconds histogram"]
        for path in sorted(self.bucket_counts):
            for bound, n in zip(BUCKETS, self.bucket_counts[path], strict=True):
                lines.append(f'http_request_duration_seconds_bucket{{path="{path}",le="{bound:g}"}} {n}')
            lines.append(f'http_request_duration_seconds_bucket{{path="{path}",le="+Inf"}} {self.counts[path]}')
            lines.append(f'http_request_duration_seconds_sum{{path="{path}"}} {self.sums[path]:.6f}')
            lines.append(f'http_request_duration_seconds_count{{path="{path}"}} {self.counts[path]}')
        return "\n".join(lines) + "\n"


class DemoService:
    """The sample shop. `await start()` returns the port; `await stop()` closes every connection."""

    def __init__(self, base_latency_ms: float = 2.0, seed: int | None = None) -> None:
        self.faults = FaultState()
        self.metrics = _Metrics()
        self._base_latency = base_latency_ms / 1000.0
        self._random = random.Random(seed)
        self._server: asyncio.Server | None = None
        self._connections = Connections()
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(self._serve, host, port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        await self._connections.cancel_all()
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with self._connections.held(writer):
            with contextlib.suppress(BadRequest):  # a malformed request closes the connection unanswered
                while True:
                    request = await _read_request(reader)
                    if request is None:
                        break
                    method, path, version, headers, body = request
                    if "transfer-encoding" in headers:
                        code, ctype, payload = _json(411, {"error": "send a Content-Length body, not chunked"})
                        headers["connection"] = "close"
                    else:
                        code, ctype, payload = await self._handle(method, path, body)
                    connection = headers.get("connection", "").lower()
                    # HTTP/1.1 keeps the connection unless told otherwise; HTTP/1.0 (ab, old tools) only when asked.
                    keep_alive = connection == "keep-alive" or (version == "HTTP/1.1" and connection != "close")
                    head = (f"HTTP/1.1 {code} {_REASONS.get(code, 'OK')}\r\n"
                            f"Content-Type: {ctype}\r\nContent-Length: {len(payload)}\r\n"
                            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n")
                    writer.write(head.encode() + payload)
                    await writer.drain()
                    if not keep_alive:
                        break

    async def _handle(self, method: str, target: str, body: bytes) -> tuple[int, str, bytes]:
        path = target.split("?", 1)[0]
        if path in ("/checkout", "/health"):
            if method != "GET":
                return _json(405, {"error": f"use GET {path}"})
            started = time.monotonic()
            code, reply = await self._business(path)
            self.metrics.observe(path, code, time.monotonic() - started)
            return reply
        if path == "/metrics" and method == "GET":
            return 200, "text/plain; version=0.0.4", self.metrics.exposition(self.faults.snapshot()).encode()
        if path in ("/admin/faults", "/admin/faults/latency", "/admin/faults/errors"):
            return self._admin(method, path, body)
        return _json(404, {"error": f"no such endpoint {path}"})

    async def _business(self, path: str) -> tuple[int, tuple[int, str, bytes]]:
        if path == "/health":
            return 200, _json(200, {"status": "ok"})
        now = time.monotonic()
        delay = self._base_latency + self.faults.latency.active(now) / 1000.0
        await asyncio.sleep(delay)
        rate = self.faults.errors.active(time.monotonic())
        if rate > 0 and self._random.random() < rate:
            return 500, _json(500, {"error": "injected failure"})
        return 200, _json(200, {"order": "ok"})

    def _admin(self, method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        if method == "GET" and path == "/admin/faults":
            return _json(200, self.faults.snapshot())
        if method == "DELETE":
            # Idempotent on purpose: a revert that runs twice, or on a clean service, succeeds.
            self.faults.clear({"/admin/faults": "all", "/admin/faults/latency": "latency"}.get(path, "errors"))
            return _json(200, self.faults.snapshot())
        if method == "POST" and path == "/admin/faults":
            try:
                doc = json.loads(body or b"null")
            except ValueError:
                return _json(400, {"error": "body is not JSON"})
            try:
                problem = self.faults.set(doc)
            except FaultGone as err:
                return _json(409, {"error": str(err)})
            if problem:
                return _json(400, {"error": problem})
            return _json(200, self.faults.snapshot())
        return _json(405, {"error": f"{method} is not supported on {path}"})


def _json(code: int, doc: Any) -> tuple[int, str, bytes]:
    return code, "application/json", json.dumps(doc).encode()


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, str, dict[str, str], bytes] | None:
    """One request off a keep-alive connection; None when the client closed it between requests."""
    head = await read_head(reader)
    if head is None:
        return None
    parsed = parse_head(head)
    if parsed is None:
        raise BadRequest
    method, target, version, headers = parsed
    length = int(headers.get("content-length", "0") or 0)
    if length < 0 or length > _MAX_BODY:
        raise BadRequest
    body = await reader.readexactly(length) if length else b""
    return method, target, version, headers, body


class DemoError(ControlroomError):
    """The demo service could not start (port in use, no Python)."""


READY_RE = re.compile(r"demo service on http://(\S+):(\d+) ")


async def _serve(host: str, port: int, pidfile: str | None) -> None:
    service = DemoService()
    bound = await service.start(host, port)
    if pidfile:
        _write_pid(pidfile, os.getpid())
    print(f"demo service on http://{host}:{bound} (checkout, health, metrics, admin/faults)", flush=True)
    try:
        await until_stopped()
    finally:
        await service.stop()


def _write_pid(path: str, pid: int) -> None:
    # Written whole and renamed, so a fault never reads a half-written pid.
    tmp = f"{path}.{pid}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{pid}\n")
    os.replace(tmp, path)


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _supervise(host: str, port: int, pidfile: str | None, restart_delay: float = 0.3) -> None:
    """Run the service as a child and start it again whenever it dies — what a process-kill fault expects."""
    port = port or _free_port(host)  # fixed, so a restarted service answers at the same URL
    argv = [sys.executable, "-m", "controlroom.lab.demo_service", "--host", host, "--port", str(port)]
    if pidfile:
        argv += ["--pidfile", pidfile]
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.terminate()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stopping:
        child = subprocess.Popen(argv, preexec_fn=die_with_parent)
        child.wait()
        if not stopping:
            time.sleep(restart_delay)


class DemoProcess:
    """The demo service in a process of its own (optionally supervised), so process faults can hit it safely.

    Pausing an in-process `DemoService` would pause the control room with it; this runs
    `python -m controlroom.lab.demo_service` in its own session and stops the whole group.
    """

    def __init__(self, pidfile: str | None = None, supervise: bool = False, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.pidfile, self.supervise, self.host, self.port = pidfile, supervise, host, port
        self._proc: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self, timeout: float = 10.0) -> str:
        argv = [sys.executable, "-m", "controlroom.lab.demo_service", "--host", self.host, "--port", str(self.port)]
        if self.pidfile:
            argv += ["--pidfile", self.pidfile]
        if self.supervise:
            argv.append("--supervise")
        self._proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, start_new_session=True,
            preexec_fn=die_with_parent)
        assert self._proc.stdout is not None
        try:
            line = await asyncio.wait_for(self._proc.stdout.readline(), timeout)
        except TimeoutError:
            await self.stop()
            raise DemoError(f"the demo service did not start within {timeout:g}s") from None
        m = READY_RE.search(line.decode())
        if not m:
            await self.stop()
            raise DemoError(f"the demo service did not start on {self.host}:{self.port} "
                            "(is the port in use? pick another with port=0)")
        self.port = int(m.group(2))
        # Restarted children announce themselves too; keep reading so the pipe never fills.
        self._drain = asyncio.create_task(self._proc.stdout.read())
        return self.url

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            # A paused service ignores SIGTERM until it is continued.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGCONT)
            try:
                await asyncio.wait_for(proc.wait(), wait)
                break
            except TimeoutError:
                continue
        if self._drain is not None:
            self._drain.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._drain


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m controlroom.lab.demo_service", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    parser.add_argument("--pidfile", help="write the serving process's pid here (for process-pause / process-kill)")
    parser.add_argument("--supervise", action="store_true", help="restart the service whenever it dies")
    args = parser.parse_args(argv)
    if args.supervise:
        _supervise(args.host, args.port, args.pidfile)
        return
    with served_from_the_command_line("demo service", args.host, args.port):
        asyncio.run(_serve(args.host, args.port, args.pidfile))


if __name__ == "__main__":
    main()

"""`stop`, `status` and `recover` when the control socket cannot be trusted or reached, or the pid was reused.

A dead socket must not leave a live session unstoppable; a pid now held by another program must not make a
crashed session look alive (today `recover` then refuses and `stop` fails: nothing can clean up); garbage on
the socket must not put a traceback on the session's output.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from controlroom.journal import read_journal
from tests.cli.conftest import admin_faults, controlroom
from tests.cli.test_stop_and_recover import injected_run


def _registry(env: dict[str, str]) -> tuple[Path, dict[str, Any]]:
    sessions = Path(env["CONTROLROOM_RUNTIME_DIR"]) / "sessions"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = sorted(sessions.glob("*.json")) if sessions.is_dir() else []
        if found:
            return found[0], json.loads(found[0].read_text())
        time.sleep(0.05)
    raise AssertionError("the session never registered")


def _rewrite_first_line(path: Path, **changes: object) -> None:
    lines = path.read_bytes().split(b"\n", 1)
    header = json.loads(lines[0])
    header.update(changes)
    path.write_bytes(json.dumps(header).encode() + b"\n" + lines[1])


def test_stop_falls_back_to_a_verified_sigterm_when_the_socket_is_dead(
        shop: str, tmp_path: Path, env: dict[str, str]) -> None:
    proc, journal = injected_run(shop, tmp_path, env)
    try:
        _, reg = _registry(env)
        os.unlink(reg["socket"])  # what a /tmp cleaner does to an idle socket: the session itself lives on
        assert admin_faults(shop)["latency_ms"] == 200
        stopped = controlroom("stop", env=env)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert f"sent SIGTERM to pid {proc.pid}" in stopped.stdout
        assert "all faults reverted and verified clean (from its journal)" in stopped.stdout
        assert proc.wait(timeout=30) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
    assert admin_faults(shop)["latency_ms"] == 0
    events = read_journal(journal).events
    stop = next(e for e in events if e.type == "emergency-stop")
    assert stop.data["source"] == "signal" and events[-1].type == "session-ended"


def test_a_reused_pid_is_a_crashed_session_for_status_stop_and_recover(
        shop: str, tmp_path: Path, env: dict[str, str]) -> None:
    proc, journal = injected_run(shop, tmp_path, env)
    registry, _ = _registry(env)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # Another program now holds the pid the crashed session recorded (here: its registry and journal header
    # are pointed at a live `sleep`, as if the kernel had handed the pid on).
    other = subprocess.Popen(["sleep", "60"])
    try:
        doc = json.loads(registry.read_text())
        doc["pid"] = other.pid
        registry.write_text(json.dumps(doc))
        _rewrite_first_line(journal, pid=other.pid)

        status = controlroom("status", env=env)
        assert "CRASHED" in status.stdout, status.stdout
        t0 = time.monotonic()
        stop = controlroom("stop", doc["session"], env=env, timeout=30)
        assert stop.returncode == 2 and "is not running" in stop.stderr and "controlroom recover" in stop.stderr
        assert time.monotonic() - t0 < 10
        assert other.poll() is None  # the unrelated process was not signalled
        recovered = controlroom("recover", str(journal), env=env)
        assert recovered.returncode == 0, recovered.stdout + recovered.stderr
        assert "all clean" in recovered.stdout
    finally:
        other.kill()
        other.wait()
    assert admin_faults(shop)["latency_ms"] == 0


def _send(path: str, data: bytes, *, shut: bool = True, timeout: float = 10) -> bytes:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(path)
        if data:
            try:
                s.sendall(data)
            except OSError:
                pass  # the session may close on an overlong line before it is all sent
        if shut:
            s.shutdown(socket.SHUT_WR)
        out = b""
        try:
            while chunk := s.recv(4096):
                out += chunk
        except OSError:
            pass
        return out


def test_garbage_on_the_control_socket_is_answered_or_closed_never_a_traceback(
        shop: str, tmp_path: Path, env: dict[str, str]) -> None:
    proc, _ = injected_run(shop, tmp_path, env)
    try:
        _, reg = _registry(env)
        sock = reg["socket"]
        assert _send(sock, b"\xff\xfe\x00\x80binary\n") == b"unknown command\n"
        assert _send(sock, b"x" * 200_000) in (b"line too long\n", b"")  # no newline, far over the limit
        assert _send(sock, b"") == b"unknown command\n"  # connect, say nothing, hang up
        assert _send(sock, b"status").startswith(b'{"state"')  # a command without its newline
        assert admin_faults(shop)["latency_ms"] == 200  # none of that stopped or broke the session
        with socket.socket(socket.AF_UNIX) as a, socket.socket(socket.AF_UNIX) as b:  # `stop` twice, at once
            for s in (a, b):
                s.settimeout(30)
                s.connect(sock)
                s.sendall(b"stop\nstop\n")
            answers = [s.makefile("rb").read() for s in (a, b)]
        for answer in answers:
            first, verdict = answer.decode().splitlines()
            assert first == "stopping" and json.loads(verdict) == {"clean": True, "unconfirmed": []}
        assert proc.wait(timeout=30) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert "Traceback" not in err and "Unhandled exception" not in err, err
    assert admin_faults(shop)["latency_ms"] == 0

"""The lab's server processes (the demo shop, the Toxiproxy and Gremlin stand-ins) say a port they cannot listen
on in one line, named for the process, and exit 2: never a traceback (one `served_from_the_command_line`)."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest


@pytest.mark.parametrize(("module", "name", "args"), [
    ("controlroom.lab.demo_service", "demo service", []),
    ("controlroom.lab.toxiproxy", "toxiproxy stand-in", []),
    ("controlroom.lab.gremlin", "gremlin stand-in", ["--key", "k-port-in-use"]),
], ids=["demo", "toxiproxy", "gremlin"])
def test_a_port_in_use_is_one_line_and_exit_2(module: str, name: str, args: list[str]) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", module, "--port", str(port), *args],
                              capture_output=True, text=True, timeout=30)
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"{name}: cannot listen on 127.0.0.1:{port}: ") and line.endswith("; try --port 0"), line
    assert "address already in use" in line.lower(), line

"""CLI tests run the real `controlroom` entry point in subprocesses against the sample shop on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def shop() -> Iterator[str]:
    """The demo's sample shop in its own process; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "controlroom.lab.demo_service", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=0.5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(timeout=5)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = dict(os.environ)
    e["XDG_DATA_HOME"] = str(tmp_path / "data")
    e.pop("NO_COLOR", None)
    return e


def controlroom(*args: str, env: dict[str, str], timeout: float = 60, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "controlroom", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, **kw)  # type: ignore[call-overload, no-any-return]


def shop_scenario(tmp_path: Path, url: str, *, duration: str = "30s", delay: str = "200ms", leash: str = "10s") -> Path:
    text = f"""\
version: 1
name: shop-latency
hypothesis: the shop stays up while slow
environment: test
targets:
  shop: {{http: "{url}", labels: {{service: shop}}}}
observe:
  every: 500ms
  metrics:
    shop: {{probe: "{url}/checkout", timeout: 1s}}
steady_state: {{window: 1s, require: [shop.success_rate >= 0.9]}}
blast_radius: {{max_targets: 1, max_duration: 2m, allowed_environments: [test], leash: {leash}}}
stop_when: {{conditions: [shop.success_rate < 0.5], for: 1s}}
steps:
  - id: slow
    title: slow shop
    fault: {{type: http-latency, target: shop, delay: {delay}}}
    duration: {duration}
"""
    path = tmp_path / "shop.yaml"
    path.write_text(text)
    return path


def admin_faults(url: str) -> dict[str, object]:
    return httpx.get(url + "/admin/faults", timeout=2).json()  # type: ignore[no-any-return]

"""Fixtures for tests that need a Kubernetes cluster: the project's simulated one (controlroom.lab.kube).

Import them in a test package's conftest.py (tests/kube/conftest.py does):

    from tests.kube.fixtures import kube_cluster, kube_factory, kube_sample, kubeconfig, kr8s_api, kube_http  # noqa: F401

* `kube_factory(**config)` -> a started SimulatedCluster (fast timings, seeded), stopped after the test;
  keyword arguments are StandinConfig fields (e.g. `chaos_mesh_controller=False`).
* `kube_cluster` -> one started with the defaults; `kube_sample` -> the same with namespace `shop` and
  a ready Deployment `checkout` (5 pods, label app=checkout).
* `kubeconfig` -> a kubeconfig file for `kube_cluster` (context `controlroom-sim`, bearer token).
* `kr8s_api` -> a kr8s.asyncio Api built from that kubeconfig file, as product code will build it.
* `kube_http` -> an httpx.AsyncClient on the API with the token, for raw requests.
* `serve_process(tmp_path, *args)` -> the stand-in as a separate process (`python -m controlroom.lab.kube
  serve`), for tests where the code under test is killed: a context manager yielding (proc, kubeconfig).
Every fixture fails the test if a simulated controller raised (`cluster.errors`).
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from controlroom.lab.kube import SimulatedCluster, StandinConfig, Timings


def fast_config(**overrides: Any) -> StandinConfig:
    overrides.setdefault("timings", Timings.fast())
    overrides.setdefault("seed", 14)
    return StandinConfig(**overrides)


@pytest.fixture
async def kube_factory() -> AsyncIterator[Callable[..., Awaitable[SimulatedCluster]]]:
    started: list[SimulatedCluster] = []

    async def make(**overrides: Any) -> SimulatedCluster:
        cluster = SimulatedCluster(fast_config(**overrides))
        await cluster.start()
        started.append(cluster)
        return cluster

    yield make
    errors = []
    for cluster in started:
        await cluster.stop()
        errors += cluster.errors
    assert not errors, "a simulated controller failed:\n" + "\n".join(errors)


@pytest.fixture
async def kube_cluster(kube_factory: Callable[..., Awaitable[SimulatedCluster]]) -> SimulatedCluster:
    return await kube_factory()


@pytest.fixture
async def kube_sample(kube_cluster: SimulatedCluster) -> SimulatedCluster:
    kube_cluster.add_sample()
    await kube_cluster.wait_ready("shop", "checkout", timeout=10)
    return kube_cluster


@pytest.fixture
def kubeconfig(kube_cluster: SimulatedCluster, tmp_path: Path) -> Path:
    return kube_cluster.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
async def kr8s_api(kubeconfig: Path) -> Any:
    import kr8s.asyncio

    return await kr8s.asyncio.api(kubeconfig=str(kubeconfig))


def http_client(cluster: SimulatedCluster, token: str | None = None) -> httpx.AsyncClient:
    """An httpx client on the cluster's API that trusts its CA; `token=""` sends no credentials."""
    token = cluster.token if token is None else token
    return httpx.AsyncClient(base_url=cluster.url, timeout=10, verify=cluster.client_ssl_context(),
                             headers={"Authorization": f"Bearer {token}"} if token else {})


def sync_client_from_kubeconfig(path: Path) -> httpx.Client:
    """A blocking httpx client built from a kubeconfig the stand-in wrote (server, CA data, token)."""
    doc = yaml.safe_load(path.read_text())
    cluster, user = doc["clusters"][0]["cluster"], doc["users"][0]["user"]
    verify: Any = True
    if cluster.get("certificate-authority-data"):
        verify = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    return httpx.Client(base_url=cluster["server"], verify=verify, timeout=10,
                        headers={"Authorization": f"Bearer {user['token']}"})


@pytest.fixture
async def kube_http(kube_cluster: SimulatedCluster) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(kube_cluster) as client:
        yield client


@contextlib.contextmanager
def serve_process(tmp_path: Path, *args: str, timeout: float = 20.0) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """`python -m controlroom.lab.kube serve` in its own process group, stopped (SIGTERM, then SIGKILL) at the end."""
    kubeconfig = tmp_path / "sim-kubeconfig"
    proc = subprocess.Popen([sys.executable, "-m", "controlroom.lab.kube", "serve", "--kubeconfig", str(kubeconfig),
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        assert proc.stdout is not None
        while True:
            line = proc.stdout.readline()
            if "ready" in line:
                break
            if not line and proc.poll() is not None:
                raise AssertionError(f"the simulated cluster exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
            if time.monotonic() > deadline:
                raise AssertionError("the simulated cluster did not get ready in time")
        yield proc, kubeconfig
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

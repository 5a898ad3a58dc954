"""Watch: ADDED/MODIFIED/DELETED as selectors see them, resume from a resourceVersion, 410 when it is too old."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from controlroom.lab.kube import SimulatedCluster
from tests.kube.fixtures import http_client

EXP_PATH = "/apis/litmuschaos.io/v1alpha1/namespaces/default/chaosexperiments"


def experiment(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "litmuschaos.io/v1alpha1", "kind": "ChaosExperiment",
            "metadata": {"name": name, "labels": labels or {}},
            "spec": {"definition": {"scope": "Namespaced", "image": "x:1"}}}


class Stream:
    def __init__(self, response: httpx.Response):
        self.response = response
        self._lines = response.aiter_lines()

    async def next(self, timeout: float = 3.0) -> tuple[str, dict[str, Any]]:
        line = ""
        while not line:
            line = await asyncio.wait_for(self._lines.__anext__(), timeout)
        event = json.loads(line)
        return event["type"], event["object"]

    async def rest(self, timeout: float = 3.0) -> list[str]:
        """Every line until the server ends the stream."""

        async def drain() -> list[str]:
            return [line async for line in self._lines if line]

        return await asyncio.wait_for(drain(), timeout)

    async def take(self, n: int) -> list[tuple[str, str]]:
        out = []
        for _ in range(n):
            kind, obj = await self.next()
            out.append((kind, obj["metadata"]["name"]))
        return out


@asynccontextmanager
async def watching(http: httpx.AsyncClient, path: str, **params: str) -> AsyncIterator[Stream]:
    async with http.stream("GET", path, params={"watch": "true", **params}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.headers["transfer-encoding"] == "chunked"
        yield Stream(response)


async def test_watch_streams_changes_and_translates_selector_moves(kube_cluster: SimulatedCluster,
                                                                   kube_http: httpx.AsyncClient) -> None:
    rv = kube_cluster.store.resource_version
    async with watching(kube_http, EXP_PATH, labelSelector="team=blue", resourceVersion=str(rv)) as stream:
        await kube_http.post(EXP_PATH, json=experiment("x", {"team": "blue"}))
        await kube_http.post(EXP_PATH, json=experiment("other", {"team": "red"}))  # never seen by this watch
        kind, obj = await stream.next()
        assert (kind, obj["metadata"]["name"]) == ("ADDED", "x")
        assert obj["kind"] == "ChaosExperiment" and int(obj["metadata"]["resourceVersion"]) > rv
        merge = {"content-type": "application/merge-patch+json"}
        await kube_http.patch(f"{EXP_PATH}/x", json={"metadata": {"annotations": {"a": "1"}}}, headers=merge)
        await kube_http.patch(f"{EXP_PATH}/x", json={"metadata": {"labels": {"team": "red"}}}, headers=merge)
        await kube_http.patch(f"{EXP_PATH}/x", json={"metadata": {"labels": {"team": "blue"}}}, headers=merge)
        await kube_http.delete(f"{EXP_PATH}/x")
        # leaving the selector reads as DELETED, entering it as ADDED: what the watch cache sends
        assert await stream.take(4) == [("MODIFIED", "x"), ("DELETED", "x"), ("ADDED", "x"), ("DELETED", "x")]


async def test_watch_without_resource_version_starts_with_the_current_objects(kube_cluster: SimulatedCluster,
                                                                             kube_http: httpx.AsyncClient) -> None:
    for name in ("a", "b"):
        await kube_http.post(EXP_PATH, json=experiment(name))
    async with watching(kube_http, EXP_PATH) as stream:
        assert await stream.take(2) == [("ADDED", "a"), ("ADDED", "b")]
        await kube_http.post(EXP_PATH, json=experiment("c"))
        assert await stream.take(1) == [("ADDED", "c")]


async def test_watch_resumes_after_a_resource_version(kube_cluster: SimulatedCluster,
                                                      kube_http: httpx.AsyncClient) -> None:
    first = (await kube_http.post(EXP_PATH, json=experiment("a"))).json()
    await kube_http.post(EXP_PATH, json=experiment("b"))
    await kube_http.delete(f"{EXP_PATH}/a")
    async with watching(kube_http, EXP_PATH, resourceVersion=first["metadata"]["resourceVersion"]) as stream:
        assert await stream.take(2) == [("ADDED", "b"), ("DELETED", "a")]


async def test_a_too_old_resource_version_gets_410_expired(kube_cluster: SimulatedCluster,
                                                           kube_http: httpx.AsyncClient) -> None:
    old = (await kube_http.post(EXP_PATH, json=experiment("a"))).json()["metadata"]["resourceVersion"]
    await kube_http.post(EXP_PATH, json=experiment("b"))
    kube_cluster.store.compact()  # as etcd compaction does
    async with watching(kube_http, EXP_PATH, resourceVersion=old) as stream:
        kind, status = await stream.next()
        assert kind == "ERROR"
        assert status["kind"] == "Status" and status["code"] == 410 and status["reason"] == "Expired"
        assert status["message"].startswith(f"too old resource version: {old} (")
        assert await stream.rest() == []  # the stream ends after the error


async def test_a_bounded_history_expires_old_versions_by_itself(kube_factory: Any) -> None:
    cluster = await kube_factory(history_limit=5, chaos_mesh_controller=False, litmus_operator=False)
    async with http_client(cluster) as http:
        start = (await http.post(EXP_PATH, json=experiment("first"))).json()["metadata"]["resourceVersion"]
        for i in range(10):
            await http.post(EXP_PATH, json=experiment(f"n{i}"))
        async with watching(http, EXP_PATH, resourceVersion=start) as stream:
            kind, status = await stream.next()
            assert kind == "ERROR" and status["code"] == 410


async def test_timeout_seconds_ends_the_watch(kube_http: httpx.AsyncClient) -> None:
    async with watching(kube_http, EXP_PATH, timeoutSeconds="1", resourceVersion="1") as stream:
        lines = await stream.rest(timeout=5)
        assert all(json.loads(line)["type"] in ("ADDED", "MODIFIED", "DELETED") for line in lines)


async def test_a_watch_that_the_client_leaves_is_unregistered(kube_cluster: SimulatedCluster,
                                                             kube_http: httpx.AsyncClient) -> None:
    async with watching(kube_http, EXP_PATH):
        await kube_cluster.wait_for(lambda: len(kube_cluster.store._watchers) == 1, what="one watcher")
    await kube_http.post(EXP_PATH, json=experiment("poke"))  # a write after the client left
    await kube_cluster.wait_for(lambda: not kube_cluster.store._watchers, what="the watcher gone")

"""Fixtures for the Gremlin stand-in: a team with hosts and containers, keys, a hand-moved clock, a client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from controlroom.clock import ManualClock
from controlroom.lab.gremlin import ApiKey, Client, Container, GremlinStandIn

TEAM, OTHER_TEAM = "team-shop", "team-pay"
KEY, OTHER_KEY, COMPANY_TOKEN, READ_ONLY = "k-shop-0123", "k-pay-4567", "company-session-89", "k-read-only"


def clients() -> list[Client]:
    return [
        Client("web-1", TEAM, tags={"service": "shop", "zone": "a"},
               containers=[Container("c-web-1", "checkout", {"app": "checkout"})]),
        Client("web-2", TEAM, tags={"service": "shop", "zone": "b"},
               containers=[Container("c-web-2", "checkout", {"app": "checkout"}),
                           Container("c-cart-2", "cart", {"app": "cart"})]),
        Client("db-1", TEAM, tags={"service": "db", "zone": "a"}),
        Client("web-3", TEAM, state="IDLE", tags={"service": "shop", "zone": "c"}),
        Client("pay-1", OTHER_TEAM, tags={"service": "pay"}),
    ]


def keys() -> list[ApiKey]:
    return [ApiKey(KEY, TEAM), ApiKey(OTHER_KEY, OTHER_TEAM), ApiKey(COMPANY_TOKEN, None, scheme="Bearer"),
            ApiKey(READ_ONLY, TEAM, privileges=frozenset({"EXPERIMENTS_READ", "CLIENTS_READ"}))]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def gremlin(clock: ManualClock) -> AsyncIterator[GremlinStandIn]:
    stand_in = GremlinStandIn(keys(), clients(), port=0, clock=clock.monotonic, seed=15)
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


@pytest.fixture
async def api(gremlin: GremlinStandIn) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gremlin.url, trust_env=False, timeout=10,
                                 headers={"Authorization": f"Key {KEY}"}) as client:
        yield client


def cpu(length: int = 30, **target: Any) -> dict[str, Any]:
    return {"command": {"type": "cpu", "args": ["-c", "1", "--length", str(length)]},
            "target": target or {"type": "Exact", "hosts": {"ids": ["web-1"]}}}


async def create(api: httpx.AsyncClient, body: dict[str, Any], **params: str) -> str:
    r = await api.post("/attacks/new", json=body, params=params)
    assert r.status_code == 201, r.text
    return r.text


async def stage(api: httpx.AsyncClient, guid: str) -> str:
    r = await api.get(f"/attacks/{guid}")
    assert r.status_code == 200, r.text
    return str(r.json()["stage"])

"""The HTTP executor against the real demo service on loopback: status, expect_json, transport errors."""

from __future__ import annotations

import socket

import httpx
import pytest

from controlroom.lab.demo_service import DemoService
from controlroom.targets.base import HttpRequest, Shell
from controlroom.targets.http import HttpExecutor, json_mismatch


@pytest.fixture
async def service():
    svc = DemoService()
    await svc.start()
    yield svc
    await svc.stop()


async def test_status_in_ok_status_is_ok_and_body_is_kept(service):
    ex = HttpExecutor("shop")
    try:
        res = await ex.run(HttpRequest("POST", service.url + "/admin/faults", json={"latency_ms": 5, "ttl_s": 5}))
        assert res.ok and res.status == 200 and '"latency_ms": 5' in res.stdout
        bad = await ex.run(HttpRequest("POST", service.url + "/admin/faults", json={"latency_ms": 5}))
        assert not bad.ok and bad.status == 400 and "HTTP 400" in bad.detail
    finally:
        await ex.close()


async def test_expect_json_must_match_every_key(service):
    ex = HttpExecutor("shop")
    try:
        clean = await ex.run(HttpRequest("GET", service.url + "/admin/faults", expect_json={"latency_ms": 0}))
        assert clean.ok
        await ex.run(HttpRequest("POST", service.url + "/admin/faults", json={"latency_ms": 5, "ttl_s": 5}))
        dirty = await ex.run(HttpRequest("GET", service.url + "/admin/faults", expect_json={"latency_ms": 0}))
        assert not dirty.ok and dirty.status == 200
        assert "latency_ms is 5.0, expected 0" in dirty.detail
    finally:
        await ex.close()


async def test_connection_refused_is_a_result_not_an_exception():
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ex = HttpExecutor("shop")
    try:
        res = await ex.run(HttpRequest("GET", f"http://127.0.0.1:{port}/admin/faults"))
        assert not res.ok and res.status is None
        assert res.error == f"connection refused to http://127.0.0.1:{port}/admin/faults"
    finally:
        await ex.close()


async def test_timeout_is_reported_with_the_request(service):
    await HttpExecutor("x").run(HttpRequest("POST", service.url + "/admin/faults", json={"latency_ms": 500, "ttl_s": 5}))
    ex = HttpExecutor("shop")
    try:
        res = await ex.run(HttpRequest("GET", service.url + "/checkout", timeout=0.1))
        assert not res.ok and res.error == f"timed out after 0.1s: GET {service.url}/checkout"
    finally:
        await ex.close()


async def test_shell_actions_are_refused():
    ex = HttpExecutor("shop")
    res = await ex.run(Shell("true"))
    await ex.close()
    assert not res.ok and "cannot run Shell" in res.error


async def test_a_client_passed_in_is_left_open():
    async with httpx.AsyncClient() as client:
        ex = HttpExecutor("shop", client=client)
        await ex.close()
        assert not client.is_closed


def test_json_mismatch_explains_what_differs():
    assert json_mismatch('{"a": 1, "b": 2}', {"a": 1}) == ""
    assert json_mismatch('{"a": 1}', {"b": 1}) == "response has no 'b'"
    assert json_mismatch("[1]", {"a": 1}) == "response is not a JSON object"
    assert json_mismatch("<html>", {"a": 1}) == "response is not JSON"

"""The Toxiproxy stand-in's HTTP API answers as Shopify/toxiproxy's api.go does: codes, fields, errors."""

from __future__ import annotations

import socket

import httpx

from tests.toxiproxy.conftest import connect


def _proxy(name: str, upstream: str = "127.0.0.1:9", listen: str = "127.0.0.1:0", **extra: object) -> dict[str, object]:
    return {"name": name, "listen": listen, "upstream": upstream, **extra}


def _error(r: httpx.Response, status: int, message: str) -> None:
    assert r.status_code == status, r.text
    assert r.json() == {"error": message, "status": status}
    # Go's http.Error serves the JSON as text/plain; a client must parse the body whatever the type says.
    assert r.headers["content-type"].startswith("text/plain")


async def test_proxy_list_starts_empty_and_version_answers(api: httpx.AsyncClient) -> None:
    r = await api.get("/proxies")
    assert r.status_code == 200 and r.json() == {}
    assert r.headers["content-type"] == "application/json"
    r = await api.get("/version")
    assert r.status_code == 200 and r.json() == {"version": "2.12.0"}


async def test_create_proxy_answers_201_with_its_fields_and_listens_at_once(api: httpx.AsyncClient) -> None:
    r = await api.post("/proxies", json=_proxy("db"))
    assert r.status_code == 201
    doc = r.json()
    assert list(doc) == ["name", "listen", "upstream", "enabled", "toxics"]
    assert doc["name"] == "db" and doc["upstream"] == "127.0.0.1:9" and doc["enabled"] is True
    assert doc["toxics"] == []
    host, port = doc["listen"].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0  # port 0 became the real port
    _reader, writer = await connect(doc["listen"])  # really listening
    writer.close()


async def test_duplicate_proxy_is_409(api: httpx.AsyncClient) -> None:
    assert (await api.post("/proxies", json=_proxy("db"))).status_code == 201
    _error(await api.post("/proxies", json=_proxy("db")), 409, "proxy already exists")


async def test_create_proxy_refuses_missing_fields_and_bad_bodies(api: httpx.AsyncClient) -> None:
    _error(await api.post("/proxies", json={"upstream": "127.0.0.1:9"}), 400, "missing required field: name")
    _error(await api.post("/proxies", json={"name": "x"}), 400, "missing required field: upstream")
    r = await api.post("/proxies", content=b"{not json")
    assert r.status_code == 400 and r.json()["error"].startswith("bad request body: ")
    r = await api.post("/proxies", content=b"")
    assert r.status_code == 400 and r.json()["error"] == "bad request body: EOF"
    r = await api.post("/proxies", json=_proxy("x", enabled="yes"))
    assert r.status_code == 400
    assert r.json()["error"] == ("bad request body: json: cannot unmarshal string into Go struct field "
                                 "Proxy.enabled of type bool")
    assert (await api.get("/proxies")).json() == {}


async def test_create_disabled_proxy_does_not_listen(api: httpx.AsyncClient) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = await api.post("/proxies", json=_proxy("db", listen=f"127.0.0.1:{port}", enabled=False))
    assert r.status_code == 201 and r.json()["enabled"] is False
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


async def test_listen_address_in_use_is_a_500_naming_the_bind_error(api: httpx.AsyncClient) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        _error(await api.post("/proxies", json=_proxy("db", listen=f"127.0.0.1:{port}")), 500,
               f"listen tcp 127.0.0.1:{port}: bind: address already in use")
    r = await api.post("/proxies", json=_proxy("db", listen="no-port"))
    _error(r, 500, "listen tcp: address no-port: missing port in address")


async def test_stand_in_listens_on_loopback_only(api: httpx.AsyncClient) -> None:
    r = await api.post("/proxies", json=_proxy("db", listen="0.0.0.0:0"))
    assert r.status_code == 500 and "loopback only" in r.json()["error"]
    r = await api.post("/proxies", json=_proxy("db", listen=""))
    assert r.status_code == 201 and r.json()["listen"].startswith("127.0.0.1:")


async def test_show_update_and_delete_a_proxy(api: httpx.AsyncClient) -> None:
    listen = (await api.post("/proxies", json=_proxy("db"))).json()["listen"]
    r = await api.get("/proxies/db")
    assert r.status_code == 200 and r.json()["listen"] == listen
    r = await api.patch("/proxies/db", json={"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False and r.json()["listen"] == listen
    r = await api.post("/proxies/db", json={"enabled": True})  # deprecated POST still updates
    assert r.status_code == 200 and r.json()["enabled"] is True and r.json()["listen"] == listen
    r = await api.patch("/proxies/db", json={"upstream": "127.0.0.1:10"})
    assert r.status_code == 200 and r.json()["upstream"] == "127.0.0.1:10"
    r = await api.delete("/proxies/db")
    assert r.status_code == 204 and r.content == b""
    _error(await api.delete("/proxies/db"), 404, "proxy not found")
    _error(await api.get("/proxies/db"), 404, "proxy not found")
    _error(await api.patch("/proxies/db", json={"enabled": False}), 404, "proxy not found")


async def test_populate_creates_keeps_identical_and_answers_201(api: httpx.AsyncClient) -> None:
    r = await api.post("/populate", json=[_proxy("a"), _proxy("b")])
    assert r.status_code == 201
    first = {p["name"]: p for p in r.json()["proxies"]}
    assert set(first) == {"a", "b"}
    # An identical entry leaves the proxy (and its port and toxics) alone; a different one replaces it.
    await api.post("/proxies/a/toxics", json={"type": "latency", "attributes": {"latency": 5}})
    r = await api.post("/populate", json=[_proxy("a", listen=first["a"]["listen"]), _proxy("b", upstream="127.0.0.1:10")])
    assert r.status_code == 201
    again = {p["name"]: p for p in r.json()["proxies"]}
    assert again["a"]["listen"] == first["a"]["listen"] and len(again["a"]["toxics"]) == 1
    assert again["b"]["upstream"] == "127.0.0.1:10"
    r = await api.post("/populate", json=[])
    assert r.status_code == 201 and r.json() == {"proxies": None}


async def test_populate_checks_every_entry_before_creating_any(api: httpx.AsyncClient) -> None:
    r = await api.post("/populate", json=[_proxy("one"), {"upstream": "127.0.0.1:9"}])
    assert r.status_code == 400
    assert r.json() == {"error": "missing required field: name at proxy 2", "status": 400, "proxies": None}
    assert (await api.get("/proxies")).json() == {}
    r = await api.post("/populate", json={"name": "not-a-list"})
    assert r.status_code == 400 and r.json()["error"].startswith("bad request body: ")


async def test_populate_stops_at_a_failing_proxy_and_returns_those_done(api: httpx.AsyncClient) -> None:
    r = await api.post("/populate", json=[_proxy("one"), _proxy("two", listen="local373"), _proxy("three")])
    assert r.status_code == 500
    body = r.json()
    assert body["status"] == 500 and "missing port in address" in body["error"]
    assert [p["name"] for p in body["proxies"]] == ["one"]
    assert set((await api.get("/proxies")).json()) == {"one"}


async def test_toxic_create_answers_200_with_default_name_and_int_attributes(api: httpx.AsyncClient) -> None:
    await api.post("/proxies", json=_proxy("db"))
    r = await api.post("/proxies/db/toxics", json={"type": "latency", "attributes": {"latency": 100, "jitter": 10}})
    assert r.status_code == 200  # 200, not 201, exactly as Toxiproxy
    assert r.json() == {"attributes": {"latency": 100, "jitter": 10}, "name": "latency_downstream",
                        "type": "latency", "stream": "downstream", "toxicity": 1}
    r = await api.post("/proxies/db/toxics", json={"type": "latency", "stream": "upstream", "toxicity": 0.5})
    assert r.status_code == 200 and r.json()["name"] == "latency_upstream" and r.json()["toxicity"] == 0.5
    assert r.json()["attributes"] == {"latency": 0, "jitter": 0}
    r = await api.get("/proxies/db/toxics")
    assert r.status_code == 200
    assert [t["name"] for t in r.json()] == ["latency_upstream", "latency_downstream"]  # upstream chain first
    assert [t["name"] for t in (await api.get("/proxies/db")).json()["toxics"]] == [
        "latency_upstream", "latency_downstream"]


async def test_every_toxic_type_is_accepted_with_its_attributes(api: httpx.AsyncClient) -> None:
    await api.post("/proxies", json=_proxy("db"))
    cases = {
        "latency": {"latency": 1, "jitter": 2}, "bandwidth": {"rate": 3}, "slow_close": {"delay": 4},
        "timeout": {"timeout": 5}, "reset_peer": {"timeout": 6}, "limit_data": {"bytes": 7},
        "slicer": {"average_size": 8, "size_variation": 9, "delay": 10},
    }
    for kind, attributes in cases.items():
        r = await api.post("/proxies/db/toxics", json={"name": kind, "type": kind, "attributes": attributes})
        assert r.status_code == 200 and r.json()["attributes"] == attributes, (kind, r.text)


async def test_bad_toxics_are_refused_with_toxiproxys_messages(api: httpx.AsyncClient) -> None:
    await api.post("/proxies", json=_proxy("db"))
    _error(await api.post("/proxies/db/toxics", json={"type": "latncy"}), 400, "invalid toxic type")
    _error(await api.post("/proxies/db/toxics", json={"attributes": {"latency": 1}}), 400, "invalid toxic type")
    _error(await api.post("/proxies/db/toxics", json={"type": "latency", "stream": "walrustream"}), 400,
           "stream was invalid, can be either upstream or downstream")
    r = await api.post("/proxies/db/toxics", json={"type": "latency", "attributes": {"latency": 1.5}})
    assert r.status_code == 400
    assert r.json()["error"] == ("bad request body: json: cannot unmarshal number 1.5 into Go struct field "
                                 "LatencyToxic.attributes.latency of type int64")
    r = await api.post("/proxies/db/toxics", json={"type": "bandwidth", "attributes": {"rate": "100"}})
    assert r.status_code == 400 and "BandwidthToxic.attributes.rate of type int64" in r.json()["error"]
    r = await api.post("/proxies/db/toxics", json={"type": "latency", "toxicity": "high"})
    assert r.status_code == 400 and "of type float32" in r.json()["error"]
    _error(await api.post("/proxies/nope/toxics", json={"type": "latency"}), 404, "proxy not found")
    assert (await api.get("/proxies/db/toxics")).json() == []


async def test_toxic_names_are_unique_across_both_streams(api: httpx.AsyncClient) -> None:
    await api.post("/proxies", json=_proxy("db"))
    body = {"name": "cr-s1-latency", "type": "latency", "stream": "upstream"}
    assert (await api.post("/proxies/db/toxics", json=body)).status_code == 200
    _error(await api.post("/proxies/db/toxics", json={**body, "stream": "downstream"}), 409, "toxic already exists")


async def test_unknown_attributes_are_ignored_as_go_does(api: httpx.AsyncClient) -> None:
    await api.post("/proxies", json=_proxy("db"))
    r = await api.post("/proxies/db/toxics", json={"type": "latency", "attributes": {"latency_ms": 300, "Jitter": 4}})
    assert r.status_code == 200 and r.json()["attributes"] == {"latency": 0, "jitter": 4}


async def test_show_update_and_delete_a_toxic(api: httpx.AsyncClient) -> None:
    await api.post("/proxies", json=_proxy("db"))
    await api.post("/proxies/db/toxics", json={"name": "slow", "type": "latency", "attributes": {"latency": 100,
                                                                                               "jitter": 5}})
    r = await api.get("/proxies/db/toxics/slow")
    assert r.status_code == 200 and r.json()["attributes"] == {"latency": 100, "jitter": 5}
    r = await api.patch("/proxies/db/toxics/slow", json={"attributes": {"latency": 300}, "toxicity": 0.25})
    assert r.status_code == 200
    assert r.json()["attributes"] == {"latency": 300, "jitter": 5} and r.json()["toxicity"] == 0.25
    r = await api.post("/proxies/db/toxics/slow", json={"attributes": {"jitter": 0}})  # deprecated POST
    assert r.status_code == 200 and r.json()["attributes"] == {"latency": 300, "jitter": 0}
    assert r.json()["toxicity"] == 0.25
    r = await api.patch("/proxies/db/toxics/slow", json={"attributes": {"latency": "fast"}})
    assert r.status_code == 400
    assert (await api.get("/proxies/db/toxics/slow")).json()["attributes"]["latency"] == 300
    r = await api.delete("/proxies/db/toxics/slow")
    assert r.status_code == 204 and r.content == b""
    _error(await api.delete("/proxies/db/toxics/slow"), 404, "toxic not found")
    _error(await api.get("/proxies/db/toxics/slow"), 404, "toxic not found")
    _error(await api.patch("/proxies/db/toxics/slow", json={}), 404, "toxic not found")
    _error(await api.delete("/proxies/nope/toxics/slow"), 404, "proxy not found")


async def test_reset_enables_every_proxy_and_removes_every_toxic(api: httpx.AsyncClient) -> None:
    await api.post("/proxies", json=_proxy("a"))
    await api.post("/proxies", json=_proxy("b"))
    await api.post("/proxies/a/toxics", json={"type": "latency", "attributes": {"latency": 5}})
    await api.post("/proxies/b/toxics", json={"type": "timeout", "stream": "upstream"})
    await api.patch("/proxies/b", json={"enabled": False})
    r = await api.post("/reset")
    assert r.status_code == 204 and r.content == b""
    proxies = (await api.get("/proxies")).json()
    assert all(p["enabled"] and p["toxics"] == [] for p in proxies.values())


async def test_browsers_get_403_on_every_route_but_not_on_unknown_paths(api: httpx.AsyncClient) -> None:
    firefox = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}
    for method, path in (("GET", "/proxies"), ("POST", "/reset"), ("GET", "/version"), ("DELETE", "/proxies/x")):
        r = await api.request(method, path, headers=firefox)
        assert r.status_code == 403 and r.text == "User agent not allowed\n", (method, path)
    r = await api.get("/nothing-here", headers=firefox)
    assert r.status_code == 404  # gorilla/mux runs the middleware only on a matched route
    assert (await api.get("/proxies", headers={"User-Agent": "curl/8.5.0"})).status_code == 200


async def test_unknown_paths_are_404_and_wrong_methods_405(api: httpx.AsyncClient) -> None:
    r = await api.get("/proxies/a/b")
    assert r.status_code == 404 and r.text == "404 page not found\n"
    assert (await api.get("/proxies/")).status_code == 404
    assert (await api.get("/metrics")).status_code == 404  # served only with --proxy-metrics by the real one
    assert (await api.get("/reset")).status_code == 405
    assert (await api.put("/proxies", json={})).status_code == 405
    assert (await api.delete("/proxies")).status_code == 405

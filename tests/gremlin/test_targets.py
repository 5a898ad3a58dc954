"""Targets on the Gremlin stand-in: clients to check before an attack, and who an attack lands on."""

from __future__ import annotations

import httpx

from controlroom.clock import ManualClock
from controlroom.lab.gremlin import GremlinStandIn
from tests.gremlin.conftest import cpu, create, stage


async def test_clients_are_listed_by_state_with_their_tags(api: httpx.AsyncClient) -> None:
    r = await api.get("/clients")
    assert r.status_code == 200
    groups = r.json()
    assert set(groups) == {"active", "idle", "inactive"}
    assert sorted(c["identifier"] for c in groups["active"]) == ["db-1", "web-1", "web-2"]
    assert [c["identifier"] for c in groups["idle"]] == ["web-3"]
    assert groups["inactive"] == []  # pay-1 belongs to another team
    web1 = next(c for c in groups["active"] if c["identifier"] == "web-1")
    assert web1["state"] == "ACTIVE" and web1["tags"] == {"service": "shop", "zone": "a"}
    assert web1["containers"][0]["id"] == "c-web-1"
    active = (await api.get("/clients/active")).json()
    assert sorted(c["identifier"] for c in active) == ["db-1", "web-1", "web-2"]
    assert (await api.get("/clients/web-3")).json()["state"] == "IDLE"
    assert (await api.get("/clients/pay-1")).status_code == 404


async def test_revoked_and_reactivated_clients(api: httpx.AsyncClient) -> None:
    r = await api.delete("/clients/web-2")
    assert r.status_code == 200 and r.json()["state"] == "REVOKED"
    groups = (await api.get("/clients")).json()
    assert [c["identifier"] for c in groups["inactive"]] == ["web-2"]
    r = await api.post("/attacks/new", json=cpu(30, type="Exact", hosts={"ids": ["web-2"]}))
    assert r.status_code == 400  # a revoked client is no target
    assert (await api.put("/clients/web-2/activate")).json()["state"] == "ACTIVE"
    assert (await api.post("/attacks/new", json=cpu(30, type="Exact", hosts={"ids": ["web-2"]}))).status_code == 201


async def test_containers_of_active_clients(api: httpx.AsyncClient) -> None:
    containers = (await api.get("/containers")).json()
    assert sorted(c["identifier"] for c in containers) == ["c-cart-2", "c-web-1", "c-web-2"]
    assert next(c for c in containers if c["identifier"] == "c-cart-2")["container_labels"] == {"app": "cart"}


async def test_exact_targets_only_active_clients_and_refuses_when_none_match(api: httpx.AsyncClient,
                                                                             gremlin: GremlinStandIn) -> None:
    guid = await create(api, cpu(30, type="Exact", hosts={"ids": ["web-1", "web-3", "nope"]}))
    assert gremlin.attack(guid).targets == ["web-1"]  # idle web-3 and unknown nope are not attacked
    for ids in (["nope"], ["web-3"], ["pay-1"]):
        r = await api.post("/attacks/new", json=cpu(30, type="Exact", hosts={"ids": ids}))
        assert r.status_code == 400 and "No active targets" in r.text, ids
    assert (await api.post("/attacks/new", json=cpu(30, type="Exact", hosts={"ids": []}))).status_code == 400
    assert (await api.post("/attacks/new", json=cpu(30, type="Exact"))).status_code == 400
    assert (await api.post("/attacks/new", json=cpu(30, type="Everything"))).status_code == 400


async def test_the_legacy_exact_list_targets_hosts(api: httpx.AsyncClient, gremlin: GremlinStandIn) -> None:
    guid = await create(api, cpu(30, type="Exact", exact=["web-2"]))  # Concord's shape
    assert gremlin.attack(guid).targets == ["web-2"]


async def test_an_empty_selection_may_be_created_and_ends_target_not_found(api: httpx.AsyncClient,
                                                                           clock: ManualClock) -> None:
    body = {**cpu(30, type="Exact", hosts={"ids": ["nope"]}), "continueOnEmptyTargets": True}
    guid = await create(api, body)
    assert await stage(api, guid) == "Pending"
    await clock.advance(0.3)
    doc = (await api.get(f"/attacks/{guid}")).json()
    assert doc["stage"] == "TargetNotFound" and doc["stageLifecycle"] == "Error" and doc["targets"] == []


async def test_random_picks_a_percentage_of_the_tagged_active_hosts(api: httpx.AsyncClient,
                                                                    gremlin: GremlinStandIn) -> None:
    guid = await create(api, cpu(30, type="Random", hosts={"multiSelectTags": {"service": ["shop"]}}, percent=100))
    assert sorted(gremlin.attack(guid).targets) == ["web-1", "web-2"]  # not idle web-3, not db-1
    guid = await create(api, cpu(30, type="Random", hosts={"multiSelectTags": {"service": ["shop"]}}, percent=50))
    assert len(gremlin.attack(guid).targets) == 1
    guid = await create(api, cpu(30, type="Random", tags={"zone": "a"}, percent=100))
    assert sorted(gremlin.attack(guid).targets) == ["db-1", "web-1"]
    guid = await create(api, cpu(30, type="Random", hosts="all", exact=2))
    assert len(gremlin.attack(guid).targets) == 2
    guid = await create(api, cpu(30, type="Random"))
    assert len(gremlin.attack(guid).targets) == 1  # no count given: one
    for bad in ({"percent": 0}, {"percent": 101}, {"percent": "50"}, {"exact": 0}, {"hosts": 3}):
        r = await api.post("/attacks/new", json=cpu(30, type="Random", **bad))
        assert r.status_code == 400, bad
    r = await api.post("/attacks/new", json=cpu(30, type="Random", hosts={"multiSelectTags": {"service": ["x"]}},
                                                percent=100))
    assert r.status_code == 400 and "No active targets" in r.text


async def test_containers_are_targeted_by_id_or_label(api: httpx.AsyncClient, gremlin: GremlinStandIn) -> None:
    guid = await create(api, cpu(30, type="Exact", containers={"ids": ["c-cart-2"]}))
    attack = gremlin.attack(guid)
    assert attack.target_type == "Container" and attack.containers == {"web-2": ["c-cart-2"]}
    guid = await create(api, cpu(30, type="Random", containers={"multiSelectLabels": {"app": ["checkout"]}},
                               percent=100))
    assert gremlin.attack(guid).containers == {"web-1": ["c-web-1"], "web-2": ["c-web-2"]}
    doc = (await api.get(f"/attacks/{guid}")).json()
    assert doc["targetType"] == "Container" and doc["targetContainers"] == {"web-1": ["c-web-1"],
                                                                            "web-2": ["c-web-2"]}
    r = await api.post("/attacks/new", json={"command": {"type": "time_travel", "args": ["-l", "30"]},
                                             "target": {"type": "Exact", "containers": {"ids": ["c-web-1"]}}})
    assert r.status_code == 400 and "cannot target containers" in r.text


async def test_a_shutdown_leaves_its_host_idle_once_it_has_run(api: httpx.AsyncClient, clock: ManualClock) -> None:
    guid = await create(api, {"command": {"type": "shutdown", "args": ["-d", "1"]},
                              "target": {"type": "Exact", "hosts": {"ids": ["db-1"]}}})
    await clock.advance(30)
    assert await stage(api, guid) == "Running"  # the delay: one minute
    assert (await api.get("/clients/db-1")).json()["state"] == "ACTIVE"
    await clock.advance(31)
    assert await stage(api, guid) == "Successful"
    assert (await api.get("/clients/db-1")).json()["state"] == "IDLE"
    r = await api.post("/attacks/new", json=cpu(30, type="Exact", hosts={"ids": ["db-1"]}))
    assert r.status_code == 400  # pre-flight would see it too: no active target


async def test_a_shutdown_with_reboot_keeps_the_host_active(api: httpx.AsyncClient, clock: ManualClock) -> None:
    await create(api, {"command": {"type": "shutdown", "args": ["-d", "0", "-r"]},
                       "target": {"type": "Exact", "hosts": {"ids": ["db-1"]}}})
    await clock.advance(5)
    assert (await api.get("/clients/db-1")).json()["state"] == "ACTIVE"


async def test_a_client_set_idle_in_process_stops_being_a_target(api: httpx.AsyncClient,
                                                                 gremlin: GremlinStandIn) -> None:
    gremlin.set_client_state("web-1", "IDLE")
    r = await api.post("/attacks/new", json=cpu(30))
    assert r.status_code == 400
    assert [c["identifier"] for c in (await api.get("/clients")).json()["idle"]] == ["web-1", "web-3"]


async def test_agents_are_the_newer_paged_view_of_the_clients(api: httpx.AsyncClient) -> None:
    await api.delete("/clients/db-1")
    page = (await api.get("/agents", params={"pageSize": 3})).json()
    assert page["pageSize"] == 3 and len(page["items"]) == 3 and "pageToken" in page
    rest = (await api.get("/agents", params={"pageSize": 3, "pageToken": page["pageToken"]})).json()
    agents = {a["id"]: a for a in page["items"] + rest["items"]}
    assert set(agents) == {"web-1", "web-2", "db-1", "web-3"} and "pageToken" not in rest
    assert agents["web-1"]["status"] == "Active" and agents["web-1"]["tags"] == {"service": ["shop"], "zone": ["a"]}
    assert agents["web-3"]["status"] == "Idle" and agents["db-1"]["status"] == "Deactivated"
    assert (await api.get("/agents/summary")).json() == {"active": 2, "idle": 1, "deactivated": 1, "warnings": 0}

"""Attacks on the Gremlin stand-in: create, list, get, the stages, the length leash, halts, bad arguments."""

from __future__ import annotations

import re

import httpx
import pytest

from controlroom.clock import ManualClock
from controlroom.lab.gremlin import GremlinStandIn, StageDelays
from tests.gremlin.conftest import COMPANY_TOKEN, OTHER_KEY, OTHER_TEAM, clients, cpu, create, keys, stage

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


async def test_create_answers_201_with_the_guid_as_text(api: httpx.AsyncClient, gremlin: GremlinStandIn) -> None:
    r = await api.post("/attacks/new", json=cpu(30))
    assert r.status_code == 201
    assert r.headers["content-type"].startswith("text/plain")
    assert GUID.match(r.text)
    attack = gremlin.attack(r.text)
    assert attack.command.type == "cpu" and attack.command.length == 30 and attack.targets == ["web-1"]


async def test_get_shows_the_attack_with_stage_and_targets(api: httpx.AsyncClient) -> None:
    guid = await create(api, cpu(30))
    r = await api.get(f"/attacks/{guid}")
    assert r.status_code == 200
    doc = r.json()
    assert doc["guid"] == guid and doc["stage"] == "Pending" and doc["stageLifecycle"] == "Active"
    assert doc["targets"] == ["web-1"] and doc["targetType"] == "Host"
    assert doc["infraCommand"] == {"type": "cpu", "commandType": "CPU", "args": ["-c", "1", "--length", "30"],
                                   "length": 30}
    assert doc["executionSummaries"]["web-1"]["stage"] == "Pending"
    assert doc["createdAt"].endswith("Z") and doc["endTime"] is None


async def test_unknown_attack_is_404(api: httpx.AsyncClient) -> None:
    assert (await api.get("/attacks/00000000-0000-4000-8000-000000000000")).status_code == 404
    assert (await api.delete("/attacks/00000000-0000-4000-8000-000000000000")).status_code == 404


async def test_stages_run_from_pending_to_successful(api: httpx.AsyncClient, clock: ManualClock) -> None:
    guid = await create(api, cpu(30))
    seen = [await stage(api, guid)]
    for _ in range(40):
        await clock.advance(0.1)
        now = await stage(api, guid)
        if now != seen[-1]:
            seen.append(now)
    assert seen == ["Pending", "Distributed", "Initializing", "Running"]
    await clock.advance(26.7)  # now 30.7 s: 0.6 s to start running, then its 30 s length
    assert await stage(api, guid) == "TearingDown"
    await clock.advance(0.2)
    doc = (await api.get(f"/attacks/{guid}")).json()
    assert doc["stage"] == "Successful" and doc["stageLifecycle"] == "Complete"
    assert doc["startTime"] is not None and doc["endTime"] is not None


async def test_an_attack_ends_by_itself_at_its_length(api: httpx.AsyncClient, clock: ManualClock) -> None:
    # The service-side leash: nobody halts this attack, and it is over once its length has passed.
    guid = await create(api, cpu(20))
    await clock.advance(10)
    assert await stage(api, guid) == "Running"
    assert [a["guid"] for a in (await api.get("/attacks/active")).json()] == [guid]
    await clock.advance(11.5)
    assert await stage(api, guid) == "Successful"
    assert (await api.get("/attacks/active")).json() == []
    assert [a["guid"] for a in (await api.get("/attacks/completed")).json()] == [guid]


async def test_halt_goes_through_halt_stages_to_user_halted(api: httpx.AsyncClient, clock: ManualClock) -> None:
    guid = await create(api, cpu(300))
    await clock.advance(5)
    r = await api.delete(f"/attacks/{guid}")
    assert r.status_code == 202
    assert [t["guid"] for t in r.json()] == [guid]
    doc = (await api.get(f"/attacks/{guid}")).json()
    assert doc["stage"] == "Halt" and doc["stageLifecycle"] == "Halting"
    assert [a["guid"] for a in (await api.get("/attacks/active")).json()] == [guid]  # not over until halted
    await clock.advance(0.2)
    assert await stage(api, guid) == "HaltDistributed"
    await clock.advance(0.2)
    doc = (await api.get(f"/attacks/{guid}")).json()
    assert doc["stage"] == "UserHalted" and doc["stageLifecycle"] == "Complete" and doc["endTime"] is not None
    assert (await api.get("/attacks/active")).json() == []


async def test_halt_is_idempotent_and_leaves_a_finished_attack_as_it_ended(api: httpx.AsyncClient,
                                                                          clock: ManualClock) -> None:
    guid = await create(api, cpu(300))
    assert (await api.delete(f"/attacks/{guid}")).status_code == 202
    await clock.advance(1)
    assert (await api.delete(f"/attacks/{guid}")).status_code == 202
    assert (await api.post(f"/attacks/{guid}/halt", json={"reason": "again"})).status_code == 202
    assert await stage(api, guid) == "UserHalted"
    done = await create(api, cpu(1))
    await clock.advance(5)
    assert (await api.delete(f"/attacks/{done}")).status_code == 202
    assert await stage(api, done) == "Successful"


async def test_halt_all_stops_every_attack_of_the_team_and_no_other(api: httpx.AsyncClient,
                                                                  gremlin: GremlinStandIn) -> None:
    ours = [await create(api, cpu(300)), await create(api, cpu(300, type="Exact", hosts={"ids": ["web-2"]}))]
    async with httpx.AsyncClient(base_url=gremlin.url, trust_env=False,
                                 headers={"Authorization": f"Key {OTHER_KEY}"}) as other:
        theirs = await create(other, cpu(300, type="Exact", hosts={"ids": ["pay-1"]}))
    r = await api.delete("/attacks")
    assert r.status_code == 202 and sorted(t["guid"] for t in r.json()) == sorted(ours)
    assert all(gremlin.attack(g).halted is not None for g in ours)
    assert gremlin.attack(theirs).halted is None
    assert (await api.post("/attacks/halt", json={})).status_code == 202  # the POST form, idempotent


async def test_platform_halt_stops_every_team(api: httpx.AsyncClient, gremlin: GremlinStandIn,
                                              clock: ManualClock) -> None:
    ours = await create(api, cpu(300))
    async with httpx.AsyncClient(base_url=gremlin.url, trust_env=False,
                                 headers={"Authorization": f"Key {OTHER_KEY}"}) as other:
        theirs = await create(other, cpu(300, type="Exact", hosts={"ids": ["pay-1"]}))
    r = await api.post("/halts", json={"reason": "facilitator stop", "reference": "gameday"})
    assert r.status_code == 202 and sorted(t["guid"] for t in r.json()) == sorted([ours, theirs])
    await clock.advance(1)
    assert gremlin.stage(ours) == gremlin.stage(theirs) == "UserHalted"
    assert (await api.get(f"/attacks/{ours}")).json()["annotations"] == {"haltReason": "facilitator stop"}


async def test_active_paged_pages_with_a_token(api: httpx.AsyncClient) -> None:
    guids = [await create(api, cpu(300)) for _ in range(5)]
    r = await api.get("/attacks/active/paged", params={"pageSize": 2})
    assert r.status_code == 200
    page, seen = r.json(), []
    while True:
        assert page["pageSize"] == 2 and len(page["items"]) <= 2
        seen += [a["guid"] for a in page["items"]]
        if "pageToken" not in page:
            break
        page = (await api.get("/attacks/active/paged", params={"pageSize": 2, "pageToken": page["pageToken"]})).json()
    assert sorted(seen) == sorted(guids)
    assert (await api.get("/attacks/active/paged", params={"pageToken": "forged"})).status_code == 400


@pytest.mark.parametrize("command, why", [
    ({"type": "cpux", "args": ["-l", "30"]}, "invalid attack type"),
    ({"type": "cpu", "args": ["-c", "1"]}, "--length SECONDS is required"),
    ({"type": "cpu", "args": ["-l", "0"]}, "-l must be 1..31449600"),
    ({"type": "cpu", "args": ["-l", "thirty"]}, "needs an integer"),
    ({"type": "cpu", "args": ["-l", "30", "-l", "40"]}, "given twice"),
    ({"type": "cpu", "args": ["-l", "30", "-x", "1"]}, "unknown argument '-x'"),
    ({"type": "cpu", "args": ["-l", "30", "-p", "150"]}, "-p must be 1..100"),
    ({"type": "cpu", "args": ["-l", "30", "-c"]}, "-c needs a value"),
    ({"type": "cpu", "args": ["-l", 30]}, "list of strings"),
    ({"type": "memory", "args": ["-l", "30", "-m", "100", "-p", "50"]}, "give one amount"),
    ({"type": "io", "args": ["-l", "30", "-m", "x"]}, "r, w or rw"),
    ({"type": "latency", "args": ["-l", "30", "-p", "99999"]}, "not a valid port"),
    ({"type": "packet_loss", "args": ["-l", "30", "-P", "SCTP"]}, "TCP, UDP or ICMP"),
    ({"type": "process_killer", "args": ["-l", "30"]}, "-p PROCESS is required"),
    ({"type": "shutdown", "args": ["-l", "30"]}, "unknown argument '-l'"),
    ("cpu", "command must be an object"),
])
async def test_bad_commands_are_400_and_create_nothing(api: httpx.AsyncClient, gremlin: GremlinStandIn,
                                                       command: object, why: str) -> None:
    r = await api.post("/attacks/new", json={"command": command, "target": {"type": "Exact",
                                                                          "hosts": {"ids": ["web-1"]}}})
    assert r.status_code == 400 and why in r.text, r.text
    assert gremlin.attacks == {}


async def test_every_attack_type_is_accepted_with_its_documented_args(api: httpx.AsyncClient,
                                                                      gremlin: GremlinStandIn) -> None:
    commands = {
        "cpu": ["-l", "30", "-c", "2", "-p", "80"], "memory": ["--length", "30", "-g", "1"],
        "disk": ["-l", "30", "-d", "/tmp", "-w", "1", "-b", "4", "-p", "90"],
        "io": ["-l", "30", "-c", "1", "-d", "/tmp", "-m", "rw", "-s", "4", "-w", "1"],
        "shutdown": ["-d", "1", "-r"], "time_travel": ["-l", "30", "-o", "-3600", "-n"],
        "process_killer": ["-l", "30", "-i", "5", "-p", "nginx", "-e"],
        "blackhole": ["-l", "30", "-p", "^53,8080-8085", "-h", "^api.gremlin.com", "-n", "443"],
        "dns": ["-l", "30", "-P", "UDP"], "latency": ["-l", "30", "-m", "300", "-p", "^53", "-P", "TCP"],
        "packet_loss": ["--length=30", "-r", "20", "-c"],
    }
    for kind, args in commands.items():
        r = await api.post("/attacks/new", json={"command": {"type": kind, "args": args},
                                                 "target": {"type": "Exact", "hosts": {"ids": ["web-1"]}}})
        assert r.status_code == 201, (kind, r.text)
        assert gremlin.attack(r.text).command.type == kind
    assert gremlin.attack(r.text).command.length == 30


async def test_without_the_strict_length_rule_an_attack_runs_the_real_default_60s(clock: ManualClock) -> None:
    stand_in = GremlinStandIn(keys(), clients(), port=0, clock=clock.monotonic, require_length=False,
                              delays=StageDelays.instant())
    await stand_in.start()
    try:
        async with httpx.AsyncClient(base_url=stand_in.url, trust_env=False,
                                     headers={"Authorization": f"Key {keys()[0].secret}"}) as api:
            guid = await create(api, {"command": {"type": "cpu", "args": ["-c", "1"]},
                                      "target": {"type": "Exact", "hosts": {"ids": ["web-1"]}}})
            await clock.advance(59.5)
            assert await stage(api, guid) == "Running"
            await clock.advance(1)
            assert await stage(api, guid) == "Successful"
    finally:
        await stand_in.stop()


async def test_speed_makes_service_time_run_faster(clock: ManualClock) -> None:
    stand_in = GremlinStandIn(keys(), clients(), port=0, clock=clock.monotonic, speed=60.0,
                              delays=StageDelays.instant())
    await stand_in.start()
    try:
        async with httpx.AsyncClient(base_url=stand_in.url, trust_env=False,
                                     headers={"Authorization": f"Key {keys()[0].secret}"}) as api:
            guid = await create(api, cpu(60))
            await clock.advance(0.9)
            assert await stage(api, guid) == "Running"
            await clock.advance(0.2)  # 1.1 real seconds = 66 service seconds
            assert await stage(api, guid) == "Successful"
    finally:
        await stand_in.stop()


async def test_a_company_token_and_a_team_key_see_the_same_attack(api: httpx.AsyncClient,
                                                                  gremlin: GremlinStandIn) -> None:
    guid = await create(api, cpu())
    async with httpx.AsyncClient(base_url=gremlin.url, trust_env=False,
                                 headers={"Authorization": f"Bearer {COMPANY_TOKEN}"}) as company:
        r = await company.get(f"/attacks/{guid}", params={"teamId": "team-shop"})
        assert r.status_code == 200 and r.json()["guid"] == guid
        assert (await company.get(f"/attacks/{guid}", params={"teamId": OTHER_TEAM})).status_code == 404

"""Toxiproxy faults against the stand-in: every toxic type, names, revert of exactly ours, clobber, unleashed rule."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from controlroom.engine.gates import AutoFacilitator
from controlroom.engine.session import Session
from controlroom.errors import ScenarioError
from controlroom.faults.catalogue import PlanContext, build_plan
from controlroom.headless import run_session
from controlroom.lab.toxiproxy import ToxiproxyStandIn
from controlroom.scenario import load_scenario_text
from controlroom.scenario.model import FaultSpec, Target, ToxiproxyRef
from controlroom.targets.api import ApiExecutor
from controlroom.targets.base import ActionResult

SCENARIO = """\
version: 1
name: toxi
hypothesis: h
environment: test
unobserved: true
targets:
  p: {toxiproxy: {api: API, proxies: [shop]}}
blast_radius: {allowed_environments: [test]ALLOW}
steps:
  - id: slow
    confirm: false
    fault: {type: toxiproxy-latency, target: p, latency: 100ms}
    duration: 1s
"""


def scenario(api: str, allow: bool = True) -> str:
    return SCENARIO.replace("API", api).replace("ALLOW", ", allow_unleashed: [toxiproxy]" if allow else "")


@pytest.fixture
async def standin() -> ToxiproxyStandIn:
    s = ToxiproxyStandIn(port=0)
    await s.start()
    await s.create_proxy("shop", "127.0.0.1:0", "127.0.0.1:9")
    yield s  # type: ignore[misc]
    await s.stop()


def test_a_toxiproxy_fault_without_a_leash_is_refused_unless_the_blast_radius_allows_it() -> None:
    with pytest.raises(ScenarioError, match=r"would have no leash.*allow_unleashed: \[toxiproxy\]"):
        load_scenario_text(scenario("http://127.0.0.1:8474", allow=False), "t.yaml")
    load_scenario_text(scenario("http://127.0.0.1:8474", allow=True), "t.yaml")
    # With the SSH host named, the host leash is armed there: no consent needed.
    with_ssh = scenario("http://127.0.0.1:8474", allow=False).replace("proxies: [shop]", "proxies: [shop], ssh: h1")
    sc = load_scenario_text(with_ssh, "t.yaml")
    plan = build_plan(sc.steps[0].faults[0], sc.targets["p"], PlanContext("slow/0@p", 1.0, session="abc"))
    assert plan.leash is not None
    assert "127.0.0.1:8474/proxies/shop/toxics/cr-abc-slow_0_p" in plan.leash.arm(10).describe()


def test_names_in_api_paths_and_unknown_allowances_are_refused() -> None:
    bad = scenario("http://127.0.0.1:8474").replace("proxies: [shop]", "proxies: ['../reset']")
    with pytest.raises(ScenarioError, match=r"targets\.p\.toxiproxy\.proxies: proxy name '\.\./reset' must be"):
        load_scenario_text(bad, "t.yaml")
    with pytest.raises(ScenarioError, match=r"targets\.p\.toxiproxy\.api: Toxiproxy API URL"):
        load_scenario_text(scenario("ftp://127.0.0.1:8474"), "t.yaml")
    with pytest.raises(ScenarioError, match="not a backend"):
        load_scenario_text(scenario("http://x:1").replace("[toxiproxy]", "[gremlin]"), "t.yaml")


CASES = [
    ("toxiproxy-latency", {"latency": "250ms", "jitter": "20ms"}, "latency", {"latency": 250, "jitter": 20}),
    ("toxiproxy-bandwidth", {"rate": "800kbit"}, "bandwidth", {"rate": 100}),
    ("toxiproxy-slow-close", {"delay": "2s"}, "slow_close", {"delay": 2000}),
    ("toxiproxy-timeout", {"timeout": "0ms"}, "timeout", {"timeout": 0}),
    ("toxiproxy-reset-peer", {"timeout": "1s"}, "reset_peer", {"timeout": 1000}),
    ("toxiproxy-slicer", {"average_size": 64, "size_variation": 8, "delay": "10ms"}, "slicer",
     {"average_size": 64, "size_variation": 8, "delay": 10000}),
    ("toxiproxy-limit-data", {"bytes": "1k", "stream": "upstream", "toxicity": "50%"}, "limit_data", {"bytes": 1024}),
]


@pytest.mark.parametrize(("ftype", "params", "kind", "attrs"), CASES)
async def test_every_toxic_type_injects_reverts_and_verifies_leaving_other_toxics(
        standin: ToxiproxyStandIn, ftype: str, params: dict[str, object], kind: str, attrs: dict[str, int]) -> None:
    target = Target("p", "toxiproxy", toxiproxy=ToxiproxyRef(api=standin.url, proxies=("shop",)))
    plan = build_plan(FaultSpec(ftype, "p", params), target, PlanContext("s/0@p", 5.0, session="sess1"))
    ex = ApiExecutor("p")
    async with httpx.AsyncClient(trust_env=False) as c:
        await c.post(f"{standin.url}/proxies/shop/toxics", json={"name": "theirs", "type": "latency",
                                                                  "attributes": {"latency": 1}})
        try:
            for a in plan.inject:
                assert (await ex.run(a)).ok
            toxic = (await c.get(f"{standin.url}/proxies/shop/toxics/cr-sess1-s_0_p")).json()
            assert toxic["type"] == kind and {k: toxic["attributes"][k] for k in attrs} == attrs
            assert toxic["stream"] == params.get("stream", "downstream")
            assert toxic["toxicity"] == (0.5 if "toxicity" in params else 1)
            assert not (await ex.run(plan.verify[0])).ok  # verify fails while the toxic is there
            for a in plan.revert:
                assert (await ex.run(a)).ok
            assert (await ex.run(plan.verify[0])).ok
            assert (await ex.run(plan.revert[0])).ok  # idempotent: 404 counts as gone
            names = [t["name"] for t in (await c.get(f"{standin.url}/proxies/shop/toxics")).json()]
            assert names == ["theirs"]  # someone else's toxic is untouched
        finally:
            await ex.close()


async def test_toxiproxy_down_disables_then_reenables_verified(standin: ToxiproxyStandIn) -> None:
    target = Target("p", "toxiproxy", toxiproxy=ToxiproxyRef(api=standin.url, proxies=("shop",)))
    plan = build_plan(FaultSpec("toxiproxy-down", "p", {}), target, PlanContext("s/0@p", 5.0, session="x"))
    ex = ApiExecutor("p")
    try:
        assert (await ex.run(plan.inject[0])).ok
        assert standin.proxy("shop").enabled is False
        assert not (await ex.run(plan.verify[0])).ok
        assert (await ex.run(plan.revert[0])).ok and (await ex.run(plan.verify[0])).ok
        assert standin.proxy("shop").enabled is True
    finally:
        await ex.close()


async def test_preflight_refuses_a_proxy_carrying_another_sessions_toxic(standin: ToxiproxyStandIn,
                                                                        tmp_path: Path) -> None:
    async with httpx.AsyncClient(trust_env=False) as c:
        await c.post(f"{standin.url}/proxies/shop/toxics", json={"name": "cr-othersession-slow_0_p",
                                                                  "type": "latency", "attributes": {"latency": 1}})
    sc = load_scenario_text(scenario(standin.url), "t.yaml")
    session = Session(sc, journal_path=tmp_path / "j.jsonl", facilitator=AutoFacilitator(), control=False)
    outcome = await asyncio.wait_for(run_session(session), 30)
    assert outcome.outcome == "preflight-failed"
    assert "cr-othersession-slow_0_p" in outcome.message and "another session" in outcome.message
    assert [t.name for t in standin.proxy("shop").toxics.all()] == ["cr-othersession-slow_0_p"]


async def test_preflight_refuses_a_missing_or_disabled_proxy(standin: ToxiproxyStandIn, tmp_path: Path) -> None:
    await standin.proxy("shop").update(standin.proxy("shop").listen, standin.proxy("shop").upstream, False)
    sc = load_scenario_text(scenario(standin.url), "t.yaml")
    session = Session(sc, journal_path=tmp_path / "j.jsonl", facilitator=AutoFacilitator(), control=False)
    outcome = await asyncio.wait_for(run_session(session), 30)
    assert outcome.outcome == "preflight-failed" and "disabled" in outcome.message


async def test_a_toxiproxy_error_is_read_from_its_text_plain_json_body(standin: ToxiproxyStandIn) -> None:
    from controlroom.targets.base import HttpRequest

    ex = ApiExecutor("p")
    try:
        r: ActionResult = await ex.run(HttpRequest("GET", f"{standin.url}/proxies/nope"))
    finally:
        await ex.close()
    assert not r.ok and r.status == 404 and r.detail.endswith(": proxy not found")


async def test_an_api_answer_that_lacks_an_expected_json_key_is_refused_naming_it(standin: ToxiproxyStandIn) -> None:
    from controlroom.targets.base import HttpRequest

    ex = ApiExecutor("p")
    try:
        missing = await ex.run(HttpRequest("GET", f"{standin.url}/proxies", expect_json={"nope": 1}))
        refused = await ex.run(HttpRequest("GET", f"{standin.url}/proxies/nope"))
    finally:
        await ex.close()
    assert not missing.ok and missing.status == 200
    assert missing.detail == f"GET {standin.url}/proxies: response has no 'nope'"
    assert refused.detail == f"HTTP 404 from GET {standin.url}/proxies/nope: proxy not found"


async def test_emergency_stop_removes_the_sessions_toxics_verified(standin: ToxiproxyStandIn, tmp_path: Path) -> None:
    sc = load_scenario_text(scenario(standin.url).replace("duration: 1s", "duration: 5m"), "t.yaml")
    session = Session(sc, journal_path=tmp_path / "j.jsonl", facilitator=AutoFacilitator(), control=False)
    run = asyncio.ensure_future(run_session(session))
    for _ in range(200):  # bounded: 10 s
        if standin.proxy("shop").toxics.all() and all(af.state == "active" for af in session.rollback.active.values()):
            break
        await asyncio.sleep(0.05)
    assert [t.name for t in standin.proxy("shop").toxics.all()] == [f"cr-{session.session_id}-slow_0_p"]
    await session.emergency_stop("key", "test e-stop")
    outcome = await asyncio.wait_for(run, 60)
    assert outcome.unconfirmed == () and standin.proxy("shop").toxics.all() == []


async def test_recover_deletes_what_a_killed_room_left_by_its_session_name_and_nothing_else(
        standin: ToxiproxyStandIn, tmp_path: Path) -> None:
    import signal
    import sys

    from controlroom.engine.recover import recover

    path, journal = tmp_path / "t.yaml", tmp_path / "t.jsonl"
    path.write_text(scenario(standin.url).replace("duration: 1s", "duration: 5m"))
    room = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "controlroom", "run", "--headless", "--yes", "--journal", str(journal), str(path),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        for _ in range(400):  # bounded: 20 s
            if journal.exists() and '"fault-injected"' in journal.read_text():
                break
            await asyncio.sleep(0.05)
    finally:
        room.send_signal(signal.SIGKILL)
        await room.wait()
    async with httpx.AsyncClient(trust_env=False) as c:
        await c.post(f"{standin.url}/proxies/shop/toxics", json={"name": "theirs", "type": "latency",
                                                                  "attributes": {"latency": 1}})
    assert len(standin.proxy("shop").toxics.all()) == 2  # no leash: the dead room's toxic stays
    lines: list[str] = []
    assert await asyncio.to_thread(recover, str(journal), lines.append, yes=True) == 0, lines
    assert [t.name for t in standin.proxy("shop").toxics.all()] == ["theirs"]

"""Gremlin faults against the stand-in: every attack type, halt and verify, the key, pre-flight, e-stop, recover."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from controlroom.engine.gates import AutoFacilitator
from controlroom.engine.recover import recover
from controlroom.engine.session import Session
from controlroom.faults.catalogue import PlanContext, build_plan, catalogue
from controlroom.headless import run_session
from controlroom.lab.gremlin import ApiKey, Client, Container, GremlinStandIn, StageDelays
from controlroom.scenario import load_scenario_text
from controlroom.scenario.model import FaultSpec, GremlinRef, Target
from controlroom.targets.gremlin import GremlinExecutor

KEY, TEAM = "k-secret-4f9a2b7c", "team-shop"
SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "gremlin-cpu.yaml"


def clients() -> list[Client]:
    return [Client("web-1", TEAM, tags={"service": "shop"}, containers=[Container("c-web-1", "checkout", {"app": "co"})]),
            Client("web-2", TEAM, tags={"service": "shop"}),
            Client("db-1", TEAM, tags={"service": "db"}),
            Client("web-9", TEAM, state="IDLE", tags={"service": "shop"})]


@pytest.fixture
async def gremlin(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[GremlinStandIn]:
    s = GremlinStandIn([ApiKey(KEY, TEAM)], clients(), port=0, delays=StageDelays.instant(), seed=1)
    await s.start()
    monkeypatch.setenv("GREMLIN_API_KEY", KEY)
    yield s
    await s.stop()


def target(api: str, **kw: object) -> Target:
    ref = GremlinRef(api=api, team=TEAM, key_env="GREMLIN_API_KEY", **kw)  # type: ignore[arg-type]
    return Target("web", "gremlin", gremlin=ref)


ARGS: dict[str, dict[str, object]] = {
    "cpu": {"cores": 2, "percent": "50%"}, "memory": {"amount": "512M"}, "disk": {"percent": "90%", "block_size": "4k"},
    "io": {"mode": "r", "workers": 2}, "shutdown": {"delay": "2m", "reboot": True}, "time_travel": {"offset": "1h"},
    "process_killer": {"process": "nginx", "interval": "5s"}, "blackhole": {"ports": "^53,443", "protocol": "TCP"},
    "dns": {"protocol": "UDP"}, "latency": {"delay": "100ms", "ports": 5432},
    "packet_loss": {"rate": "10%", "corrupt": True, "ips": ["10.0.0.1", "10.0.0.2"]},
}


def test_every_attack_type_is_registered() -> None:
    assert {n for n in catalogue() if n.startswith("gremlin-")} == {f"gremlin-{k}" for k in ARGS}


@pytest.mark.parametrize("kind", sorted(ARGS))
async def test_every_attack_type_is_created_halted_and_verified(gremlin: GremlinStandIn, kind: str) -> None:
    plan = build_plan(FaultSpec(f"gremlin-{kind}", "web", ARGS[kind]), target(gremlin.url, hosts=("web-1",)),
                      PlanContext("s/0@web", 30.0, leash_window=10.0, session="sess"))
    ex = GremlinExecutor(target(gremlin.url, hosts=("web-1",)))
    try:
        created = await ex.run(plan.inject[0])
        assert created.ok, created.detail
        attack = gremlin.attacks[created.stdout]
        assert attack.command.length == (None if kind == "shutdown" else 40)  # step 30s + leash 10s
        assert not (await ex.run(plan.verify[0])).ok  # running: not clean
        assert (await ex.run(plan.revert[0])).ok
        assert (await ex.run(plan.verify[0])).ok
        assert attack.stage(gremlin.now()) == "UserHalted"
    finally:
        await ex.close()


SMALL = """\
version: 1
name: g
hypothesis: h
environment: test
unobserved: true
targets:
  web: {gremlin: {api: APIURL, team: team-shop, key_env: GREMLIN_API_KEY, hosts: [web-1]}}
  db: {gremlin: {api: APIURL, team: team-shop, key_env: GREMLIN_API_KEY, tags: {service: db}}}
blast_radius: {allowed_environments: [test], max_targets: 2}
steps:
  - id: burn
    confirm: false
    faults:
      - {type: gremlin-cpu, target: web, cores: 1}
      - {type: gremlin-latency, target: db, delay: 100ms}
    duration: DURATION
"""


def small(api: str, duration: str = "1s") -> str:
    return SMALL.replace("APIURL", api).replace("DURATION", duration)


async def test_a_session_attacks_halts_verifies_and_never_journals_the_key(gremlin: GremlinStandIn,
                                                                          tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    session = Session(load_scenario_text(small(gremlin.url), "g.yaml"), journal_path=journal,
                      facilitator=AutoFacilitator(), control=False)
    outcome = await asyncio.wait_for(run_session(session), 60)
    assert (outcome.outcome, outcome.unconfirmed) == ("unobserved", ()), outcome.message
    assert len(gremlin.attacks) == 2
    assert {a.stage(gremlin.now()) for a in gremlin.attacks.values()} == {"UserHalted"}
    text = journal.read_text()
    assert KEY not in text
    events = [json.loads(line) for line in text.splitlines()]
    handles = {e.get("handle") for e in events if e.get("type") == "fault-injected"}
    assert handles == set(gremlin.attacks)  # each guid journaled, for recover
    assert sum(1 for e in events if e.get("type") == "fault-reverted" and e.get("verified")) == 2


async def test_a_bad_key_fails_preflight_in_one_line_without_showing_it(gremlin: GremlinStandIn, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREMLIN_API_KEY", "k-wrong-77")
    journal = tmp_path / "j.jsonl"
    session = Session(load_scenario_text(small(gremlin.url), "g.yaml"), journal_path=journal,
                      facilitator=AutoFacilitator(), control=False)
    outcome = await asyncio.wait_for(run_session(session), 60)
    assert outcome.outcome == "preflight-failed" and outcome.exit_code == 2
    assert "GREMLIN_API_KEY" in outcome.message and "not valid for team team-shop" in outcome.message
    assert "\n" not in outcome.message and "k-wrong-77" not in journal.read_text()
    assert gremlin.attacks == {}


async def test_preflight_refuses_targets_that_are_missing_idle_or_already_attacked(gremlin: GremlinStandIn,
                                                                                   tmp_path: Path) -> None:
    idle = small(gremlin.url).replace("hosts: [web-1]", "hosts: [web-9]")
    session = Session(load_scenario_text(idle, "g.yaml"), journal_path=tmp_path / "a.jsonl",
                      facilitator=AutoFacilitator(), control=False)
    outcome = await asyncio.wait_for(run_session(session), 60)
    assert outcome.outcome == "preflight-failed" and "web-9" in outcome.message
    async with httpx.AsyncClient(base_url=gremlin.url, headers={"Authorization": f"Key {KEY}"}) as c:
        r = await c.post("/attacks/new", json={"command": {"type": "cpu", "args": ["-l", "300"]},
                                               "target": {"type": "Exact", "hosts": {"ids": ["web-1"]}}})
        assert r.status_code == 201
    session = Session(load_scenario_text(small(gremlin.url), "g.yaml"), journal_path=tmp_path / "b.jsonl",
                      facilitator=AutoFacilitator(), control=False)
    outcome = await asyncio.wait_for(run_session(session), 60)
    assert outcome.outcome == "preflight-failed" and f"attack {r.text}" in outcome.message
    assert len(gremlin.attacks) == 1  # nothing of ours was created


async def test_emergency_stop_halts_every_attack_of_the_session_in_parallel_verified(gremlin: GremlinStandIn,
                                                                                     tmp_path: Path) -> None:
    session = Session(load_scenario_text(small(gremlin.url, "5m"), "g.yaml"), journal_path=tmp_path / "j.jsonl",
                      facilitator=AutoFacilitator(), control=False)
    run = asyncio.ensure_future(run_session(session))
    for _ in range(200):  # bounded: 10 s
        if len(gremlin.attacks) == 2 and all(af.state == "active" for af in session.rollback.active.values()):
            break
        await asyncio.sleep(0.05)
    assert len(gremlin.attacks) == 2
    await session.emergency_stop("key", "test e-stop")
    outcome = await asyncio.wait_for(run, 60)
    assert outcome.unconfirmed == ()
    assert {a.stage(gremlin.now()) for a in gremlin.attacks.values()} == {"UserHalted"}


async def test_a_killed_room_leaves_attacks_that_recover_halts_by_journaled_guid_or_that_end_at_their_length(
        gremlin: GremlinStandIn, tmp_path: Path) -> None:
    journal, scenario = tmp_path / "j.jsonl", tmp_path / "g.yaml"
    scenario.write_text(small(gremlin.url, "5m"))
    room = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "controlroom", "run", "--headless", "--yes", "--journal", str(journal), str(scenario),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        for _ in range(400):  # bounded: 20 s
            if journal.exists() and journal.read_text().count('"fault-injected"') == 2:
                break
            await asyncio.sleep(0.05)
    finally:
        room.send_signal(signal.SIGKILL)  # the room dies mid-step: nothing of it reverts anything
        await room.wait()
    attacks = list(gremlin.attacks.values())
    assert len(attacks) == 2 and {a.stage(gremlin.now()) for a in attacks} == {"Running"}
    # The service-side leash: each attack ends by itself at its length (the step's 5m + the 10s leash).
    assert {a.command.length for a in attacks} == {310}
    lines: list[str] = []
    code = await asyncio.to_thread(recover, str(journal), lines.append, yes=True)
    assert code == 0, lines
    assert {a.stage(gremlin.now()) for a in gremlin.attacks.values()} == {"UserHalted"}


async def test_an_attack_ends_by_itself_at_its_length(monkeypatch: pytest.MonkeyPatch) -> None:
    from controlroom.clock import ManualClock

    clock = ManualClock()
    s = GremlinStandIn([ApiKey(KEY, TEAM)], clients(), port=0, clock=clock.monotonic, delays=StageDelays.instant())
    await s.start()
    ex = GremlinExecutor(target(s.url, hosts=("web-1",)))
    try:
        monkeypatch.setenv("GREMLIN_API_KEY", KEY)
        plan = build_plan(FaultSpec("gremlin-cpu", "web", {}), target(s.url, hosts=("web-1",)),
                          PlanContext("s/0@web", 20.0, leash_window=10.0, session="x"))
        guid = (await ex.run(plan.inject[0])).stdout
        await clock.advance(29.0)
        assert s.attacks[guid].stage(s.now()) == "Running"
        await clock.advance(2.0)
        assert s.attacks[guid].stage(s.now()) == "Successful"
        assert (await ex.run(plan.verify[0])).ok  # finished by itself: verified clean
    finally:
        await ex.close()
        await s.stop()


async def test_an_attack_still_halting_is_not_verified_until_it_has_halted(monkeypatch: pytest.MonkeyPatch) -> None:
    from controlroom.clock import ManualClock

    clock = ManualClock()
    s = GremlinStandIn([ApiKey(KEY, TEAM)], clients(), port=0, clock=clock.monotonic)  # 0.2 s per stage
    await s.start()
    monkeypatch.setenv("GREMLIN_API_KEY", KEY)
    ex = GremlinExecutor(target(s.url, hosts=("web-1",)))
    try:
        plan = build_plan(FaultSpec("gremlin-cpu", "web", {}), target(s.url, hosts=("web-1",)),
                          PlanContext("s/0@web", 20.0, leash_window=10.0, session="x"))
        guid = (await ex.run(plan.inject[0])).stdout
        await clock.advance(1.0)
        assert s.attacks[guid].stage(s.now()) == "Running"
        assert (await ex.run(plan.revert[0])).ok
        halting = await ex.run(plan.verify[0])
        assert not halting.ok and "Halt" in halting.detail  # Halt / HaltDistributed: lifecycle Halting
        await clock.advance(1.0)
        assert (await ex.run(plan.verify[0])).ok
        assert s.attacks[guid].stage(s.now()) == "UserHalted"
    finally:
        await ex.close()
        await s.stop()


async def test_the_key_is_read_from_a_key_file_and_a_missing_file_is_one_line(gremlin: GremlinStandIn,
                                                                             tmp_path: Path) -> None:
    keyfile = tmp_path / "gremlin.key"
    keyfile.write_text(KEY + "\n")
    plan = build_plan(FaultSpec("gremlin-cpu", "web", {}), target(gremlin.url, hosts=("web-1",)),
                      PlanContext("s/0@web", 5.0, session="kf"))
    for path, ok in ((keyfile, True), (tmp_path / "missing.key", False)):
        ref = GremlinRef(api=gremlin.url, team=TEAM, key_file=str(path), hosts=("web-1",))
        ex = GremlinExecutor(Target("web", "gremlin", gremlin=ref))
        try:
            result = await ex.run(plan.requires[0].check)
        finally:
            await ex.close()
        assert result.ok is ok
        if not ok:
            assert "cannot read the Gremlin API key file" in result.error and "\n" not in result.error

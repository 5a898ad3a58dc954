"""scenarios/fleet-zone-dark-gremlin.yaml as shipped (template line and placeholders swapped for the stand-in),
against the Gremlin stand-in with 200 agents in two zones: one attack hits exactly the 100 zone-b agents, is
halted and verified, and no zone-a agent is touched."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from controlroom.engine.gates import AutoFacilitator
from controlroom.engine.session import Session
from controlroom.headless import build_sources, run_session
from controlroom.lab.gremlin import ApiKey, Client, GremlinStandIn, StageDelays
from controlroom.scenario import load_scenario_text
from tests.front_server import for_test, front_server

KEY, TEAM = "k-fleet-5e1d0c", "team-shop"
SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "fleet-zone-dark-gremlin.yaml"


@pytest.fixture
def front() -> Iterator[str]:
    with front_server() as url:
        yield url


async def test_the_gremlin_way_halts_one_attack_on_exactly_zone_b(tmp_path: Path, front: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    agents = [Client(f"h{i}", TEAM, tags={"zone": "a" if i <= 100 else "b"}) for i in range(1, 201)]
    gremlin = GremlinStandIn([ApiKey(KEY, TEAM)], agents, port=0, delays=StageDelays.instant(), seed=3)
    await gremlin.start()
    monkeypatch.setenv("GREMLIN_API_KEY", KEY)
    try:
        text = for_test(SCENARIO.read_text(), front).replace("team: team-shop", f"team: team-shop\n      api: {gremlin.url}")
        scenario = load_scenario_text(text, "fleet-zone-dark-gremlin.yaml")
        journal = tmp_path / "j.jsonl"
        session = Session(scenario, journal_path=journal, facilitator=AutoFacilitator(), control=False,
                          sources=build_sources(scenario))
        outcome = await asyncio.wait_for(run_session(session), 60)
        assert (outcome.outcome, outcome.unconfirmed) == ("held", ()), outcome.message
        [attack] = gremlin.attacks.values()
        assert sorted(attack.targets) == sorted(f"h{i}" for i in range(101, 201))
        assert attack.stage(gremlin.now()) == "UserHalted"
        events = [json.loads(line) for line in journal.read_text().splitlines()[1:]]
        assert [e["verified"] for e in events if e["type"] == "fault-reverted"] == [True]
        assert KEY not in journal.read_text()
    finally:
        await gremlin.stop()

"""Toxiproxy faults end to end: the demo shop behind the stand-in, the real prober, engine and journal."""

from __future__ import annotations

from pathlib import Path

import httpx

from controlroom.engine.gates import AutoFacilitator
from controlroom.engine.session import Session
from controlroom.headless import build_sources, run_session
from controlroom.journal import read_journal
from controlroom.lab.toxi_demo import SCENARIO, toxiproxy_demo
from controlroom.scenario import load_scenario_text


async def test_latency_shows_then_the_timeout_trips_the_stop_and_the_rollback_removes_it(tmp_path: Path) -> None:
    journal = tmp_path / "toxi.jsonl"
    async with toxiproxy_demo(api_port=0, listen_port=0) as demo:
        scenario = load_scenario_text(demo.scenario_text(SCENARIO.read_text()), str(SCENARIO))
        session = Session(scenario, journal_path=journal, facilitator=AutoFacilitator(),
                          sources=build_sources(scenario))
        outcome = await run_session(session)
        async with httpx.AsyncClient(trust_env=False) as client:
            proxy = (await client.get(f"{demo.api}/proxies/shop")).json()
            # The revert really removed the latency: a request through the proxy is fast again.
            answer = await client.get(f"http://{demo.listen}/checkout", timeout=2.0)
    assert proxy["toxics"] == [] and proxy["enabled"] is True
    assert answer.status_code == 200 and answer.elapsed.total_seconds() < 0.12
    assert (outcome.outcome, outcome.unconfirmed) == ("rolled-back", ())

    events = read_journal(journal).events
    completed = {e.data["step"]: e.data["outcome"] for e in events if e.type == "step-completed"}
    assert completed == {"baseline": "passed", "slow-link": "passed", "hang": "rolled-back"}
    reverted = [e.data for e in events if e.type == "fault-reverted"]
    assert len(reverted) == 2 and all(r["verified"] for r in reverted)
    # The prober saw the latency: p99 through the proxy rose by most of the 150 ms toxic.
    observed = next(e for e in events if e.type == "observed" and e.data["step"] == "slow-link")
    p99 = observed.data["series"]["shop.p99_ms"]
    assert p99["during"] > p99["before"] + 100
    # Toxic names carry the session id (what the revert deletes, and nothing else).
    injecting = [e for e in events if e.type == "fault-injecting"]
    assert all(session.session_id in e.data["summary"] for e in injecting)

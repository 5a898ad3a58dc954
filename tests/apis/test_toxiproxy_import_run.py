"""An imported chaostoolkit-toxiproxy experiment, run: the translated toxic lands on the stand-in and is reverted.

The experiment is written here (not copied), with the stand-in's real ports in its configuration, as a team's
toxiproxy_host / toxiproxy_port would be. The stand-in has no ssh host, so the import is told --allow-unleashed
(the explicit consent); only the steady-state window is shortened, to keep the test fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from controlroom.engine.gates import AutoFacilitator
from controlroom.engine.session import Session
from controlroom.headless import build_sources, run_session
from controlroom.importers.chaostoolkit import import_experiment, read_mapping
from controlroom.journal import read_journal
from controlroom.lab.toxi_demo import toxiproxy_demo
from controlroom.scenario import load_scenario_text


def _experiment(api: str, listen: str) -> dict[str, object]:
    host, port = api.removeprefix("http://").rsplit(":", 1)
    return {
        "title": "Checkout survives a slow shop link",
        "configuration": {"toxiproxy_host": host, "toxiproxy_port": int(port)},
        "steady-state-hypothesis": {"title": "checkout answers", "probes": [
            {"type": "probe", "name": "checkout", "tolerance": 200,
             "provider": {"type": "http", "url": f"http://{listen}/checkout", "timeout": 1}}]},
        "method": [{"type": "action", "name": "slow-shop", "pauses": {"after": 3},
                    "provider": {"type": "python", "module": "chaostoxi.toxic.actions", "func": "create_latency_toxic",
                                 "arguments": {"for_proxy": "shop", "toxic_name": "slow", "latency": 150}}}],
        "rollbacks": [{"type": "action", "name": "unslow-shop",
                       "provider": {"type": "python", "module": "chaostoxi.toxic.actions", "func": "delete_toxic",
                                    "arguments": {"for_proxy": "shop", "toxic_name": "slow"}}}],
    }


async def test_an_imported_latency_toxic_is_injected_on_the_stand_in_and_reverted(tmp_path: Path) -> None:
    journal = tmp_path / "imported.jsonl"
    async with toxiproxy_demo(api_port=0, listen_port=0) as demo:
        exp = tmp_path / "exp.json"
        exp.write_text(json.dumps(_experiment(demo.api, demo.listen)))
        result = import_experiment(str(exp), read_mapping("", allow_unleashed=True), env={})
        text = result.text.replace("steady_state:\n", "steady_state:\n  window: 2s\n", 1)
        scenario = load_scenario_text(text, "imported.yaml")
        session = Session(scenario, journal_path=journal, facilitator=AutoFacilitator(),
                          sources=build_sources(scenario))
        outcome = await run_session(session)
        async with httpx.AsyncClient(trust_env=False) as client:
            proxy = (await client.get(f"{demo.api}/proxies/shop")).json()
    assert proxy["toxics"] == [] and proxy["enabled"] is True  # the room's revert removed it
    assert (outcome.outcome, outcome.unconfirmed) == ("held", ())  # the hypothesis held through the latency
    events = read_journal(journal).events
    completed = {e.data["step"]: e.data["outcome"] for e in events if e.type == "step-completed"}
    assert completed == {"slow-shop": "passed"}
    injected = [e.data for e in events if e.type == "fault-injecting"]
    assert len(injected) == 1 and "150ms" in injected[0]["summary"]
    reverted = [e.data for e in events if e.type == "fault-reverted"]
    assert len(reverted) == 1 and reverted[0]["verified"]
    observed = next(e for e in events if e.type == "observed" and e.data["step"] == "slow-shop")
    p99 = observed.data["series"]["checkout.p99_ms"]
    assert p99["during"] > p99["before"] + 100  # the toxic really slowed the link

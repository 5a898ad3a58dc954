"""The e-stop key in the room halts a Gremlin attack and removes a toxic, both verified (a Textual pilot)."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlroom.app.app import ControlRoomApp
from controlroom.app.feeds import LiveFeed
from controlroom.engine.gates import InteractiveFacilitator
from controlroom.engine.session import Session
from controlroom.journal.reader import read_journal
from controlroom.lab.gremlin import ApiKey, Client, GremlinStandIn, StageDelays
from controlroom.lab.toxiproxy import ToxiproxyStandIn
from controlroom.scenario import load_scenario_text
from tests.tui.conftest import screen_text
from tests.tui.test_live_session import until

SCENARIO = """\
version: 1
name: api-estop
hypothesis: h
environment: test
unobserved: true
targets:
  web: {{gremlin: {{api: "{gremlin}", team: team-1, key_env: GREMLIN_TUI_KEY, hosts: [web-1]}}}}
  proxy: {{toxiproxy: {{api: "{toxi}", proxies: [shop]}}}}
blast_radius: {{allowed_environments: [test], max_targets: 2, allow_unleashed: [toxiproxy]}}
steps:
  - id: both
    title: CPU on web-1 and latency through the proxy
    faults:
      - {{type: gremlin-cpu, target: web, cores: 1}}
      - {{type: toxiproxy-latency, target: proxy, latency: 200ms}}
    duration: 5m
"""


async def test_the_stop_key_halts_the_attack_and_removes_the_toxic_verified(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREMLIN_TUI_KEY", "k-tui")
    gremlin = GremlinStandIn([ApiKey("k-tui", "team-1")], [Client("web-1", "team-1")], port=0,
                             delays=StageDelays.instant())
    toxi = ToxiproxyStandIn(port=0)
    await gremlin.start()
    await toxi.start()
    await toxi.create_proxy("shop", "127.0.0.1:0", "127.0.0.1:9")
    journal = tmp_path / "live.jsonl"
    try:
        scenario = load_scenario_text(SCENARIO.format(gremlin=gremlin.url, toxi=toxi.url), "s.yaml")
        facilitator = InteractiveFacilitator()
        session = Session(scenario, journal_path=journal, facilitator=facilitator, control=False)
        app = ControlRoomApp(LiveFeed(session, facilitator))
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: facilitator.pending is not None and app.state.active_gate(), "the gate opens")
            await pilot.press("c")
            await until(pilot, lambda: len(gremlin.attacks) == 1 and bool(toxi.proxy("shop").toxics.all())
                        and all(af.state == "active" for af in session.rollback.active.values()), "both injected")
            await until(pilot, lambda: app.state.targets["web"].state == "faulted"
                        and app.state.targets["proxy"].state == "faulted", "the blast-radius pane shows both faulted")
            await pilot.press("exclamation_mark")
            await until(pilot, lambda: app.state.ended, "the session ends")
            await pilot.pause()
            assert app.state.rollback is not None and app.state.rollback.verdict == "all clean"
            assert "VERDICT: all clean" in screen_text(app)
            await pilot.press("q")
        assert [a.stage(gremlin.now()) for a in gremlin.attacks.values()] == ["UserHalted"]
        assert toxi.proxy("shop").toxics.all() == []
        types = [e.type for e in read_journal(journal).events]
        assert types.index("fault-injected") < types.index("emergency-stop") < types.index("session-ended")
    finally:
        await gremlin.stop()
        await toxi.stop()

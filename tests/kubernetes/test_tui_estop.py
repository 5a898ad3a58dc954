"""Pilot: the room on a Kubernetes scenario — confirm the step, see the pods, press the e-stop; the Chaos Mesh
object is deleted and verified gone, and the room says all clean."""

from __future__ import annotations

from pathlib import Path

from controlroom.app.app import ControlRoomApp
from controlroom.app.feeds import LiveFeed
from controlroom.engine.gates import InteractiveFacilitator
from controlroom.journal.reader import read_journal
from controlroom.lab.kube import SimulatedCluster
from tests.kubernetes.kit import scenario, session, target_yaml
from tests.tui.conftest import screen_text
from tests.tui.test_live_session import until

STEP = """\
- id: slow
  title: Slow two checkout pods
  duration: 60s
  fault: {type: chaos-network-delay, target: checkout, latency: 200ms}
"""


async def test_the_estop_key_reverts_a_chaos_mesh_step_and_the_room_shows_its_pods(
        kube_sample: SimulatedCluster, kubeconfig: Path, tmp_path: Path) -> None:
    sc = scenario(tmp_path, target_yaml(kubeconfig, extra=", mode: fixed, value: '2'"), STEP)
    facilitator = InteractiveFacilitator()
    s = session(sc, tmp_path, facilitator=facilitator)
    app = ControlRoomApp(LiveFeed(s, facilitator))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: facilitator.pending is not None and app.state.active_gate(), "the gate opens")
        await pilot.press("c")
        await until(pilot, lambda: set(app.state.targets["checkout"].pods.values()) == {"injected"}, "pods injected")
        assert kube_sample.objects("networkchaos", "shop", group="chaos-mesh.org")
        assert "▪ shop/checkout-" in screen_text(app)
        await pilot.press("exclamation_mark")
        await until(pilot, lambda: app.state.ended, "the session ends")
        await pilot.pause()
        assert app.state.rollback is not None and app.state.rollback.verdict == "all clean"
        assert set(app.state.targets["checkout"].pods.values()) == {"recovered"}
        await pilot.press("q")
    assert kube_sample.objects("networkchaos", "shop", group="chaos-mesh.org") == []
    types = [e.type for e in read_journal(tmp_path / "j.jsonl").events]
    assert types.index("fault-selected") < types.index("fault-injected") < types.index("emergency-stop")

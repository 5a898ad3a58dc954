"""The e-stop on Kubernetes faults goes through the one rollback path: every chaos object of the session, in
every namespace, deleted in parallel and verified gone; a pod-kill step needs nothing reverted."""

from __future__ import annotations

import asyncio
from pathlib import Path

from controlroom.journal.events import Event
from controlroom.lab.kube import SimulatedCluster
from tests.kubernetes.kit import events, scenario, session, target_yaml

STEPS = """\
- id: storm
  title: storm
  confirm: false
  duration: 60s
  faults:
    - {type: chaos-network-delay, target: shop, latency: 100ms}
    - {type: chaos-stress-cpu, target: shop, load: 50%}
    - {type: chaos-pod-failure, target: web}
"""


async def test_the_estop_deletes_every_chaos_object_across_namespaces_and_verifies_each(
        kube_sample: SimulatedCluster, kubeconfig: Path, tmp_path: Path) -> None:
    kube_sample.add_sample(namespace="web", name="web")
    await kube_sample.wait_ready("web", "web", timeout=10)
    targets = (target_yaml(kubeconfig, name="shop", extra=", mode: one")
               + target_yaml(kubeconfig, name="web", namespace="web", selector="app=web", extra=", mode: one"))
    s = session(scenario(tmp_path, targets, STEPS), tmp_path)
    injected: list[str] = []
    all_in = asyncio.Event()

    def listen(event: Event) -> None:
        if event.type == "fault-injected":
            injected.append(event.data["fault"])
            if len(injected) == 3:
                all_in.set()

    s.subscribe(listen)
    task = asyncio.ensure_future(s.run())
    async with asyncio.timeout(20):
        await all_in.wait()
    live = [("networkchaos", "shop"), ("stresschaos", "shop"), ("podchaos", "web")]
    assert all(kube_sample.objects(p, ns, group="chaos-mesh.org") for p, ns in live)
    await s.emergency_stop("key", "test e-stop")
    async with asyncio.timeout(20):
        outcome = await task
    assert outcome.unconfirmed == ()
    assert all(kube_sample.objects(p, ns, group="chaos-mesh.org") == [] for p, ns in live)
    evs = events(tmp_path)
    started = next(e for e in evs if e.type == "rollback-started")
    assert len(started.data["faults"]) == 3
    reverted = [e.data for e in evs if e.type == "fault-reverted"]
    assert len(reverted) == 3 and all(r["verified"] for r in reverted)
    assert next(e for e in evs if e.type == "rollback-finished").data["clean"] is True

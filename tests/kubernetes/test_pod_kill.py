"""Native pod-kill on the simulated cluster: selection journaled before the kill, verified by the workload."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from controlroom.lab.kube import SimulatedCluster
from tests.kubernetes.kit import events, run, scenario, session, target_yaml

KILL = """\
- id: kill
  title: kill 40% of checkout
  confirm: false
  fault: {type: pod-kill, target: checkout, grace_period: 0, recovery_wait: 10s}
"""


async def test_pod_kill_deletes_exactly_the_journaled_pods_and_is_verified_when_the_workload_is_back(
        kube_sample: SimulatedCluster, kubeconfig: Path, tmp_path: Path) -> None:
    before = {p["metadata"]["uid"]: p["metadata"]["name"] for p in kube_sample.pods("shop")}
    sc = scenario(tmp_path, target_yaml(kubeconfig, extra=", mode: fixed-percent, value: 40%"), KILL)
    outcome = await run(session(sc, tmp_path))
    assert outcome.exit_code == 0, outcome
    evs = events(tmp_path)
    types = [e.type for e in evs]
    assert types.index("fault-injecting") < types.index("fault-selected") < types.index("fault-injected")
    selected = next(e for e in evs if e.type == "fault-selected").data
    assert selected["matched"] == 5 and selected["mode"] == "fixed-percent 40%"
    chosen = {p["uid"] for p in selected["pods"]}
    assert len(chosen) == 2 and chosen <= set(before)  # ceil(40% of 5), by uid, among the pods that were there
    after = {p["metadata"]["uid"] for p in kube_sample.pods("shop")}
    assert not chosen & after  # exactly those were killed...
    assert set(before) - chosen <= after  # ...and no other
    reverted = next(e for e in evs if e.type == "fault-reverted").data
    assert reverted["verified"] is True and reverted["recovered_s"] >= 0
    assert len(kube_sample.ready_pods("shop")) >= 5
    # The post-mortem names the pods the selection chose and how long the workload took to be ready again.
    from controlroom.journal.reader import read_journal
    from controlroom.report.build import build_report
    from controlroom.report.render import render_html, render_markdown

    report = build_report(read_journal(tmp_path / "j.jsonl"))
    (fault,) = report["faults"]
    names = {f"{p['namespace']}/{p['name']}" for p in selected["pods"]}
    assert set(fault["pods"]) == names and fault["recovered_s"] == round(reverted["recovered_s"], 3)
    for text in (render_markdown(report), render_html(report)):
        assert all(name in text for name in names) and "ready again in" in text


async def test_a_selector_that_matches_nothing_fails_preflight_with_a_message(
        kube_sample: SimulatedCluster, kubeconfig: Path, tmp_path: Path) -> None:
    sc = scenario(tmp_path, target_yaml(kubeconfig, selector="app=nothing"), KILL)
    outcome = await run(session(sc, tmp_path))
    assert outcome.outcome == "preflight-failed" and outcome.exit_code == 2
    assert "selector 'app=nothing' matches no pod in shop" in outcome.message


async def test_rbac_denied_is_a_preflight_message(kube_sample: SimulatedCluster, kubeconfig: Path,
                                                  tmp_path: Path) -> None:
    kube_sample.rbac.deny("delete", "pods", namespaces="shop")
    sc = scenario(tmp_path, target_yaml(kubeconfig), KILL)
    outcome = await run(session(sc, tmp_path))
    assert outcome.exit_code == 2
    checks = [e.data for e in events(tmp_path) if e.type == "preflight-check" and e.data.get("check") == "rbac"]
    assert checks and checks[-1]["ok"] is False
    assert "RBAC does not allow: delete pods in shop" in checks[-1]["detail"]
    assert len(kube_sample.ready_pods("shop")) == 5  # nothing was killed


async def test_a_context_missing_from_the_kubeconfig_is_a_one_line_preflight_failure(
        kube_sample: SimulatedCluster, kubeconfig: Path, tmp_path: Path) -> None:
    sc = scenario(tmp_path, target_yaml(kubeconfig).replace("controlroom-sim", "prod-eu"), KILL)
    outcome = await run(session(sc, tmp_path))
    assert outcome.exit_code == 2
    assert "context 'prod-eu' is not in the kubeconfig" in outcome.message
    assert "\n" not in outcome.message


async def test_the_blast_radius_counts_pods_and_refuses_more_than_max_pods(
        kube_sample: SimulatedCluster, kubeconfig: Path, tmp_path: Path) -> None:
    sc = scenario(tmp_path, target_yaml(kubeconfig, extra=", mode: fixed-percent, value: 60%"), KILL)
    sc = replace(sc, blast_radius=replace(sc.blast_radius, max_pods=2))
    outcome = await run(session(sc, tmp_path))
    assert outcome.exit_code == 2
    assert ("blast radius: 3 of 5 pods would be hit (fixed-percent 60% of 'app=checkout'), over "
            "blast_radius.max_pods 2") in outcome.message
    assert len(kube_sample.ready_pods("shop")) == 5


async def test_preflight_journals_how_many_pods_and_namespaces_the_selection_hits(
        kube_sample: SimulatedCluster, kubeconfig: Path, tmp_path: Path) -> None:
    sc = scenario(tmp_path, target_yaml(kubeconfig, extra=", mode: fixed-percent, value: 40%"), KILL)
    outcome = await run(session(sc, tmp_path))
    assert outcome.exit_code == 0
    check = next(e.data for e in events(tmp_path) if e.type == "preflight-check"
                 and e.data.get("check") == "selector matches")
    assert check["detail"] == "2 of 5 pods in 1 namespace(s): shop"


async def test_the_selection_is_in_the_journal_before_any_pod_is_deleted(
        kube_sample: SimulatedCluster, kubeconfig: Path, tmp_path: Path) -> None:
    from controlroom.targets.base import ActionResult, KubeCall
    from controlroom.targets.kubernetes import KubeExecutor

    journal = tmp_path / "j.jsonl"
    seen: list[bool] = []

    class Spy(KubeExecutor):
        async def op_pod_kill(self, call: KubeCall) -> ActionResult:
            seen.append('"type":"fault-selected"' in journal.read_text())
            return await super().op_pod_kill(call)

    sc = scenario(tmp_path, target_yaml(kubeconfig, extra=", mode: one"), KILL)
    outcome = await run(session(sc, tmp_path, executor_factory=Spy))
    assert outcome.exit_code == 0 and seen == [True]

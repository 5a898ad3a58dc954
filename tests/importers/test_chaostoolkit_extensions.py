"""`controlroom import chaostoolkit`: chaosk8s pod actions -> pod-kill, chaostoolkit-toxiproxy -> toxiproxy-* faults.

The experiments in experiments/ (k8s-*.yaml, toxi-*.json) were written for these tests. Round trips go import ->
validate (load_scenario_text, the room's own validation) -> plan; refusals are one located line each.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from controlroom.engine.planning import plan_scenario
from controlroom.faults.plan import FaultPlan
from controlroom.importers.chaostoolkit import ExperimentError, Mapping_, import_experiment, read_mapping
from controlroom.scenario import load_scenario_text
from controlroom.scenario.model import Scenario

EXP = Path(__file__).resolve().parent / "experiments"


def _round_trip(name: str, mapping: Mapping_) -> tuple[str, Scenario]:
    result = import_experiment(str(EXP / name), mapping, env={})
    return result.text, load_scenario_text(result.text, "imported.yaml")


def _problems(name: str, mapping: Mapping_) -> list[str]:
    with pytest.raises(ExperimentError) as err:
        import_experiment(str(EXP / name), mapping, env={})
    return [str(p).removeprefix(f"{EXP}/") for p in err.value.problems]


def _plans(sc: Scenario) -> dict[str, list[FaultPlan]]:
    return {sp.step.id: list(sp.faults) for sp in plan_scenario(sc)}


# ---- chaosk8s ------------------------------------------------------------------------------------------------


def test_terminate_pods_becomes_pod_kill_on_a_kubernetes_target_with_the_same_count() -> None:
    text, sc = _round_trip("k8s-pods.yaml", read_mapping(str(EXP / "k8s-pods.map.yaml")))
    targets = sc.targets
    assert "local" not in targets  # no process provider: no host target invented
    kube = {n: t.kubernetes for n, t in targets.items()}
    checkout, cart, search = kube["shop-app-checkout-tier-web"], kube["shop-app-cart"], kube["shop-app-search"]
    assert checkout is not None and cart is not None and search is not None
    # ${shop_ns} substituted; mode percentage qty 34 -> fixed-percent 34% (both round up); qty 2 -> fixed 2
    assert (checkout.context, checkout.namespaces, checkout.selector, checkout.mode, checkout.value) == \
        ("staging-eu", ("shop",), "app=checkout,tier=web", "fixed-percent", "34%")
    assert (cart.mode, cart.value) == ("fixed", "2")
    assert search.mode == "all"  # all: true wins over qty, in Chaos Toolkit too
    assert "qty is ignored with all: true" in text
    assert "rand: false: Chaos Toolkit kills the first pods by name" in text  # the one difference, said
    assert [s.id for s in sc.steps] == ["kill-third-of-checkout", "kill-two-cart-pods", "kill-all-search-pods"]
    assert sc.steps[0].duration == 20  # pauses.after
    plans = _plans(sc)
    (kill,) = plans["kill-third-of-checkout"]
    assert kill.spec.type == "pod-kill" and kill.target == "shop-app-checkout-tier-web"
    assert kill.spec.params.get("grace_period") == 0
    assert kill.revert == () and kill.verify  # nothing to revert, recovery verified
    assert "context from the mapping file (k8s-pods.map.yaml:2)" in text


def test_kube_context_flag_names_the_cluster_and_without_it_the_import_refuses() -> None:
    lines = _problems("k8s-pods.yaml", read_mapping(""))
    assert len(lines) == 3
    assert all("chaosk8s acts on whatever kubeconfig context is current" in ln for ln in lines)
    assert lines[0].startswith("k8s-pods.yaml:14:5: activity 'kill-third-of-checkout'")
    text, sc = _round_trip("k8s-pods.yaml", read_mapping("", kube_context="kind-shop"))
    assert {t.kubernetes.context for t in sc.targets.values() if t.kubernetes} == {"kind-shop"}
    assert "context from --kube-context" in text


def test_unfaithful_chaosk8s_actions_are_one_located_line_each() -> None:
    lines = _problems("k8s-refused.yaml", read_mapping("", kube_context="kind-shop"))
    want = [
        "k8s-refused.yaml:6:133: activity 'kill-by-name': name_pattern cannot be translated",
        "k8s-refused.yaml:9:126: activity 'kill-oldest': order 'oldest' cannot be translated",
        "k8s-refused.yaml:10:5: activity 'kill-anything': terminate_pods without label_selector",
        "k8s-refused.yaml:15:110: activity 'kill-set-based': label selector 'app in (api, web)' must be key=value",
        "k8s-refused.yaml:16:5: activity 'scale-api-down': chaosk8s chaosk8s.deployment.actions.scale_deployment "
        "cannot be translated: the room has no Kubernetes fault it can revert and verify for it",
        "k8s-refused.yaml:19:5: activity 'drop-api': chaosk8s chaosk8s.deployment.actions.delete_deployment cannot",
        "k8s-refused.yaml:24:124: activity 'kill-none': qty 0 kills no pod",
        "k8s-refused.yaml:28:7: activity 'api-healthy': chaosk8s probe "
        "chaosk8s.probes.microservice_available_and_healthy cannot be translated: it compares a Deployment's",
    ]
    assert len(lines) == len(want)
    for line, start in zip(lines, want, strict=True):
        assert line.startswith(start), line


def test_pods_in_phase_becomes_two_pod_counts_that_check_what_chaosk8s_checks() -> None:
    """pods_in_phase fails on no pods and on any pod outside the phase: at least one pod, none outside it."""
    text, sc = _round_trip("k8s-phase.yaml", read_mapping("", kube_context="kind-shop"))
    metrics = {name: (m.source, m.on) for name, m in sc.observe.metrics.items()}
    assert metrics == {"cart_running": ("kubernetes", "shop-app-cart-pods"),
                       "cart_running_not_running": ("kubernetes", "shop-app-cart-not-running")}
    every, outside = sc.targets["shop-app-cart-pods"].kubernetes, sc.targets["shop-app-cart-not-running"].kubernetes
    assert every is not None and outside is not None
    assert (every.selector, every.field_selector, every.mode) == ("app=cart", "", "all")
    assert (outside.selector, outside.field_selector, outside.mode) == ("app=cart", "status.phase!=Running", "all")
    assert list(sc.steady_state.require) == ["cart_running.pods >= 1", "cart_running_not_running.pods == 0"]
    assert not sc.unobserved
    assert "chaosk8s fails when there are none" in text and "chaosk8s fails on any" in text
    (plan,) = _plans(sc)["kill-one-cart-pod"]
    assert plan.spec.type == "pod-kill" and sc.targets[plan.target].kubernetes.mode == "one"  # type: ignore[union-attr]


# ---- chaostoolkit-toxiproxy ----------------------------------------------------------------------------------


def test_toxics_become_toxiproxy_faults_leashed_on_the_mapping_ssh_host_and_rollbacks_are_absorbed() -> None:
    text, sc = _round_trip("toxi-shop.json", read_mapping(str(EXP / "toxi-shop.map.yaml")))
    (target,) = sc.targets.values()
    assert target.toxiproxy is not None
    assert (target.toxiproxy.api, target.toxiproxy.proxies) == ("http://10.0.0.5:8474", ("db",))
    assert target.toxiproxy.ssh == "ops@10.0.0.5"  # the leash's host, from the mapping
    assert "toxiproxy" not in sc.blast_radius.allow_unleashed
    plans = _plans(sc)
    faults = {sid: fs[0] for sid, fs in plans.items() if fs}
    assert {sid: f.spec.type for sid, f in faults.items()} == {
        "slow-db": "toxiproxy-latency", "throttle-db": "toxiproxy-bandwidth", "chop-db": "toxiproxy-slicer",
        "db-down": "toxiproxy-down"}
    body = {sid: repr(f.inject) for sid, f in faults.items()}
    # the toxic Chaos Toolkit would have created: 250 ms ±20, 64 KB/s, 1500 us slices of ~128±16 bytes
    assert "'latency': 250" in body["slow-db"] and "'jitter': 20" in body["slow-db"]
    assert "'rate': 64" in body["throttle-db"]
    assert "'delay': 1500" in body["chop-db"] and "'average_size': 128" in body["chop-db"]
    for f in faults.values():
        assert f.revert and f.verify and f.leash  # the room's own, never invented
    assert text.count("absorbed, the room's toxiproxy") == 3
    assert [s.id for s in sc.steps] == ["slow-db", "throttle-db-pause", "throttle-db", "chop-db", "db-down"]


def test_a_toxic_with_no_leash_is_refused_unless_allow_unleashed_says_so() -> None:
    """Safety: without the mapping's toxiproxy ssh the import must not write an unleashed fault on its own."""
    lines = _problems("toxi-shop.json", read_mapping(""))
    leash = [ln for ln in lines if "with no leash" in ln]
    assert len(leash) == 4  # every fault step, each at its activity
    assert leash[0].startswith("toxi-shop.json:13:5: activity 'slow-db': a Toxiproxy fault with no leash")
    assert "name the Toxiproxy host's ssh in the mapping file, toxiproxy: {ssh: USER@HOST}" in leash[0]
    text, sc = _round_trip("toxi-shop.json", read_mapping("", allow_unleashed=True))
    assert sc.blast_radius.allow_unleashed == ("toxiproxy",)
    assert "--allow-unleashed at import: the user who imported this allowed" in text
    (target,) = sc.targets.values()
    assert target.toxiproxy is not None and target.toxiproxy.ssh is None


def test_cli_flags_reach_the_import(tmp_path: Path) -> None:
    out = tmp_path / "s.yaml"
    run = subprocess.run([sys.executable, "-m", "controlroom", "import", "chaostoolkit", str(EXP / "toxi-shop.json"),
                          "--allow-unleashed", "-o", str(out)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "allow_unleashed: [toxiproxy]" in out.read_text()
    run = subprocess.run([sys.executable, "-m", "controlroom", "import", "chaostoolkit", str(EXP / "k8s-pods.yaml"),
                          "--kube-context", "kind-shop"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert 'context: "kind-shop"' in run.stdout


def test_a_process_action_and_a_toxic_each_keep_their_own_revert() -> None:
    """The process rollback reverts the process action; the toxic's delete_toxic is absorbed, not run twice."""
    text, sc = _round_trip("toxi-mixed.yaml", read_mapping(str(EXP / "toxi-mixed.map.yaml")))
    assert set(sc.targets) == {"host", "proxy-queue"}
    plans = _plans(sc)
    (pause,) = plans["pause-worker"]
    assert (pause.spec.type, pause.target) == ("command", "host")
    assert pause.spec.params["revert"] == "pkill -CONT -x order-worker"
    (hang,) = plans["slow-queue"]
    assert (hang.spec.type, hang.target, hang.spec.params["timeout"]) == ("toxiproxy-timeout", "proxy-queue", 0.0)
    assert "unhang-queue" in text and "absorbed" in text  # ${queue_proxy} substituted before matching the toxic
    toxi = sc.targets["proxy-queue"].toxiproxy
    assert toxi is not None and toxi.ssh == "ops@10.0.0.9"  # the leash host, not the command target's


def test_unfaithful_toxiproxy_activities_are_one_located_line_each() -> None:
    lines = _problems("toxi-refused.yaml", read_mapping("", allow_unleashed=True))
    want = [
        "toxi-refused.yaml:5:5: activity 'any-toxic': chaostoxi chaostoxi.toxic.actions.create_toxic cannot be",
        "toxi-refused.yaml:8:5: activity 'new-proxy': chaostoxi chaostoxi.proxy.actions.create_proxy cannot be",
        "toxi-refused.yaml:13:142: activity 'negative-latency': arguments.latency: -5 is out of range",
        "toxi-refused.yaml:14:5: activity 'no-latency': create_latency_toxic needs latency",
        "toxi-refused.yaml:18:5: activity 'drop-unknown-toxic': delete_toxic undoes no translated action",
    ]
    assert len(lines) == len(want)
    for line, start in zip(lines, want, strict=True):
        assert line.startswith(start), line


def test_a_mapping_verify_or_undoes_for_a_room_fault_is_refused_where_it_is_written(tmp_path: Path) -> None:
    """A second verify for a fault with its own would never run: saying nothing would let the user rely on it."""
    m = tmp_path / "m.yaml"
    m.write_text("toxiproxy: {ssh: ops@10.0.0.9}\nverify:\n  pause-worker: 'true'\n  slow-queue: 'true'\n"
                 "undoes:\n  unhang-queue: slow-queue\n")
    with pytest.raises(ExperimentError) as err:
        import_experiment(str(EXP / "toxi-mixed.yaml"), read_mapping(str(m)), env={})
    lines = [str(p) for p in err.value.problems]
    assert lines == [
        f"{m}:4:3: verify.slow-queue: action 'slow-queue' becomes the room's toxiproxy-timeout fault, whose revert and "
        "verify are built in; delete this entry",
        f"{m}:6:3: undoes.unhang-queue: action 'slow-queue' becomes the room's toxiproxy-timeout fault, whose revert "
        "and verify are built in; delete this entry"]


def test_the_limiter_toxic_reads_chaostoxis_bytes_limit_argument(tmp_path: Path) -> None:
    # chaostoxi's create_limiter_toxic(for_proxy, toxic_name, bytes_limit) sends `bytes` to Toxiproxy.
    exp = tmp_path / "limit.yaml"
    exp.write_text(
        "title: Orders survive a cut-short database stream\n"
        "configuration: {toxiproxy_host: 10.0.0.5}\n"
        "method:\n"
        "  - type: action\n"
        "    name: cut-db\n"
        "    provider: {type: python, module: chaostoxi.toxic.actions, func: create_limiter_toxic,\n"
        "               arguments: {for_proxy: db, toxic_name: db-cut, bytes_limit: 4096}}\n"
        "    pauses: {after: 10}\n")
    result = import_experiment(str(exp), read_mapping(str(EXP / "toxi-shop.map.yaml")), env={})
    sc = load_scenario_text(result.text, "imported.yaml")
    (plan,) = [p for plans in _plans(sc).values() for p in plans]
    assert plan.spec.type == "toxiproxy-limit-data" and plan.spec.params["bytes"] == 4096


@pytest.mark.parametrize(("arguments", "want"), [
    ("{ns: shop}", "k8s-phase.yaml:6:7: activity 'cart-running': pods_in_phase needs label_selector"),
    ("{label_selector: 'app in (cart)', ns: shop}",
     "k8s-phase.yaml:13:37: activity 'cart-running': label selector 'app in (cart)' must be key=value"),
], ids=["missing", "set-based"])
def test_pods_in_phase_without_a_key_value_label_selector_is_one_located_line(
        tmp_path: Path, arguments: str, want: str) -> None:
    experiment = tmp_path / "k8s-phase.yaml"
    experiment.write_text((EXP / "k8s-phase.yaml").read_text().replace("{label_selector: app=cart, ns: shop}",
                                                                       arguments, 1))
    with pytest.raises(ExperimentError) as err:
        import_experiment(str(experiment), read_mapping("", kube_context="kind-shop"), env={})
    problems = [str(p).removeprefix(f"{tmp_path}/") for p in err.value.problems]
    assert len(problems) == 1 and problems[0].startswith(want), problems

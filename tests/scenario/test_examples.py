"""The scenarios shipped in scenarios/ load with the real fault catalogue, and `list_scenarios` summarises a folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlroom.scenario import load_scenario, load_scenario_text
from controlroom.scenario.listing import list_scenarios

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
ALL = sorted(SCENARIOS.glob("*.yaml"))


@pytest.mark.usefixtures("real_catalogue")
@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_every_shipped_scenario_is_valid(path: Path) -> None:
    sc = load_scenario(path)
    assert sc.steps and sc.environment in sc.blast_radius.allowed_environments


@pytest.mark.usefixtures("real_catalogue")
def test_the_demo_scenario_is_what_the_demo_runner_expects() -> None:
    sc = load_scenario(SCENARIOS / "demo.yaml")
    assert sc.environment == "demo" and sc.targets["shop"].url == "http://127.0.0.1:8089"
    assert [s.id for s in sc.steps] == ["baseline", "slow-checkout", "errors"]
    assert sc.steps[1].faults[0].params == {"delay": 0.15} and sc.steps[1].duration == 6.0
    assert sc.steps[2].faults[0].params == {"rate": 50.0}
    assert sc.stop_when.conditions == ("shop.success_rate < 0.8",) and sc.stop_when.hold == 1.0
    assert sc.observe.every == 0.5 and sc.observe.metrics["shop"].probe == "http://127.0.0.1:8089/checkout"


@pytest.mark.usefixtures("real_catalogue")
def test_progressive_latency_steps_through_its_phases_in_order() -> None:
    sc = load_scenario(SCENARIOS / "progressive-latency.yaml")
    phases = [s.phase for s in sc.steps]
    assert phases == sorted(phases, key=["warm-up", "ramp", "peak"].index)
    delays = [s.faults[0].params.get("delay") for s in sc.steps if s.faults and s.faults[0].type == "http-latency"]
    assert delays == sorted(delays)


@pytest.mark.usefixtures("real_catalogue")
@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_no_shipped_scenario_sends_traffic_beyond_loopback_or_the_lab_unless_it_is_a_template(path: Path) -> None:
    """Run by mistake on a laptop, an example must not probe real addresses: real-environment examples are
    templates (refused by `run`) whose hosts are placeholders that cannot resolve."""
    import ipaddress
    from urllib.parse import urlsplit

    from controlroom.scenario.listing import _host, _in_lab, _loopback

    sc = load_scenario(path)
    hosts = {_host(t.ssh) for t in sc.targets.values() if t.ssh}
    hosts |= {urlsplit(t.url).hostname or "" for t in sc.targets.values() if t.url}
    hosts |= {urlsplit(m.probe).hostname or "" for m in sc.observe.metrics.values() if m.probe}
    if sc.observe.prometheus is not None:
        hosts.add(urlsplit(sc.observe.prometheus.url).hostname or "")
    outside = sorted(h for h in hosts if not _loopback(h) and not _in_lab(h))
    if outside:
        assert sc.template, f"{path.name} reaches {outside} but is not marked `template: true`"
        assert all(h.endswith(".example") for h in outside), outside
    peers = [p for st in sc.steps for f in st.faults for p in f.params.get("peers") or []]
    for peer in peers:
        ip = ipaddress.ip_network(str(peer), strict=False) if not str(peer).startswith("h") else None
        assert ip is None or ip.subnet_of(ipaddress.ip_network("10.77.0.0/24")) or \
            ip.subnet_of(ipaddress.ip_network("192.0.2.0/24")) or str(peer) in sc.targets, peer


def test_list_scenarios_summarises_valid_and_broken_files(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text(
        "version: 1\nname: good\nenvironment: staging\ntargets: {db-1: {ssh: db-1}}\n"
        "blast_radius: {allowed_environments: [staging]}\n"
        "phases: [{name: one, steps: [{id: slow, fault: {type: t-latency, target: db-1, delay: 1s}, duration: 1m}]}]\n"
        "unobserved: true\n"
    )
    (tmp_path / "a.yml").write_text("version: 1\nname: [broken\n")
    (tmp_path / "notes.txt").write_text("not a scenario")
    listing = list_scenarios(tmp_path)
    assert [e["path"] for e in listing] == [str(tmp_path / "a.yml"), str(tmp_path / "b.yaml")]
    broken, good = listing
    assert broken["name"] == "a" and broken["error"].startswith(f"{tmp_path / 'a.yml'}:3:1: YAML syntax error")
    assert good == {
        "name": "good", "path": str(tmp_path / "b.yaml"), "environment": "staging", "steps": 1,
        "faults": ["t-latency"], "phases": ["one"], "error": None, "problems": 0,
        "needs": ["SSH to db-1"], "template": False,
    }


@pytest.mark.usefixtures("real_catalogue")
def test_the_complete_example_in_the_format_docs_is_valid() -> None:
    doc = (SCENARIOS.parent / "docs" / "scenario-format.md").read_text()
    example = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    sc = load_scenario_text(example, "docs/scenario-format.md")
    assert set(sc.targets) == {"db-1", "api-1", "shop", "me"}
    assert [s.id for s in sc.steps] == ["baseline", "slow-db", "cut-db"]

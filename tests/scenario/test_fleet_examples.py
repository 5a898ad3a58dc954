"""The fleet game day is shipped three ways (SSH, Gremlin agents, Chaos Mesh) and docs/fleet.md says they are
the same game day: same hypothesis, steady state, stop conditions, steps and criteria — only the targets,
the fault and what measures the zone differ. This keeps that true when one of them is edited."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlroom.scenario import load_scenario
from controlroom.scenario.model import Scenario

ROOT = Path(__file__).resolve().parents[2]
WAYS = ("fleet-zone-dark.yaml", "fleet-zone-dark-gremlin.yaml", "fleet-zone-dark-k8s.yaml")


def _load(name: str) -> Scenario:
    return load_scenario(ROOT / "scenarios" / name)


@pytest.mark.usefixtures("real_catalogue")
def test_the_three_ways_are_one_game_day() -> None:
    ssh, gremlin, k8s = (_load(name) for name in WAYS)
    for other in (gremlin, k8s):
        assert other.hypothesis.replace("pod", "host").replace("ready", "clean") == ssh.hypothesis
        assert [s.id for s in other.steps] == [s.id for s in ssh.steps]
        assert [s.duration for s in other.steps] == [s.duration for s in ssh.steps]
        assert other.stop_when == ssh.stop_when
        assert other.steady_state.require[:1] == ssh.steady_state.require
        assert other.blast_radius.leash == ssh.blast_radius.leash
        assert other.success_criteria == ssh.success_criteria
    # what each way hits: 100 ssh hosts by label; one Gremlin tag selection; every pod of the zone
    dark = ssh.steps[1].faults[0]
    assert dark.type == "blackhole" and dark.target == "zone=b"
    zone_b = [t for t in ssh.targets.values() if t.labels.get("zone") == "b"]
    assert len(zone_b) == ssh.blast_radius.max_targets == 100
    assert {t.ssh for t in zone_b} == {f"h{i}" for i in range(101, 201)}
    assert gremlin.steps[1].faults[0].type == "gremlin-blackhole"
    assert gremlin.targets["zone-b"].gremlin is not None and gremlin.targets["zone-b"].gremlin.tags == {"zone": "b"}
    assert k8s.steps[1].faults[0].type == "chaos-network-partition"
    assert k8s.targets["zone-b"].kubernetes is not None and "zone=b" in k8s.targets["zone-b"].kubernetes.selector


def test_the_fleet_doc_shows_each_way_as_shipped() -> None:
    doc = (ROOT / "docs" / "fleet.md").read_text()
    for name in WAYS:
        assert f"scenarios/{name}" in doc
        text = (ROOT / "scenarios" / name).read_text()
        targets = text.split("targets:\n", 1)[1].split("\n\n", 1)[0]
        assert targets in doc, f"docs/fleet.md does not show the targets of {name} as shipped"
        step = text.split("  - id: zone-b-dark\n", 1)[1].split("\n\n", 1)[0]
        fault = next(line for line in step.splitlines() if line.strip().startswith("fault:"))
        assert fault.strip() in doc, f"docs/fleet.md does not show the fault of {name} as shipped"

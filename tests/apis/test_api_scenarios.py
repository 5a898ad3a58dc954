"""Scenario rules for toxiproxy: and gremlin: targets, the example scenarios, and what `plan` says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from controlroom.engine.planning import plan_scenario
from controlroom.errors import ScenarioError
from controlroom.scenario import load_scenario, load_scenario_text

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

BASE = """\
version: 1
name: g
hypothesis: h
environment: test
unobserved: true
targets:
  web: {gremlin: GREMLIN}
blast_radius: {allowed_environments: [test]}
steps:
  - id: burn
    fault: {type: gremlin-cpu, target: web}
    duration: 30s
"""


@pytest.mark.parametrize(("mapping", "problem"), [
    ("{team: t}", "exactly one of key_env"),
    ("{team: t, key_env: A, key_file: /k, hosts: [h]}", "exactly one of key_env"),
    ("{team: t, key_env: A}", "select what the attacks hit"),
    ("{team: t, key_env: A, hosts: [h], containers: [c]}", "hosts or containers, not both"),
    ("{team: t, key_env: A, hosts: [h], percent: 50}", "only a Random selection"),
    ("{team: t, key_env: A, hosts: [h], select: Random}", "needs percent"),
    ("{team: '../x', key_env: A, hosts: [h]}", "team id"),
    ("{team: t, key: secret, key_env: A, hosts: [h]}", "unknown"),
    ("{team: t, key_env: 'A B', hosts: [h]}", "environment variable name"),
    ("{api: 'ftp://x', team: t, key_env: A, hosts: [h]}", r"targets\.web\.gremlin\.api: Gremlin API URL"),
    ("{team: t, key_env: A, hosts: ['a/b']}", r"targets\.web\.gremlin: host id 'a/b' must be letters"),
])
def test_a_gremlin_target_is_checked(mapping: str, problem: str) -> None:
    with pytest.raises(ScenarioError, match=problem):
        load_scenario_text(BASE.replace("GREMLIN", mapping), "g.yaml")


def test_a_gremlin_attack_argument_is_checked_with_its_unit() -> None:
    ok = BASE.replace("GREMLIN", "{team: t, key_env: A, hosts: [h]}")
    with pytest.raises(ScenarioError, match="percent"):
        load_scenario_text(ok.replace("target: web}", "target: web, percent: 150%}"), "g.yaml")
    with pytest.raises(ScenarioError, match="unit"):
        load_scenario_text(ok.replace("gremlin-cpu, target: web}", "gremlin-latency, target: web, delay: 100}"),
                           "g.yaml")
    sc = load_scenario_text(ok.replace("gremlin-cpu, target: web}", "gremlin-latency, target: web, delay: 1.5s}"),
                            "g.yaml")
    plan = plan_scenario(sc, "s1")[0].faults[0]
    assert plan.inject[0].json["command"] == {"type": "latency", "args": ["-l", "40", "-m", "1500"]}  # type: ignore[union-attr]


def test_the_example_scenarios_validate_and_plan() -> None:
    for name in ("toxiproxy-latency.yaml", "gremlin-cpu.yaml"):
        sc = load_scenario(SCENARIOS / name)
        assert all(p.revert and p.verify for sp in plan_scenario(sc) for p in sp.faults)


def test_plan_says_when_a_fault_has_no_leash() -> None:
    out = subprocess.run([sys.executable, "-m", "controlroom", "plan", str(SCENARIOS / "toxiproxy-latency.yaml")],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert "# NO LEASH: hang/0@shop-proxy, slow-link/0@shop-proxy" in out
    assert out.count("— NO LEASH (Toxiproxy has no TTL") == 2
    out = subprocess.run([sys.executable, "-m", "controlroom", "plan", str(SCENARIOS / "gremlin-cpu.yaml")],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert "NO LEASH" not in out and "the attack ends by itself after 45s" in out

"""Scenarios on the simulated cluster, run by a real Session through a real kubeconfig file."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

from controlroom.engine.session import Outcome, Session
from controlroom.journal import read_journal
from controlroom.scenario import load_scenario
from controlroom.scenario.model import Scenario


def target_yaml(kubeconfig: Path, *, name: str = "checkout", namespace: str = "shop", selector: str = "app=checkout",
                extra: str = "") -> str:
    return (f"  {name}: {{kubernetes: {{kubeconfig: {kubeconfig}, context: controlroom-sim, namespace: {namespace}, "
            f"selector: {selector}{extra}}}}}\n")


def scenario(tmp_path: Path, targets: str, steps: str, *, leash: str = "5s", name: str = "s.yaml") -> Scenario:
    text = textwrap.dedent("""\
        version: 1
        name: k8s-test
        hypothesis: checkout survives
        environment: sim
        unobserved: true
        blast_radius: {max_targets: 10, max_duration: 5m, allowed_environments: [sim], leash: LEASH}
        targets:
        """).replace("LEASH", leash) + targets + "steps:\n" + textwrap.indent(textwrap.dedent(steps), "  ")
    path = tmp_path / name
    path.write_text(text)
    return load_scenario(path)


def session(sc: Scenario, tmp_path: Path, **kw: Any) -> Session:
    return Session(sc, journal_path=tmp_path / "j.jsonl", control=False, **kw)


async def run(s: Session, timeout: float = 30.0) -> Outcome:
    async with asyncio.timeout(timeout):
        return await s.run()


def events(tmp_path: Path) -> list[Any]:
    return list(read_journal(tmp_path / "j.jsonl").events)

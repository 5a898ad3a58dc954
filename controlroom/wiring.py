"""The wiring both front ends share (the TUI in `app/`, line mode in `headless.py`, the demo): where a journal
goes, which metric sources a scenario needs, and a session built from the two.

Kept apart from the CLI and from either front end so that none of them imports another to reach it: the
CLI calls the front ends, and the front ends call this.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from controlroom.engine.gates import Facilitator
from controlroom.engine.session import Session
from controlroom.metrics.source import MetricSource
from controlroom.paths import private_journal_dir
from controlroom.scenario.model import Scenario


def journal_path(given: str | None, name: str) -> str:
    """The journal a session writes: `given` (`--journal`), else a new file in the private journal directory,
    named for the time and the scenario."""
    if given:
        return given
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)[:60] or "session"
    return str(private_journal_dir() / f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}.jsonl")


def build_sources(scenario: Scenario) -> list[MetricSource]:
    """Metric sources for a scenario: the prober per probe metric, Prometheus and commands when configured.

    Each kind is imported only when the scenario uses it (httpx, say, is not needed by a command-only room).
    """
    sources: list[MetricSource] = []
    obs = scenario.observe
    for spec in obs.metrics.values():
        if spec.source == "probe":
            from controlroom.metrics.prober import HttpProber

            sources.append(HttpProber(spec.name, spec.probe or "", every=obs.every, timeout=spec.timeout))
    promql = {n: m for n, m in obs.metrics.items() if m.source == "promql"}
    if promql and obs.prometheus is not None:
        from controlroom.metrics.prometheus import PrometheusSource

        sources.append(PrometheusSource(obs.prometheus, promql))
    if any(m.source == "command" for m in obs.metrics.values()):
        from controlroom.metrics.command import CommandSource

        sources.append(CommandSource.for_scenario(scenario))
    if any(m.source == "kubernetes" for m in obs.metrics.values()):
        from controlroom.metrics.kubernetes import KubeMetricSource  # kr8s loads only with a Kubernetes metric

        sources.append(KubeMetricSource.for_scenario(scenario))
    return sources


def new_session(scenario: Scenario, journal: str | Path, facilitator: Facilitator, *,
                sources: list[MetricSource] | None = None) -> Session:
    """A session for a front end: the scenario's own metric sources unless `sources` are given (tests)."""
    from controlroom.scenario.hooks import load_user_hooks  # the user's hooks for every scenario (docs/hooks.md)

    return Session(scenario, journal_path=Path(journal), facilitator=facilitator,
                   sources=sources if sources is not None else build_sources(scenario),
                   user_hooks=load_user_hooks())

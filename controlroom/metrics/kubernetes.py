"""The built-in Kubernetes metric: the ready ratio, ready and matched pods, and container restarts of a
`kubernetes` target's selector, sampled with the other sources.

`observe.metrics.NAME: {kubernetes: TARGET}` produces NAME.ready_ratio (0..1; 0 when nothing matches),
NAME.ready, NAME.pods and NAME.restarts (the sum of the matched pods' containers' restartCount). One list
of pods per target and interval, through that target's own executor (its kubeconfig and context). A list
that fails is "no data" for that target's series; every target failing is `SourceUnavailable`, so the
scenario's lost-telemetry policy applies.
"""

from __future__ import annotations

import asyncio
import json

from controlroom.metrics.source import SourceUnavailable
from controlroom.scenario.model import MetricSpec, Scenario
from controlroom.targets.base import KubeCall
from controlroom.targets.kubernetes import KubeExecutor

SERIES = ("ready_ratio", "ready", "pods", "restarts")


class KubeMetricSource:
    name = "kubernetes"

    def __init__(self, metrics: dict[str, MetricSpec], executors: dict[str, KubeExecutor]) -> None:
        self._specs = {n: m for n, m in sorted(metrics.items()) if m.source == "kubernetes" and m.on}
        self._executors = executors
        self.last_errors: dict[str, str] = {}

    @classmethod
    def for_scenario(cls, scenario: Scenario) -> KubeMetricSource:
        metrics = {n: m for n, m in scenario.observe.metrics.items() if m.source == "kubernetes"}
        executors = {m.on: KubeExecutor(scenario.targets[m.on]) for m in metrics.values() if m.on}
        return cls(metrics, executors)

    def series(self) -> list[str]:
        return [f"{n}.{s}" for n in self._specs for s in SERIES]

    async def start(self) -> None:
        return None

    async def sample(self) -> dict[str, float | None]:
        names = list(self._specs)

        async def one(name: str) -> dict[str, float] | None:
            spec = self._specs[name]
            assert spec.on is not None
            result = await self._executors[spec.on].run(KubeCall("ready-ratio", timeout=spec.timeout))
            if not result.ok:
                self.last_errors[name] = result.detail
                return None
            doc = json.loads(result.stdout)
            return {"ready_ratio": float(doc["ready_ratio"]), "ready": float(doc["ready"]),
                    "pods": float(doc["pods"]), "restarts": float(doc["restarts"])}

        answers = await asyncio.gather(*(one(n) for n in names))
        if names and all(a is None for a in answers):
            first = names[0]
            raise SourceUnavailable(f"no Kubernetes metric could be read ({first}: {self.last_errors.get(first, '?')})")
        out: dict[str, float | None] = {}
        for name, answer in zip(names, answers, strict=True):
            for s in SERIES:
                out[f"{name}.{s}"] = None if answer is None else answer[s]
        return out

    async def close(self) -> None:
        for ex in self._executors.values():
            await ex.close()

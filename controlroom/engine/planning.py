"""Turning a scenario into fault plans: every step's faults, resolved to targets, each with inject/revert/verify.

`plan` (the dry run), pre-flight, the engine and `recover` all build plans here,
so what `plan` prints is exactly what a run executes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from controlroom.errors import ScenarioError
from controlroom.faults.catalogue import PlanContext, build_plan
from controlroom.faults.plan import FaultPlan
from controlroom.scenario.model import FaultSpec, Scenario, Step


@dataclass(frozen=True)
class StepPlan:
    step: Step
    faults: tuple[FaultPlan, ...]

    @property
    def targets(self) -> list[str]:
        return sorted({p.target for p in self.faults})


def fault_id(step: Step, index: int, target: str) -> str:
    return f"{step.id}/{index}@{target}"


def plan_fault(scenario: Scenario, step: Step, index: int, spec: FaultSpec, target_name: str, *,
               session: str | None = None, handle: str | None = None) -> FaultPlan:
    target = scenario.targets[target_name]
    ctx = PlanContext(fault_id=fault_id(step, index, target_name), duration=step.duration,
                      targets=scenario.targets, leash_window=scenario.blast_radius.leash,
                      session=session or "SESSION", handle=handle, max_pods=scenario.blast_radius.max_pods)
    try:
        return replace(build_plan(spec, target, ctx), index=index)
    except ValueError as err:
        from controlroom.errors import Problem

        raise ScenarioError([Problem(scenario.source_path, 1, 1, f"step {step.id!r}: {err}")]) from None


def plan_step(scenario: Scenario, step: Step, session: str | None = None) -> StepPlan:
    plans: list[FaultPlan] = []
    for index, spec in enumerate(step.faults):
        for target in scenario.resolve_targets(spec.target):
            plans.append(plan_fault(scenario, step, index, spec, target.name, session=session))
    return StepPlan(step=step, faults=tuple(plans))


def plan_scenario(scenario: Scenario, session: str | None = None) -> list[StepPlan]:
    return [plan_step(scenario, step, session) for step in scenario.steps]

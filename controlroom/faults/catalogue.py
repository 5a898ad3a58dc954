"""The fault catalogue: every fault type, its parameters (with units), the targets it fits, and its plan builder.

Validation and planning read the same entries, so a parameter the validator
accepts is one the builder understands. Modules register their types in
`FAULTS` lists: `local` (processes on this machine), `http` (admin endpoints),
`host` (Linux hosts over SSH or locally), `kube` (Kubernetes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controlroom.faults.plan import FaultPlan
from controlroom.scenario.model import FaultSpec, Target


@dataclass(frozen=True)
class Param:
    name: str
    parse: Callable[[Any], Any]  # raises ValueError (UnitError is one) with a user-facing message
    required: bool = False
    default: Any = None
    doc: str = ""


@dataclass(frozen=True)
class PlanContext:
    """What a builder may need beyond the spec: the step's duration, the leash, the scenario's targets.

    `leash_window` is the heartbeat window (`blast_radius.leash`): what a leash is armed and renewed with, and a
    service-side TTL. `leash_grace` only pads backstops that cannot be renewed (stress-ng's own `--timeout`).
    """

    fault_id: str
    duration: float | None
    leash_grace: float = 30.0
    targets: dict[str, Target] = field(default_factory=dict)
    leash_window: float = 10.0


Builder = Callable[[FaultSpec, Target, PlanContext], FaultPlan]


@dataclass(frozen=True)
class FaultType:
    name: str
    params: tuple[Param, ...]
    target_kinds: frozenset[str]
    build: Builder
    doc: str
    revertible: bool = True
    needs_duration: bool = True


def _load() -> dict[str, FaultType]:
    from controlroom.faults import host, http, kube, local

    table: dict[str, FaultType] = {}
    for module in (local, http, host, kube):
        for ft in module.FAULTS:
            if ft.name in table:
                raise RuntimeError(f"fault type {ft.name!r} registered twice")
            table[ft.name] = ft
    return table


_CATALOGUE: dict[str, FaultType] | None = None


def catalogue() -> dict[str, FaultType]:
    global _CATALOGUE
    if _CATALOGUE is None:
        _CATALOGUE = _load()
    return _CATALOGUE


def parse_params(ft: FaultType, raw: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str | None, str]]]:
    """Raw YAML params -> parsed params, and problems as (param name or None, message)."""
    parsed: dict[str, Any] = {}
    problems: list[tuple[str | None, str]] = []
    known = {p.name for p in ft.params}
    for key in raw:
        if key not in known:
            allowed = ", ".join(sorted(known)) or "none"
            problems.append((key, f"unknown parameter {key!r} for fault {ft.name!r} (allowed: {allowed})"))
    for p in ft.params:
        if p.name not in raw:
            if p.required:
                problems.append((None, f"fault {ft.name!r} needs parameter {p.name!r}: {p.doc}"))
            elif p.default is not None:
                parsed[p.name] = p.default
            continue
        try:
            parsed[p.name] = p.parse(raw[p.name])
        except (ValueError, TypeError) as err:
            problems.append((p.name, f"{p.name}: {err}"))
    return parsed, problems


def build_plan(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    ft = catalogue()[spec.type]
    return ft.build(spec, target, ctx)

"""What every fault type is made of: its parameters (with units), the targets it fits, and its plan builder.

The fault modules (`local`, `http`, `net_tc`, `net_nft`, `stress`, `system`) import these and list their
types in `FAULTS`; the catalogue imports the modules and collects the lists. Nothing here imports a fault
module back, so a new backend's module only adds itself to the catalogue's list.
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
    service-side TTL.
    """

    fault_id: str
    duration: float | None
    targets: dict[str, Target] = field(default_factory=dict)
    leash_window: float = 10.0
    # The session the plan is for: API faults name what they create after it (a toxic `cr-<session>-...`), so a
    # revert touches only this session's. `plan` without a session shows the placeholder.
    session: str = "SESSION"
    # What the backend called the fault once created (a Gremlin attack guid), read back from the journal by
    # `recover`; None while planning a session (the executor learns it when the inject answers).
    handle: str | None = None
    max_pods: int | None = None  # blast_radius.max_pods: a Kubernetes selection above it is refused


Builder = Callable[[FaultSpec, Target, PlanContext], FaultPlan]


@dataclass(frozen=True)
class FaultType:
    name: str
    params: tuple[Param, ...]
    target_kinds: frozenset[str]
    build: Builder
    doc: str
    needs_duration: bool = True  # False for a fault that has no revert to wait for (a kill): `duration:` optional
    # Checks the parsed parameters together (a Chaos Mesh CR against its CRD schema): (param or None, message).
    check: Callable[[dict[str, Any]], list[tuple[str | None, str]]] | None = None


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
    if not problems and ft.check is not None:
        problems += ft.check(parsed)
    return parsed, problems


def arg(spec: FaultSpec, param: Param) -> Any:
    """A parameter inside a plan builder, whether the loader already parsed it or not.

    Builders are called with `FaultSpec.params` as the loader stored them (parsed by the catalogue) and, in
    tests or `recover`, sometimes raw from YAML. Running the parser again is harmless for raw values; an
    already parsed number passes.
    """
    raw = spec.params.get(param.name, param.default)
    if raw is None:
        if param.required:
            raise ValueError(f"fault {spec.type!r} needs parameter {param.name!r}: {param.doc}")
        return None
    try:
        return param.parse(raw)
    except (ValueError, TypeError):
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return raw  # already parsed (seconds, percent)
        raise

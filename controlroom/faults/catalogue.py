"""The fault catalogue: every fault type by name, collected from the modules that define them.

Validation and planning read the same entries, so a parameter the validator accepts is one the builder
understands. The registry goes one way: each module lists its types in `FAULTS` (built from `faults.base`),
and only this module imports the modules — none of them imports the catalogue back. A new backend adds its
module to `_load`'s list.
"""

from __future__ import annotations

from controlroom.faults.base import Builder, FaultType, Param, PlanContext, parse_params
from controlroom.faults.plan import FaultPlan
from controlroom.scenario.model import FaultSpec, Target

__all__ = ["Builder", "FaultType", "Param", "PlanContext", "build_plan", "catalogue", "parse_params"]


def _load() -> dict[str, FaultType]:
    # Imported here, not at the top: `validate` and `plan` need the table, `--help` does not.
    from controlroom.faults import (
        chaosmesh,
        gremlin,
        http,
        kubernetes,
        litmus,
        local,
        net_nft,
        net_tc,
        stress,
        system,
        toxiproxy,
    )

    # In the order `controlroom plan` and the docs list them. A new backend adds its module here.
    modules = (local, http, net_tc, net_nft, stress, system, kubernetes, chaosmesh, litmus, toxiproxy, gremlin)
    table: dict[str, FaultType] = {}
    for module in modules:
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


def build_plan(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    ft = catalogue()[spec.type]
    return ft.build(spec, target, ctx)

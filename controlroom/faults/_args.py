"""Reading a fault's parameters inside a plan builder, whether the loader already parsed them or not.

Builders are called with `FaultSpec.params` as the loader stored them (parsed
by the catalogue) and, in tests or `recover`, sometimes raw from YAML. Running
the parser again is harmless for raw values; an already parsed number passes.
"""

from __future__ import annotations

from typing import Any

from controlroom.faults.catalogue import Param
from controlroom.scenario.model import FaultSpec


def arg(spec: FaultSpec, param: Param) -> Any:
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

"""Custom resources checked at `validate` time against their CRD's openAPIV3Schema, as the API server checks them.

The CRDs are the ones bundled (with their licences and SOURCES.md) in `controlroom/lab/kube/data/` — the
same files the simulated cluster serves — and the checker is the simulated API server's (`lab/kube/schema`):
structural pruning refused as with `fieldValidation=Strict` (a typo is an error, never silently dropped),
defaults, then every violation located (`spec.mode: Unsupported value: "half": ...`). A real cluster may run
a newer CRD than the bundled one: the apply is sent strict, so the server has the last word.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

CHAOS_MESH = "chaos-mesh.org"
LITMUS = "litmuschaos.io"


@functools.cache
def _schemas() -> dict[str, tuple[str, str, str, dict[str, Any]]]:
    """kind -> (group, served version, plural, openAPIV3Schema) for every bundled CRD."""
    from controlroom.lab.kube.schema import bundled_crds

    out: dict[str, tuple[str, str, str, dict[str, Any]]] = {}
    for crd in bundled_crds():
        spec = crd["spec"]
        for version in spec.get("versions") or []:
            if version.get("served") and version.get("storage"):
                schema = (version.get("schema") or {}).get("openAPIV3Schema") or {}
                out[spec["names"]["kind"]] = (spec["group"], version["name"], spec["names"]["plural"], schema)
    return out


def resource(kind: str) -> tuple[str, str, str]:
    """(apiVersion, plural, CRD name) of a bundled kind; KeyError for one we do not know."""
    group, version, plural, _ = _schemas()[kind]
    return f"{group}/{version}", plural, f"{plural}.{group}"


def kinds(group: str) -> list[str]:
    return sorted(k for k, v in _schemas().items() if v[0] == group)


def check(manifest: dict[str, Any]) -> str | None:
    """None when the manifest is valid for its kind's CRD; else the API server's located message."""
    from controlroom.lab.kube.schema import VersionSchema
    from controlroom.lab.kube.status import ApiError

    kind = manifest.get("kind")
    if kind not in _schemas():
        return f"kind {kind!r} is not a known custom resource (known: {', '.join(sorted(_schemas()))})"
    group, version, _, schema = _schemas()[str(kind)]
    try:
        VersionSchema(str(kind), group, version, schema).admit(copy.deepcopy(manifest), strict=True)
    except ApiError as err:
        return err.message.replace(' "named-at-injection"', "")
    return None

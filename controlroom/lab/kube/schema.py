"""Custom resources checked against their CRD's `openAPIV3Schema`, the way kube-apiserver checks them.

In order: unknown fields are pruned (structural pruning; a `Warning: unknown field` header, or a 400
`strict decoding error` with `?fieldValidation=Strict`), `null` in a field that is not `nullable` is
dropped, `default`s are applied, then the object is
validated; every violation becomes a located cause (`spec.mode: Unsupported value: "half": supported
values: ...`) in one 422 Invalid. Validation uses `jsonschema`'s Draft 4 validator on the schema, with
`nullable` rewritten into a JSON-schema type list.

Where it differs from the real server: `x-kubernetes-validations` (CEL rules), `format` checks,
`x-kubernetes-list-type`/`map-keys` uniqueness and ratcheting are not evaluated (the Chaos Mesh and
Litmus CRDs bundled here use none of them); the messages of rarely used keywords are jsonschema's.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from controlroom.lab.kube.status import ApiError, Cause, bad_request, go_value, invalid

Obj = dict[str, Any]

_JSON_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number", dict: "object", list: "array",
               type(None): "null"}


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def field_path(parts: Iterable[Any]) -> str:
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out


@dataclass
class VersionSchema:
    """One served version of a CRD: its schema, compiled once."""

    kind: str
    group: str
    version: str
    schema: Obj
    _validator: Any = field(default=None, repr=False)

    @property
    def validator(self) -> Any:
        if self._validator is None:
            import jsonschema  # the stand-in's only use of it; imported when a custom resource is first written

            self._validator = jsonschema.Draft4Validator(_nullable_to_types(self.schema))
        return self._validator

    def admit(self, obj: Obj, strict: bool) -> list[str]:
        """Prune, default and validate `obj` in place; returns the warnings, raises ApiError for a refusal."""
        unknown: list[str] = []
        for key in list(obj):
            if key in ("apiVersion", "kind", "metadata"):
                continue
            sub = (self.schema.get("properties") or {}).get(key)
            if sub is None and not self.schema.get("x-kubernetes-preserve-unknown-fields"):
                unknown.append(key)
                del obj[key]
            elif sub is not None and obj[key] is None and not sub.get("nullable"):
                del obj[key]
            elif sub is not None:
                _prune(obj[key], sub, [key], unknown)
        if unknown and strict:
            fields = ", ".join(f'unknown field "{u}"' for u in unknown)
            raise bad_request(f'{self.kind} in version "{self.version}" cannot be handled as a {self.kind}: '
                              f"strict decoding error: {fields}")
        _default(obj, self.schema, root=True)
        causes = [self._cause(err) for err in self.validator.iter_errors(_without_meta(obj))]
        if causes:
            seen: set[tuple[str, str]] = set()
            unique = []
            for c in sorted(causes, key=lambda c: (c.field, c.message)):
                if (c.field, c.message) not in seen:
                    seen.add((c.field, c.message))
                    unique.append(c)
            raise invalid(self.kind, self.group, (obj.get("metadata") or {}).get("name", ""), unique)
        return [f'unknown field "{u}"' for u in unknown]

    @staticmethod
    def _cause(err: Any) -> Cause:
        path = field_path(err.absolute_path)
        v, inst = err.validator, err.instance
        if v == "required":
            m = re.fullmatch(r"'(.*)' is a required property", err.message)
            missing = m.group(1) if m else str(err.validator_value)
            return Cause(f"{path}.{missing}" if path else missing, "FieldValueRequired", "Required value")
        if v == "enum":
            supported = ", ".join(go_value(s) for s in err.validator_value)
            return Cause(path, "FieldValueNotSupported",
                         f"Unsupported value: {go_value(inst)}: supported values: {supported}")
        if v == "type":
            want = err.validator_value
            want = " or ".join(w for w in want if w != "null") if isinstance(want, list) else want
            got = _json_type(inst)
            return Cause(path, "FieldValueTypeInvalid",
                         f'Invalid value: "{got}": {path} in body must be of type {want}: "{got}"')
        if v == "pattern":
            return Cause(path, "FieldValueInvalid",
                         f"Invalid value: {go_value(inst)}: {path} in body should match '{err.validator_value}'")
        if v == "minimum":
            return Cause(path, "FieldValueInvalid", f"Invalid value: {go_value(inst)}: {path} in body should be "
                         f"greater than or equal to {err.validator_value}")
        if v == "maximum":
            return Cause(path, "FieldValueInvalid", f"Invalid value: {go_value(inst)}: {path} in body should be "
                         f"less than or equal to {err.validator_value}")
        if v == "maxLength":
            return Cause(path, "FieldValueTooLong", f"Too long: may not be longer than {err.validator_value}")
        if v == "minLength":
            return Cause(path, "FieldValueInvalid", f"Invalid value: {go_value(inst)}: {path} in body should be at "
                         f"least {err.validator_value} chars long")
        if v == "maxItems":
            return Cause(path, "FieldValueTooMany",
                         f"Too many: {len(inst)}: must have at most {err.validator_value} items")
        if v == "minItems":
            return Cause(path, "FieldValueInvalid", f"Invalid value: {len(inst)}: {path} in body should have at "
                         f"least {err.validator_value} items")
        return Cause(path, "FieldValueInvalid", f"Invalid value: {go_value(inst)}: {err.message}")


def _without_meta(obj: Obj) -> Obj:
    # metadata is ObjectMeta, checked by the generic rules (names, labels); the CRD schema says `type: object` only
    return {k: v for k, v in obj.items() if k != "metadata"}


def _prune(value: Any, schema: Obj, path: list[str | int], unknown: list[str]) -> None:
    if isinstance(value, dict):
        if schema.get("x-kubernetes-embedded-resource"):
            keep = {"apiVersion", "kind", "metadata"}
        else:
            keep = set()
        props = schema.get("properties")
        addl = schema.get("additionalProperties")
        preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        for key in list(value):
            sub = props.get(key) if props and key in props else (addl if isinstance(addl, dict) else None)
            if sub is not None and value[key] is None and not sub.get("nullable"):
                del value[key]  # null in a non-nullable field is dropped before defaulting, as the API server does
                continue
            if sub is not None:
                _prune(value[key], sub, [*path, key], unknown)
            elif addl is True or preserve or key in keep:
                continue
            else:
                unknown.append(field_path([*path, key]))
                del value[key]
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _prune(item, schema["items"], [*path, i], unknown)


def _default(value: Any, schema: Obj, root: bool = False) -> None:
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key, sub in props.items():
            if root and key == "metadata":
                continue
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                _default(value[key], sub)
        addl = schema.get("additionalProperties")
        if isinstance(addl, dict):
            for key in value:
                if key not in props:
                    _default(value[key], addl)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _default(item, schema["items"])


def _nullable_to_types(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: _nullable_to_types(v) for k, v in schema.items()}
        if out.get("nullable") is True and isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        return out
    if isinstance(schema, list):
        return [_nullable_to_types(v) for v in schema]
    return schema


# -- the CRD files shipped with the stand-in -------------------------------------------------------------------

DATA = "controlroom.lab.kube"
CHAOS_MESH_FILES = tuple(f"data/chaos-mesh/crds/chaos-mesh.org_{k}.yaml" for k in
                         ("podchaos", "networkchaos", "stresschaos", "iochaos", "httpchaos", "dnschaos",
                          "timechaos"))
LITMUS_FILES = ("data/litmus/crds/chaos_crds.yaml",)


def _loader() -> Any:
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def _load_file(rel: str) -> tuple[Obj, ...]:
    text = (resources.files(DATA) / rel).read_text(encoding="utf-8")
    return tuple(d for d in yaml.load_all(text, Loader=_loader()) if d)


def bundled_crds(chaos_mesh: bool = True, litmus: bool = True) -> list[Obj]:
    """The CRD objects bundled as data (parsed once per process; each caller gets its own copy)."""
    files = (CHAOS_MESH_FILES if chaos_mesh else ()) + (LITMUS_FILES if litmus else ())
    return [copy.deepcopy(d) for f in files for d in _load_file(f)]


def load_crd_file(path: Path) -> list[Obj]:
    with path.open(encoding="utf-8") as fh:
        return [d for d in yaml.load_all(fh, Loader=_loader()) if d and d.get("kind") == "CustomResourceDefinition"]


def crd_error(crd: Obj) -> ApiError | None:
    """The checks the real server makes on a CRD that the stand-in relies on (name, group, names, versions)."""
    spec = crd.get("spec") or {}
    name = (crd.get("metadata") or {}).get("name", "")
    causes: list[Cause] = []
    group, names = spec.get("group"), spec.get("names") or {}
    if not group:
        causes.append(Cause("spec.group", "FieldValueRequired", "Required value"))
    for key in ("plural", "kind"):
        if not names.get(key):
            causes.append(Cause(f"spec.names.{key}", "FieldValueRequired", "Required value"))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(Cause("spec.scope", "FieldValueNotSupported",
                            f'Unsupported value: {go_value(spec.get("scope"))}: supported values: "Cluster", "Namespaced"'))
    versions = spec.get("versions") or []
    if not versions:
        causes.append(Cause("spec.versions", "FieldValueInvalid", "Invalid value: null: must have exactly one version "
                            "marked as storage version"))
    elif sum(1 for v in versions if v.get("storage")) != 1:
        causes.append(Cause("spec.versions", "FieldValueInvalid",
                            "Invalid value: ...: must have exactly one version marked as storage version"))
    if group and names.get("plural") and name != f"{names['plural']}.{group}":
        causes.append(Cause("metadata.name", "FieldValueInvalid",
                            f'Invalid value: {go_value(name)}: must be spec.names.plural+"."+spec.group'))
    if causes:
        return invalid("CustomResourceDefinition", "apiextensions.k8s.io", name, causes)
    return None

"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch (core types).

Strategic merge is what kubectl sends for built-in types: lists with a patch merge key (containers by
`name`, conditions by `type`, ownerReferences by `uid`...) are merged item by item instead of replaced,
`finalizers` is merged as a set, and the `$patch: delete|replace` and `$deleteFromPrimitiveList/<field>`
directives are honoured. Only the merge keys of the types the stand-in serves are known (see
`MERGE_KEYS`); any other list is replaced, which is also what the real server does for lists without a
key. Custom resources refuse strategic merge with 415, as the real server does.
"""

from __future__ import annotations

import copy
from typing import Any

Obj = dict[str, Any]

# list field name -> merge key, from the `patchMergeKey` tags of k8s.io/api (the types the stand-in serves)
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "volumeMounts": "mountPath", "ports": "containerPort", "conditions": "type",
    "ownerReferences": "uid", "imagePullSecrets": "name", "containerStatuses": "name",
    "initContainerStatuses": "name", "hostAliases": "ip", "topologySpreadConstraints": "topologyKey",
    "tolerations": None, "readinessGates": None,
}
SET_LISTS = {"finalizers"}  # patchStrategy:"merge" on a list of strings


class PatchError(Exception):
    """A patch that cannot be applied; the API answers 422 (or 400 for a malformed body)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, `null` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any, field: str = "") -> Any:
    if isinstance(patch, dict):
        directive = patch.get("$patch")
        if directive == "delete":
            return None
        if directive == "replace":
            return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
        result = copy.deepcopy(target) if isinstance(target, dict) else {}
        for key, value in patch.items():
            if key == "$patch":
                continue
            if key.startswith("$deleteFromPrimitiveList/"):
                name = key.split("/", 1)[1]
                drop = set(value or [])
                result[name] = [v for v in result.get(name) or [] if v not in drop]
                continue
            if key.startswith("$setElementOrder/") or key == "$retainKeys":
                continue
            if value is None:
                result.pop(key, None)
            elif isinstance(value, list):
                result[key] = _merge_list(result.get(key), value, key)
            else:
                result[key] = strategic_merge_patch(result.get(key), value, key)
        return result
    return copy.deepcopy(patch)


def _merge_list(target: Any, patch: list[Any], field: str) -> list[Any]:
    current = list(target) if isinstance(target, list) else []
    if field in SET_LISTS:
        out = list(current)
        for v in patch:
            if v not in out:
                out.append(v)
        return out
    key = MERGE_KEYS.get(field)
    if not key or not all(isinstance(p, dict) for p in patch):
        if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
            return [p for p in patch if not (isinstance(p, dict) and p.get("$patch"))]
        return copy.deepcopy(patch)
    out = [copy.deepcopy(c) for c in current]
    for item in patch:
        if item.get("$patch") == "replace":
            return [copy.deepcopy({k: v for k, v in p.items() if k != "$patch"}) for p in patch
                    if p.get("$patch") != "replace"]
        ident = item.get(key)
        idx = next((i for i, c in enumerate(out) if isinstance(c, dict) and c.get(key) == ident), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append(strategic_merge_patch({}, item))
        else:
            out[idx] = strategic_merge_patch(out[idx], item)
    return out


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902: add, remove, replace, move, copy, test; a failing op aborts the whole patch."""
    if not isinstance(ops, list):
        raise PatchError("json patch must be a list of operations")
    doc = copy.deepcopy(target)
    for n, op in enumerate(ops):
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"operation {n}: must be an object with 'op' and 'path'")
        kind = op["op"]
        if kind == "add":
            doc = _add(doc, _pointer(op["path"]), copy.deepcopy(_need(op, "value", n)))
        elif kind == "remove":
            doc, _ = _remove(doc, _pointer(op["path"]))
        elif kind == "replace":
            parts = _pointer(op["path"])
            _get(doc, parts)  # must exist
            doc, _ = _remove(doc, parts) if parts else (doc, None)
            doc = _add(doc, parts, copy.deepcopy(_need(op, "value", n)))
        elif kind == "move":
            src = _pointer(_need(op, "from", n))
            doc, value = _remove(doc, src)
            doc = _add(doc, _pointer(op["path"]), value)
        elif kind == "copy":
            value = copy.deepcopy(_get(doc, _pointer(_need(op, "from", n))))
            doc = _add(doc, _pointer(op["path"]), value)
        elif kind == "test":
            if _get(doc, _pointer(op["path"])) != _need(op, "value", n):
                raise PatchError(f"testing value {op['path']} failed")
        else:
            raise PatchError(f"Unexpected kind: {kind}")
    return doc


def _need(op: Obj, key: str, n: int) -> Any:
    if key not in op:
        raise PatchError(f"operation {n} ({op.get('op')}): missing {key!r}")
    return op[key]


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _get(doc: Any, parts: list[str]) -> Any:
    cur = doc
    for p in parts:
        if isinstance(cur, dict):
            if p not in cur:
                raise PatchError(f"doc is missing path: /{'/'.join(parts)}")
            cur = cur[p]
        elif isinstance(cur, list):
            i = _index(p, len(cur), parts)
            if i >= len(cur):
                raise PatchError(f"doc is missing path: /{'/'.join(parts)}")
            cur = cur[i]
        else:
            raise PatchError(f"doc is missing path: /{'/'.join(parts)}")
    return cur


def _index(p: str, length: int, parts: list[str]) -> int:
    if not p.isdigit():
        raise PatchError(f"invalid array index {p!r} in /{'/'.join(parts)}")
    return int(p)


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _get(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        i = len(parent) if last == "-" else _index(last, len(parent), parts)
        if i > len(parent):
            raise PatchError(f"add operation does not apply: index out of range in /{'/'.join(parts)}")
        parent.insert(i, value)
    else:
        raise PatchError(f"add operation does not apply: doc is missing path: /{'/'.join(parts)}")
    return doc


def _remove(doc: Any, parts: list[str]) -> tuple[Any, Any]:
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent = _get(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"remove operation does not apply: doc is missing path: /{'/'.join(parts)}")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        i = _index(last, len(parent), parts)
        if i >= len(parent):
            raise PatchError(f"remove operation does not apply: doc is missing path: /{'/'.join(parts)}")
        return doc, parent.pop(i)
    raise PatchError(f"remove operation does not apply: doc is missing path: /{'/'.join(parts)}")


__all__ = ["PatchError", "json_patch", "merge_patch", "strategic_merge_patch"]

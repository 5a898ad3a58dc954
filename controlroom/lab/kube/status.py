"""The API server's refusals as `Status` objects, with the codes, reasons and wording of kube-apiserver.

A client tells a refusal apart by `code` and `reason` (kr8s raises `ServerError`
with `status` = this body), and shows `message`. The wording follows
k8s.io/apimachinery/pkg/api/errors (NewNotFound, NewAlreadyExists, NewConflict,
NewInvalid, NewForbidden, NewBadRequest...), so a message the room shows against
the stand-in reads like the one it will show against a real cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]


@dataclass(frozen=True)
class Cause:
    """One `details.causes[]` entry: a located problem in the request body."""

    field: str
    reason: str  # FieldValueRequired, FieldValueInvalid, FieldValueNotSupported, FieldValueTypeInvalid...
    message: str

    def to_dict(self) -> Obj:
        return {"reason": self.reason, "message": self.message, "field": self.field}

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ApiError(Exception):
    """A request the API server refuses; `status()` is the body it answers with."""

    def __init__(self, code: int, reason: str, message: str, details: Obj | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> Obj:
        body: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                     "message": self.message, "reason": self.reason}
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(name: str | None, group: str, kind: str, causes: list[Cause] | None = None) -> Obj:
    d: Obj = {}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    d["kind"] = kind
    if causes:
        d["causes"] = [c.to_dict() for c in causes]
    return d


def qualified(plural: str, group: str) -> str:
    """`pods` or `podchaos.chaos-mesh.org`: how messages name a resource."""
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{qualified(plural, group)} "{name}" not found', _details(name, group, plural))


def no_such_resource() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def already_exists(plural: str, group: str, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{qualified(plural, group)} "{name}" already exists',
                    _details(name, group, plural))


def conflict(plural: str, group: str, name: str, why: str) -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": {why}',
                    _details(name, group, plural))


MODIFIED = "the object has been modified; please apply your changes to the latest version and try again"


def invalid(kind: str, group: str, name: str, causes: list[Cause]) -> ApiError:
    """422 Invalid: `Kind.group "name" is invalid: field: message` (several in brackets), causes located."""
    who = f"{kind}.{group}" if group else kind
    text = str(causes[0]) if len(causes) == 1 else "[" + ", ".join(str(c) for c in causes) + "]"
    return ApiError(422, "Invalid", f'{who} "{name}" is invalid: {text}', _details(name, group, kind, causes))


def forbidden(plural: str, group: str, name: str | None, why: str, causes: list[Cause] | None = None) -> ApiError:
    who = f'{qualified(plural, group)} "{name}"' if name else qualified(plural, group)
    return ApiError(403, "Forbidden", f"{who} is forbidden: {why}", _details(name, group, plural, causes))


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})


def unsupported_media_type(content_type: str, accepted: list[str]) -> ApiError:
    return ApiError(415, "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types include: "
                    f"{', '.join(accepted)}", {})


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {message}", {"causes": [{"message": message}]})


@dataclass
class Causes:
    """Collects causes while validating, so every problem is reported at once as the real server does."""

    items: list[Cause] = field(default_factory=list)

    def required(self, path: str, detail: str = "") -> None:
        self.items.append(Cause(path, "FieldValueRequired", "Required value" + (f": {detail}" if detail else "")))

    def invalid(self, path: str, value: Any, detail: str) -> None:
        self.items.append(Cause(path, "FieldValueInvalid", f"Invalid value: {go_value(value)}: {detail}"))

    def not_supported(self, path: str, value: Any, supported: list[Any]) -> None:
        self.items.append(Cause(path, "FieldValueNotSupported", f"Unsupported value: {go_value(value)}: supported "
                                f"values: {', '.join(go_value(s) for s in supported)}"))

    def forbidden(self, path: str, detail: str) -> None:
        self.items.append(Cause(path, "FieldValueForbidden", f"Forbidden: {detail}"))

    def type_invalid(self, path: str, value: Any, detail: str) -> None:
        self.items.append(Cause(path, "FieldValueTypeInvalid", f"Invalid value: {go_value(value)}: {detail}"))

    def raise_if_any(self, kind: str, group: str, name: str) -> None:
        if self.items:
            raise invalid(kind, group, name, self.items)


def go_value(value: Any) -> str:
    """A value as Go's `%q`/`%v` prints it in field errors: strings quoted, the rest bare."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return "{...}" if isinstance(value, dict) else "[...]"
    return str(value)

"""Label and field selectors, parsed and matched as kube-apiserver does (k8s.io/apimachinery labels, fields).

Label selectors: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, `k>1`, `k<1`, joined by
commas (AND). `!=` and `notin` also match objects without the key, as in Kubernetes. Keys and values are
validated (a bad one is a 400, never "matches nothing"): a selector the stand-in accepted and a real
server would refuse would let a typo select zero pods in a test and every pod in production.

Field selectors: `f=v`, `f==v`, `f!=v` only, on the fields each resource supports (see `resources.py`);
an unsupported field is a 400 with the real server's wording.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from controlroom.lab.kube.status import ApiError, bad_request

# used with fullmatch only: a `$` anchor would also accept the same text plus a trailing newline
_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")

NAME_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
             "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
             "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")


def qualified_name_error(key: str) -> str | None:
    """Why `key` is not a valid label/annotation key (prefix/name), or None."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and not prefix:
        return "prefix part must be non-empty"
    if prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(prefix)):
        return "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"
    if not name:
        return "name part must be non-empty"
    if len(name) > 63:
        return "name part must be no more than 63 characters"
    if not _NAME.fullmatch(name):
        return NAME_MSG
    return None


def label_value_error(value: str) -> str | None:
    if len(value) > 63:
        return "must be no more than 63 characters"
    if not _VALUE.fullmatch(value):
        return VALUE_MSG
    return None


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!", "gt", "lt"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        has = self.key in labels
        if self.op in ("=", "in"):
            return has and labels[self.key] in self.values
        if self.op in ("!=", "notin"):
            return not has or labels[self.key] not in self.values
        if self.op == "exists":
            return has
        if self.op == "!":
            return not has
        if not has:
            return False
        try:
            have, want = int(labels[self.key]), int(self.values[0])
        except ValueError:
            return False
        return have > want if self.op == "gt" else have < want


@dataclass(frozen=True)
class LabelSelector:
    """A parsed selector: all requirements must hold. The empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


EVERYTHING = LabelSelector()

_TOKEN = re.compile(r"\s*(==|!=|=|!|\(|\)|,|>|<|[^\s,()!=<>]+)")


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse `?labelSelector=`; a 400 BadRequest (as the real server) for anything it cannot parse."""
    if not text or not text.strip():
        return EVERYTHING
    tokens = _tokens(text)
    reqs: list[Requirement] = []
    i = 0

    def fail(found: str, expected: str) -> ApiError:
        return bad_request(f"unable to parse requirement: found '{found}', expected: {expected}")

    while i < len(tokens):
        tok = tokens[i]
        if tok == "!":
            if i + 1 >= len(tokens) or _is_op(tokens[i + 1]):
                raise fail(tokens[i + 1] if i + 1 < len(tokens) else "", "identifier")
            key = tokens[i + 1]
            _check_key(key)
            reqs.append(Requirement(key, "!"))
            i += 2
        else:
            if _is_op(tok):
                raise fail(tok, "!, identifier, or 'end of string'")
            key = tok
            _check_key(key)
            i += 1
            if i >= len(tokens) or tokens[i] == ",":
                reqs.append(Requirement(key, "exists"))
            else:
                op = tokens[i]
                i += 1
                if op in ("=", "=="):
                    value, i = _single_value(tokens, i)
                    reqs.append(Requirement(key, "=", (value,)))
                elif op == "!=":
                    value, i = _single_value(tokens, i)
                    reqs.append(Requirement(key, "!=", (value,)))
                elif op in (">", "<"):
                    value, i = _single_value(tokens, i)
                    try:
                        int(value)
                    except ValueError:
                        raise bad_request(f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must "
                                          f"be an integer: {value}") from None
                    reqs.append(Requirement(key, "gt" if op == ">" else "lt", (value,)))
                elif op in ("in", "notin"):
                    if i >= len(tokens) or tokens[i] != "(":
                        raise fail(tokens[i] if i < len(tokens) else "", "'('")
                    i += 1
                    values: list[str] = []
                    while True:
                        if i >= len(tokens):
                            raise fail("", "',', ')' or identifier")
                        if tokens[i] == ")":
                            i += 1
                            break
                        if tokens[i] == ",":
                            values.append("")  # `in (a,,b)` holds an empty value, like Kubernetes
                            i += 1
                            continue
                        if _is_op(tokens[i]):
                            raise fail(tokens[i], "',', ')' or identifier")
                        values.append(_check_value(tokens[i]))
                        i += 1
                        if i < len(tokens) and tokens[i] == ",":
                            i += 1
                    if not values:
                        raise bad_request("unable to parse requirement: for 'in', 'notin' operators, values set "
                                          "can't be empty")
                    reqs.append(Requirement(key, op, tuple(values)))
                else:
                    raise fail(op, "'=', '!=', '==', 'in', notin'")
        if i < len(tokens):
            if tokens[i] != ",":
                raise fail(tokens[i], "','")
            i += 1
            if i >= len(tokens):
                raise fail("", "identifier")
    return LabelSelector(tuple(reqs))


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:  # pragma: no cover - the pattern matches any non-space character
            raise bad_request(f"unable to parse requirement: unexpected character at {pos}")
        out.append(m.group(1))
        pos = m.end()
    return out


def _is_op(tok: str) -> bool:
    return tok in ("==", "!=", "=", "!", "(", ")", ",", ">", "<")


def _single_value(tokens: list[str], i: int) -> tuple[str, int]:
    if i >= len(tokens) or tokens[i] == ",":
        return "", i  # `k=` selects the empty value, as in Kubernetes
    if _is_op(tokens[i]):
        raise bad_request(f"unable to parse requirement: found '{tokens[i]}', expected: identifier")
    return _check_value(tokens[i]), i + 1


def _check_key(key: str) -> None:
    why = qualified_name_error(key)
    if why:
        raise bad_request(f'unable to parse requirement: <nil>: Invalid value: "{key}": {why}')


def _check_value(value: str) -> str:
    why = label_value_error(value)
    if why:
        raise bad_request(f'unable to parse requirement: values[0]: Invalid value: "{value}": {why}')
    return value


def selector_from_dict(spec: Mapping[str, Any] | None) -> LabelSelector:
    """A metav1.LabelSelector (`matchLabels`, `matchExpressions`); ValueError on a malformed one."""
    if not spec:
        return EVERYTHING
    reqs: list[Requirement] = []
    for key, value in sorted((spec.get("matchLabels") or {}).items()):
        reqs.append(Requirement(str(key), "=", (str(value),)))
    for expr in spec.get("matchExpressions") or []:
        op = expr.get("operator")
        key = str(expr.get("key", ""))
        values = tuple(str(v) for v in expr.get("values") or [])
        if op == "In":
            reqs.append(Requirement(key, "in", values))
        elif op == "NotIn":
            reqs.append(Requirement(key, "notin", values))
        elif op == "Exists":
            reqs.append(Requirement(key, "exists"))
        elif op == "DoesNotExist":
            reqs.append(Requirement(key, "!"))
        else:
            raise ValueError(f"{op!r} is not a valid label selector operator")
    return LabelSelector(tuple(reqs))


# -- field selectors -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldTerm:
    field: str
    negate: bool
    value: str


@dataclass(frozen=True)
class FieldSelector:
    terms: tuple[FieldTerm, ...] = ()

    def matches(self, fields: Callable[[str], str]) -> bool:
        return all((fields(t.field) == t.value) != t.negate for t in self.terms)

    def name_equals(self) -> str | None:
        """`metadata.name=X` alone (what kr8s sends to get one object): lets a list skip a scan."""
        for t in self.terms:
            if t.field == "metadata.name" and not t.negate:
                return t.value
        return None


NO_FIELDS = FieldSelector()


def parse_field_selector(text: str | None, supported: frozenset[str] | set[str], who: str,
                         custom: bool) -> FieldSelector:
    """Parse `?fieldSelector=`; a field the resource does not index is a 400 with the real wording."""
    if not text:
        return NO_FIELDS
    terms: list[FieldTerm] = []
    for raw in _split_unescaped(text, ","):
        if raw == "":
            continue
        for op in ("!=", "==", "="):
            idx = _find_unescaped(raw, op)
            if idx >= 0:
                field, value = raw[:idx], _unescape(raw[idx + len(op):])
                negate = op == "!="
                break
        else:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{raw}'")
        field = field.strip()
        if field not in supported:
            if custom:
                names = ", ".join(f'"{f}"' for f in sorted(supported))
                raise bad_request(f'"{field}" is not a known field selector: only {names}')
            raise bad_request(f'field label not supported: {field}')
        terms.append(FieldTerm(field, negate, value))
    return FieldSelector(tuple(terms))


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, cur, esc = [], [], False
    for ch in text:
        if esc:
            cur.append("\\" + ch)
            esc = False
        elif ch == "\\":
            esc = True
        elif ch == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _find_unescaped(text: str, op: str) -> int:
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(op, i):
            return i
        i += 1
    return -1


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)

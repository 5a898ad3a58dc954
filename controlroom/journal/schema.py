"""Checks a parsed journal line against the event vocabulary (`controlroom.journal.events`).

The TypedDicts there are compiled once into small checking functions (no
third-party validator, no reflection per line), so reading a million-event
journal stays cheap. A line that does not fit raises `BadEvent` with one short
reason ("fault: expected a string, got 5"); the reader turns it into a located
warning `JOURNAL:LINE: why` and skips the line.

Only one value is ever changed: a `Reading` (a metric value) that is NaN or
infinite is read as null — no data — so no figure downstream is ever NaN.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable, Sequence
from enum import Enum
from itertools import chain
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from controlroom.journal.events import PAYLOADS, READING, Event, Header

Check = Callable[[Any, str], Any]  # (value, where) -> the value (a Reading may come back as None)

MAX_SHOWN = 40  # characters of a bad value quoted in a warning


class BadEvent(ValueError):
    """A line that is not an event of the vocabulary; the message says which field and why."""


def _shown(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    if isinstance(value, str):
        text = repr(value)
    else:
        try:
            text = repr(value)
        except ValueError:  # an int too long to print
            return "a huge number"
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def _bad(where: str, expected: str, value: Any) -> BadEvent:
    return BadEvent(f"{where}: expected {expected}, got {_shown(value)}")


_isfinite = math.isfinite
_BIG = 10**300  # an int beyond this does not fit a float: it is not a number any reader can use


def _is_number(value: Any) -> bool:
    t = type(value)
    return (t is float and _isfinite(value)) or (t is int and -_BIG < value < _BIG)


def _finite_int(value: int) -> bool:
    return -_BIG < value < _BIG


# ---- compiled checkers ------------------------------------------------------------------------------------------

def _check_str(value: Any, where: str) -> Any:
    if type(value) is not str:
        raise _bad(where, "a string", value)
    return value


def _check_int(value: Any, where: str) -> Any:
    if type(value) is not int or not _finite_int(value):
        raise _bad(where, "an integer", value)
    return value


def _check_float(value: Any, where: str) -> Any:
    if not _is_number(value):
        raise _bad(where, "a finite number", value)
    return value


def _check_bool(value: Any, where: str) -> Any:
    if type(value) is not bool:
        raise _bad(where, "true or false", value)
    return value


def _check_none(value: Any, where: str) -> Any:
    if value is not None:
        raise _bad(where, "null", value)
    return value


def _check_any(value: Any, where: str) -> Any:
    return value


def _check_reading(value: Any, where: str) -> Any:
    if value is None:
        return None
    t = type(value)
    if t is float:
        return value if math.isfinite(value) else None
    if t is int:
        return value if _finite_int(value) else None
    raise _bad(where, "a number or null", value)


_SCALARS: dict[Any, Check] = {str: _check_str, int: _check_int, float: _check_float, bool: _check_bool,
                              type(None): _check_none, None: _check_none, Any: _check_any}
_NAMES: dict[Any, str] = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
                          type(None): "null", None: "null"}


def _describe(tp: Any) -> str:
    if tp in _NAMES:
        return _NAMES[tp]
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (list, tuple):
        return "a list"
    if origin is dict or typing.is_typeddict(tp):
        return "an object"
    return str(tp)


def _union(options: list[Any]) -> Check:
    checks = [compile_type(o) for o in options]
    expected = " or ".join(_describe(o) for o in options)

    def check(value: Any, where: str) -> Any:
        for c in checks:
            try:
                return c(value, where)
            except BadEvent:
                continue
        raise _bad(where, expected, value)

    return check


def _literal(allowed: tuple[Any, ...]) -> Check:
    values = frozenset(allowed)
    shown = [repr(a) for a in allowed] if len(allowed) <= 6 else [*(repr(a) for a in allowed[:4]), "…"]
    expected = "one of " + ", ".join(shown)

    def check(value: Any, where: str) -> Any:
        if type(value) is not str or value not in values:
            raise _bad(where, expected, value)
        return value

    return check


def _list(item: Any) -> Check:
    inner = compile_type(item)

    def check(value: Any, where: str) -> Any:
        if type(value) is not list:
            raise _bad(where, "a list", value)
        for i, v in enumerate(value):
            got = inner(v, f"{where}[{i}]")
            if got is not v:
                value[i] = got
        return value

    return check


def _tuple(items: tuple[Any, ...]) -> Check:
    inner = [compile_type(i) for i in items]
    n = len(inner)

    def check(value: Any, where: str) -> Any:
        if type(value) is not list or len(value) != n:
            raise _bad(where, f"a list of {n}", value)
        for i, c in enumerate(inner):
            got = c(value[i], f"{where}[{i}]")
            if got is not value[i]:
                value[i] = got
        return value

    return check


def _dict(item: Any) -> Check:
    inner = compile_type(item)
    is_reading = inner is _check_reading

    def check(value: Any, where: str) -> Any:
        if type(value) is not dict:
            raise _bad(where, "an object", value)
        if is_reading:  # the hot path: a metric sample's values
            for k, v in value.items():
                if v is None:
                    continue
                t = type(v)
                if t is float:
                    if not math.isfinite(v):
                        value[k] = None
                elif t is int:
                    if not _finite_int(v):
                        value[k] = None
                else:
                    raise _bad(f"{where}.{k}", "a number or null", v)
            return value
        for k, v in value.items():
            got = inner(v, f"{where}.{k}")
            if got is not v:
                value[k] = got
        return value

    return check


def _typed_dict(td: type) -> Check:
    hints = get_type_hints(td, include_extras=True)
    required: frozenset[str] = td.__required_keys__  # type: ignore[attr-defined]
    fields = [(name, compile_type(tp), name in required) for name, tp in hints.items()]

    def check(value: Any, where: str) -> Any:
        if type(value) is not dict:
            raise _bad(where, "an object", value)
        for name, c, needed in fields:
            if name in value:
                v = value[name]
                got = c(v, f"{where}.{name}" if where else name)
                if got is not v:
                    value[name] = got
            elif needed:
                raise BadEvent(f"{where + '.' if where else ''}{name}: missing")
        return value

    return check


_COMPILED: dict[Any, Check] = {}


def compile_type(tp: Any) -> Check:
    """A checking function for one annotation of the vocabulary (cached: TypedDicts are compiled once)."""
    try:
        cached = _COMPILED.get(tp)
    except TypeError:  # an unhashable annotation
        cached = None
    if cached is not None:
        return cached
    check = _compile(tp)
    try:
        _COMPILED[tp] = check
    except TypeError:
        pass
    return check


def _compile(tp: Any) -> Check:
    if tp in _SCALARS:
        return _SCALARS[tp]
    origin = get_origin(tp)
    if origin is typing.Annotated:
        base, *meta = get_args(tp)
        return _check_reading if READING in meta else compile_type(base)
    if origin in (typing.NotRequired, typing.Required):
        return compile_type(get_args(tp)[0])
    if origin is Literal:
        return _literal(get_args(tp))
    if origin in (Union, types.UnionType):
        return _union(list(get_args(tp)))
    if origin is list:
        return _list(get_args(tp)[0])
    if origin is tuple:
        return _tuple(get_args(tp))
    if origin is dict:
        key, item = get_args(tp)
        assert key is str, "journal objects have string keys"
        return _dict(item)
    if typing.is_typeddict(tp):
        return _typed_dict(tp)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return _literal(tuple(m.value for m in tp))
    raise TypeError(f"the journal vocabulary uses an annotation the validator does not know: {tp!r}")


_PAYLOAD_CHECKS: dict[str, Check] = {name: compile_type(td) for name, td in PAYLOADS.items()}
_HEADER_FIELDS = [(name, compile_type(tp)) for name, tp in get_type_hints(Header, include_extras=True).items()]


def check_payload(type_: str, data: dict[str, Any]) -> dict[str, Any]:
    """The payload of a `type_` event, checked (readings normalised in place); BadEvent says what is wrong."""
    check = _PAYLOAD_CHECKS.get(type_)
    if check is None:
        raise BadEvent(f"unknown event type {_shown(type_)}")
    return check(data, "")


def _metric_sample(doc: dict[str, Any]) -> None:
    """The MetricSample check, written out: samples are most of a journal, so this is the reader's hot path.
    It says exactly what `compile_type(MetricSample)` says (a test compares the two on hostile payloads)."""
    values = doc.get("values", MISSING)
    if type(values) is not dict:
        if values is MISSING:
            raise BadEvent("values: missing")
        raise _bad("values", "an object", values)
    for k, v in values.items():
        if v is None:
            continue
        t = type(v)
        if t is float:
            if not _isfinite(v):
                values[k] = None
        elif t is int:
            if not -_BIG < v < _BIG:
                values[k] = None
        else:
            raise _bad(f"values.{k}", "a number or null", v)
    errors = doc.get("errors", MISSING)
    if errors is not MISSING:
        if type(errors) is not dict:
            raise _bad("errors", "an object", errors)
        for k, v in errors.items():
            if type(v) is not str:
                raise _bad(f"errors.{k}", "a string", v)


MISSING = object()

_STR = frozenset({str})
_NUMBERS = frozenset({float, int})
_READINGS = frozenset({float, int, type(None)})
_ERRORS = frozenset({dict, object})  # an object: `errors` absent (the MISSING a reader passes for it)


def samples_fast(ts: Sequence[Any], monos: Sequence[Any], values: Sequence[Any], errors: Sequence[Any]) -> list[float] | None:
    """A run of `metric-sample` lines (their t, mono, values and errors — `MISSING` when absent) checked at once:
    the monos as floats when every line surely passes `event_from_doc` unchanged, else None.

    It only ever ACCEPTS what the per-line check accepts, and accepts it unchanged: a run with anything the
    check would reject or change (a NaN or huge reading made null, a bool, a missing field, a huge mono) is
    None, and the reader then checks that run line by line, with the located warning of each bad one. The
    tests hold it to `event_from_doc` on generated and hostile payloads (tests/journal/test_samples_fast.py).
    Whole-column operations (type sets, min, max, sum) run in C: a few tenths of a microsecond a sample.
    """
    try:
        if not set(map(type, ts)) <= _STR:
            return None
        mono_kinds = set(map(type, monos))
        if not mono_kinds <= _NUMBERS or not _all_small(monos):
            return None
        flat = list(chain.from_iterable(map(dict.values, values)))  # TypeError if one is not an object
        kinds = set(map(type, flat))
        if not kinds <= _READINGS:
            return None
        if not _all_small(flat):
            return None
        kinds = set(map(type, errors))
        if not kinds <= _ERRORS:
            return None
        if dict in kinds:
            given = errors if object not in kinds else [e for e in errors if e is not MISSING]
            if any(given) and not set(map(type, chain.from_iterable(map(dict.values, given)))) <= _STR:
                return None
    except (OverflowError, TypeError):  # a sum past what a float holds, a values that is no object: line by line
        return None
    return list(monos) if int not in mono_kinds else [float(m) for m in monos]


def _all_small(nums: Sequence[Any]) -> bool:
    """Numbers (floats, ints, nulls: the type checks come first) that `event_from_doc` keeps as they are: every
    float finite, every int within ±10**300. One pass: the sum of their sizes is below 10**300 only if each
    is (a float sum of non-negative terms never falls as it grows); a NaN makes it NaN and an infinity
    infinite, both not below; nulls and zeros add nothing and are left out. False may also be a sum of many
    large values (or OverflowError one past a float): then line by line decides."""
    return sum(map(abs, filter(None, nums))) < _BIG


def event_from_doc(doc: Any) -> Event:
    """A parsed journal line -> Event, checked against the vocabulary. `doc` is consumed (its keys are popped)."""
    if type(doc) is not dict:
        raise BadEvent(f"expected a JSON object, got {_shown(doc)}")
    try:
        type_, t, mono = doc.pop("type"), doc.pop("t"), doc.pop("mono")
    except KeyError as missing:
        raise BadEvent(f"{missing.args[0]}: missing") from None
    if type(t) is not str:
        raise _bad("t", "a time string", t)
    tm = type(mono)
    if not ((tm is float and _isfinite(mono)) or (tm is int and -_BIG < mono < _BIG)):
        raise _bad("mono", "a finite number", mono)
    if type_ == "metric-sample":
        _metric_sample(doc)
    else:
        check = _PAYLOAD_CHECKS.get(type_) if type(type_) is str else None
        if check is None:
            raise BadEvent(f"type: unknown event type {_shown(type_)}")
        check(doc, "")
    return Event(type=type_, t=t, mono=float(mono), data=doc)


def check_header(header: dict[str, Any]) -> list[str]:
    """Drop header fields of the wrong type (in place); the reasons, one per dropped field."""
    problems: list[str] = []
    for name, check in _HEADER_FIELDS:
        if name not in header:
            continue
        try:
            check(header[name], name)
        except BadEvent as err:
            del header[name]
            problems.append(f"header {err}; ignored")
    return problems


# ---- the vocabulary as docs/journal.md shows it ----------------------------------------------------------------

def _shape(tp: Any) -> str:
    """An annotation, written the way docs/journal.md reads: string, integer, number, [x], {k: v}, {a, b?}."""
    if tp is str:
        return "string"
    if tp is int:
        return "integer"
    if tp is float:
        return "number"
    if tp is bool:
        return "boolean"
    if tp in (None, type(None)):
        return "null"
    if tp is Any:
        return "any"
    origin = get_origin(tp)
    if origin is typing.Annotated:
        base, *meta = get_args(tp)
        return "reading" if READING in meta else _shape(base)
    if origin in (typing.NotRequired, typing.Required):
        return _shape(get_args(tp)[0])
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_shape(a) for a in get_args(tp))
    if origin is list:
        return f"[{_shape(get_args(tp)[0])}]"
    if origin is tuple:
        return "[" + ", ".join(_shape(a) for a in get_args(tp)) + "]"
    if origin is dict:
        return f"{{name: {_shape(get_args(tp)[1])}}}"
    if typing.is_typeddict(tp):
        required: frozenset[str] = tp.__required_keys__
        return "{" + ", ".join(f"{k}{'' if k in required else '?'}" for k in get_type_hints(tp)) + "}"
    if isinstance(tp, type) and issubclass(tp, Enum):
        return " \\| ".join(f"`{m.value}`" for m in tp)
    return str(tp)


def vocabulary_markdown() -> str:
    """The events table of docs/journal.md, made from the vocabulary (a test keeps the docs equal to it).

    Regenerate with: python -m controlroom.journal.schema
    """
    rows = ["| type | payload (`?` optional) | what it records |", "|---|---|---|"]
    for name, td in PAYLOADS.items():
        hints = get_type_hints(td, include_extras=True)
        required: frozenset[str] = td.__required_keys__  # type: ignore[attr-defined]
        fields = ", ".join(f"{k}{'' if k in required else '?'}: {_shape(t)}" for k, t in hints.items())
        doc = " ".join((td.__doc__ or "").split())
        rows.append(f"| {name} | {fields} | {doc} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(vocabulary_markdown(), end="")

"""Reading typed values out of the located YAML tree, collecting a Problem for each one that is wrong.

Each reader returns the value, or None after recording where and what is
wrong, so validation can keep walking and report every problem in one go.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from controlroom.errors import Problem
from controlroom.scenario.loader import Map, Node, Scalar, Seq, describe, one_line
from controlroom.units import MAX_DURATION, UnitError, format_duration, parse_duration

T = TypeVar("T")
K = TypeVar("K", bound=str)



def suggest(word: str, choices: Iterable[str]) -> str:
    """"; did you mean 'steps'?" when something close exists, else the list of what is allowed."""
    options = sorted(set(choices))
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f" (allowed: {', '.join(options)})" if options else ""


def plain(node: Node) -> Any:
    """A located node -> plain Python data, for fault parameter parsers."""
    if isinstance(node, Scalar):
        return node.value
    if isinstance(node, Seq):
        return [plain(item) for item in node.items]
    assert isinstance(node, Map)
    return {key: plain(value) for key, (_, value) in node.entries.items()}


class FieldReader:
    """Typed reads of located values; every wrong value becomes a Problem and reads as None."""

    def __init__(self, file: str, problems: Sequence[Problem] = ()):
        self.file = file
        self.problems: list[Problem] = list(problems)

    # -- reporting ---------------------------------------------------------

    def at(self, node: Node, message: str) -> None:
        self.problems.append(Problem(self.file, max(node.line, 1), max(node.col, 1), one_line(message)))

    # -- shapes ------------------------------------------------------------

    def mapping(self, node: Node | None, where: str) -> Map | None:
        if node is None:
            return None
        if isinstance(node, Map):
            return node
        if isinstance(node, Scalar) and node.value is None:
            return Map(node.line, node.col)  # `observe:` with nothing under it: all defaults
        self.at(node, f"{where}: expected a mapping (keys and values), got {describe(node)}")
        return None

    def sequence(self, node: Node | None, where: str) -> Seq | None:
        if node is None:
            return None
        if isinstance(node, Seq):
            return node
        self.at(node, f"{where}: expected a list, got {describe(node)}")
        return None

    def keys(self, node: Map, allowed: Sequence[str], where: str) -> None:
        for name, (key, _) in node.entries.items():
            if name not in allowed:
                label = f"{where}: unknown key {name!r}" if where else f"unknown top-level key {name!r}"
                self.at(key, label + suggest(name, allowed))

    def one_of(self, node: Map, choices: Sequence[K], where: str, wording: str) -> K | None:
        """The one key of `choices` present in `node`; none or several is a problem ("give exactly one of ...")."""
        present = [k for k in choices if k in node.entries]
        if len(present) != 1:
            what = "none" if not present else " and ".join(present)
            self.at(node, f"{where}: give exactly one of {wording} (found {what})")
            return None
        return present[0]

    def require(self, node: Map, key: str, where: str, hint: str = "") -> Node | None:
        value = node.get(key)
        if value is None:
            label = f"{where}: missing required key {key!r}" if where else f"missing required key {key!r}"
            self.at(node, label + (f"; {hint}" if hint else ""))
        return value

    # -- scalars -----------------------------------------------------------

    def string(self, node: Node | None, where: str, *, empty_ok: bool = False) -> str | None:
        if node is None:
            return None
        if not isinstance(node, Scalar) or node.value is None:
            self.at(node, f"{where}: expected a string, got {describe(node)}")
            return None
        if not empty_ok and not node.raw.strip():
            self.at(node, f"{where}: must not be empty")
            return None
        return node.raw

    def checked(self, node: Node | None, where: str, check: Callable[[str], str | None]) -> str | None:
        value = self.string(node, where)
        if value is None or node is None:
            return None
        message = check(value)
        if message:
            self.at(node, f"{where}: {message}")
            return None
        return value

    def boolean(self, node: Node | None, where: str) -> bool | None:
        if node is None:
            return None
        if isinstance(node, Scalar) and isinstance(node.value, bool):
            return node.value
        self.at(node, f"{where}: expected true or false, got {describe(node)}")
        return None

    def integer(self, node: Node | None, where: str, minimum: int) -> int | None:
        if node is None:
            return None
        if not isinstance(node, Scalar) or isinstance(node.value, bool) or not isinstance(node.value, int):
            self.at(node, f"{where}: expected a whole number, got {describe(node)}")
            return None
        if node.value < minimum:
            self.at(node, f"{where}: must be at least {minimum}, got {node.value}")
            return None
        return node.value

    def duration(
        self, node: Node | None, where: str, *, positive: bool = True, minimum: float | None = None,
    ) -> float | None:
        if node is None:
            return None
        if not isinstance(node, Scalar) or node.value is None or isinstance(node.value, bool):
            self.at(node, f"{where}: expected a duration such as '5s' or '300ms', got {describe(node)}")
            return None
        if node.raw.strip().startswith("-"):
            self.at(node, f"{where}: durations cannot be negative, got {node.raw!r}")
            return None
        if isinstance(node.value, (int, float)) and not node.quoted:
            hint = node.raw.lstrip("+")
            self.at(node, f"{where}: a duration needs a unit: write '{hint}s' or '{hint}ms', not {node.raw}")
            return None
        try:
            seconds = parse_duration(node.raw)
        except UnitError as err:
            self.at(node, f"{where}: {err}")
            return None
        if not seconds <= MAX_DURATION:  # also catches inf from absurdly long digit strings
            self.at(node, f"{where}: {node.raw!r} is longer than 24h, the longest duration a scenario may use")
            return None
        if positive and seconds <= 0:
            self.at(node, f"{where}: must be more than 0, got {node.raw!r}")
            return None
        if minimum is not None and seconds < minimum:
            self.at(node, f"{where}: must be at least {format_duration(minimum)}, got {node.raw!r}")
            return None
        return seconds

    def strings(self, node: Node | None, where: str) -> list[tuple[str, Node]]:
        seq = self.sequence(node, where)
        if seq is None:
            return []
        out: list[tuple[str, Node]] = []
        for i, item in enumerate(seq.items):
            value = self.string(item, f"{where}[{i}]")
            if value is not None:
                out.append((value, item))
        return out

    def choice(self, node: Node | None, where: str, options: Sequence[T]) -> T | None:
        value = self.string(node, where)
        if value is None or node is None:
            return None
        for option in options:
            if option == value:
                return option
        close = difflib.get_close_matches(value, [str(o) for o in options], n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        self.at(node, f"{where}: {value!r} is not one of {', '.join(map(str, options))}{hint}")
        return None

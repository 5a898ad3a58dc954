"""Target ranges: `web-[1:200]` in a scenario's `targets:` is 200 targets, web-1 … web-200.

A fleet game day names hundreds of hosts that differ only by a number; writing them out one by one is
where typos (and a host rehearsed twice or never) come from. The form is Ansible's inventory range:
`[START:END]`, inclusive, decimal; a START written with a leading zero pads every number to its width
(`db-[01:12]` is db-01 … db-12).

Why this is safe: a range is expanded before anything else reads the scenario, into ordinary targets that
then go through the same checks one by one (name alphabet, ssh destination, labels); the ssh destination
or URL must carry the *same* range, so each target gets its own host and a range can never mean "the same
host 200 times"; a range that would exceed MAX_RANGE targets is refused (a typo like `[1:20000]`), and
nothing but digits can come out of the brackets, so no range can put a shell metacharacter into a name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from controlroom.scenario.loader import Map, Node, Scalar, Seq

RANGE_RE = re.compile(r"\[([0-9]{1,6}):([0-9]{1,6})\]")
MAX_RANGE = 5000  # targets one range may name: five times the largest fleet the benchmarks drive


@dataclass(frozen=True)
class TargetRange:
    text: str  # "[1:200]" as written
    start: int
    end: int
    width: int  # zero-padded width, 0 when not padded

    def numbers(self) -> list[str]:
        return [str(i).zfill(self.width) if self.width else str(i) for i in range(self.start, self.end + 1)]

    def __len__(self) -> int:
        return self.end - self.start + 1


def find_range(key: str) -> TargetRange | str | None:
    """The one range in a target key; None when the key has none; a message when it is malformed."""
    if "[" not in key and "]" not in key:
        return None
    found = RANGE_RE.findall(key)
    if len(found) != 1 or key.count("[") != 1 or key.count("]") != 1:
        return (f"target range {key!r} must hold exactly one [START:END] of whole numbers, "
                f"e.g. web-[1:20] or db-[01:12]")
    start_text, end_text = found[0]
    start, end = int(start_text), int(end_text)
    if start > end:
        return f"target range {key!r} counts down; write [{end}:{start}]"
    if end - start + 1 > MAX_RANGE:
        return (f"target range {key!r} names {end - start + 1} targets, more than {MAX_RANGE}; "
                f"split it or check the numbers")
    width = len(start_text) if start_text.startswith("0") and len(start_text) > 1 else 0
    return TargetRange(f"[{start_text}:{end_text}]", start, end, width)


def substitute(node: Node, text: str, number: str) -> Node:
    """A copy of a located node with `text` replaced by `number` in every string (same lines and columns)."""
    if isinstance(node, Scalar):
        if isinstance(node.value, str) and text in node.value:
            return replace(node, value=node.value.replace(text, number), raw=node.raw.replace(text, number))
        return node
    if isinstance(node, Seq):
        return replace(node, items=[substitute(item, text, number) for item in node.items])
    if isinstance(node, Map):
        return replace(node, entries={key: (key_node, substitute(value, text, number))
                                      for key, (key_node, value) in node.entries.items()})
    return node


def carries(node: Node, text: str) -> bool:
    """Whether any string under `node` contains the range text."""
    if isinstance(node, Scalar):
        return isinstance(node.value, str) and text in node.value
    if isinstance(node, Seq):
        return any(carries(item, text) for item in node.items)
    if isinstance(node, Map):
        return any(carries(value, text) for _, value in node.entries.values())
    return False

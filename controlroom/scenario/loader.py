"""Reading a scenario file safely and turning its YAML into a located tree.

Every node keeps the line and column it was written at, so validation can say
`file:12:7: ...` about any value. Only the YAML a scenario needs is accepted:
one mapping document, no duplicate keys, no tags beyond the standard ones and
no alias that expands into a bomb. Values are read the YAML 1.2 way where 1.1
surprises people: `on`, `no`, `yes` and `off` stay strings, keys are always
strings, timestamps stay as written.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from controlroom.errors import Problem, ScenarioError

MAX_BYTES = 1 << 20  # a scenario is a page of YAML; anything bigger is a mistake or an attack
MAX_NODES = 10_000  # after alias expansion
MAX_ALIAS_USES = 8  # how often one anchored collection may be referenced
MAX_DEPTH = 64

_MERGE_TAG = "tag:yaml.org,2002:merge"
_BOOL_WORDS = {"true", "false"}
_SCALAR_TAGS = {f"tag:yaml.org,2002:{k}" for k in ("str", "int", "float", "bool", "null", "timestamp")}
_COLLECTION_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


@dataclass(eq=False)
class Node:
    line: int  # 1-based
    col: int  # 1-based

    @property
    def kind(self) -> str:
        return "a value"


@dataclass(eq=False)
class Scalar(Node):
    value: Any  # str, int, float, bool or None
    raw: str  # the text as written (without quotes)
    quoted: bool = False

    @property
    def kind(self) -> str:
        if self.value is None:
            return "nothing (null)"
        if isinstance(self.value, bool):
            return f"the boolean {self.raw}"
        if isinstance(self.value, (int, float)):
            return f"the number {self.raw}"
        return f"the string {self.raw!r}"


@dataclass(eq=False)
class Seq(Node):
    items: list[Node] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return "a list"


@dataclass(eq=False)
class Map(Node):
    # key -> (key node, value node), in the order written
    entries: dict[str, tuple[Scalar, Node]] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return "a mapping"

    def get(self, key: str) -> Node | None:
        entry = self.entries.get(key)
        return entry[1] if entry else None

    def key_node(self, key: str) -> Scalar | None:
        entry = self.entries.get(key)
        return entry[0] if entry else None


def describe(node: Node) -> str:
    """What a node is, for 'expected X, got Y' messages."""
    return node.kind


def one_line(message: str) -> str:
    """Problems are one line each: a CLI prints them as `file:line:col: message`."""
    return " ".join(message.split())


def _fatal(file: str, line: int, col: int, message: str) -> ScenarioError:
    return ScenarioError([Problem(file, max(line, 1), max(col, 1), one_line(message))])


def read_scenario_file(path: str | os.PathLike[str]) -> str:
    """The text of a scenario file, refusing what is not a small UTF-8 text file."""
    name = os.fspath(path)
    p = Path(name)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise _fatal(name, 1, 1, "no such file; check the path") from None
    except OSError as err:
        raise _fatal(name, 1, 1, f"cannot read the file: {err.strerror or err}") from None
    if stat.S_ISDIR(st.st_mode):
        raise _fatal(name, 1, 1, "is a directory, not a scenario file; name a .yaml file inside it")
    if not stat.S_ISREG(st.st_mode):
        raise _fatal(name, 1, 1, "is not a regular file; a scenario is a .yaml file")
    if st.st_size > MAX_BYTES:
        raise _fatal(name, 1, 1, f"file is {st.st_size} bytes; a scenario may be at most {MAX_BYTES} bytes (1 MiB)")
    try:
        with p.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as err:
        raise _fatal(name, 1, 1, f"cannot read the file: {err.strerror or err}") from None
    if len(data) > MAX_BYTES:
        raise _fatal(name, 1, 1, f"file is over {MAX_BYTES} bytes; a scenario may be at most 1 MiB")
    return decode(data, name)


def decode(data: bytes, file: str) -> str:
    """UTF-8 (an optional BOM allowed) -> text; binary data is refused at the first bad byte."""
    nul = data.find(b"\0")
    if nul >= 0:
        line, col = _position(data, nul)
        raise _fatal(file, line, col, "binary data (a NUL byte); a scenario is a UTF-8 text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line, col = _position(data, err.start)
        raise _fatal(file, line, col, "not UTF-8 text (invalid byte); save the scenario as UTF-8") from None
    return text.removeprefix("\ufeff")


def _position(data: bytes, index: int) -> tuple[int, int]:
    before = data[:index]
    line = before.count(b"\n") + 1
    col = len(before) - (before.rfind(b"\n") + 1) + 1
    return line, col


def _text_position(text: str, index: int) -> tuple[int, int]:
    before = text[:index]
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


def parse_document(text: str, file: str = "<text>") -> tuple[Map, list[Problem]]:
    """YAML text -> the top-level mapping as a located tree, plus non-fatal problems (duplicate keys, tags).

    Problems that leave nothing to validate (syntax errors, several documents,
    alias bombs, an empty or non-mapping document) raise ScenarioError at once.
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise _fatal(file, 1, 1, "text is over 1 MiB; a scenario may be at most 1 MiB")
    text = text.removeprefix("\ufeff")
    nul = text.find("\0")
    if nul >= 0:
        line, col = _text_position(text, nul)
        raise _fatal(file, line, col, "binary data (a NUL character); a scenario is a UTF-8 text file")
    root = _compose(text, file)
    if root is None or (isinstance(root, ScalarNode) and root.tag == "tag:yaml.org,2002:null" and not root.value):
        raise _fatal(file, 1, 1, "the scenario is empty; start with 'version: 1'")
    if not isinstance(root, MappingNode):
        what = "a list" if isinstance(root, SequenceNode) else f"a single value {root.value!r}"
        raise _fatal(
            file, root.start_mark.line + 1, root.start_mark.column + 1,
            f"the scenario must be a mapping of keys (version:, name:, steps:, ...), not {what}",
        )
    builder = _TreeBuilder(file)
    tree = builder.build(root)
    assert isinstance(tree, Map)
    return tree, builder.problems


def _compose(text: str, file: str) -> yaml.Node | None:
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)  # the reader refuses control characters right here
        if not loader.check_node():
            return None
        root = loader.get_node()
        if loader.check_node():
            # get_node() on the second document would compose it; its start event is enough.
            mark = loader.peek_event().start_mark
            raise _fatal(
                file, mark.line + 1, mark.column + 1,
                "a second YAML document ('---'); a scenario file holds exactly one",
            )
        return root
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = err.problem or err.context or "invalid YAML"
        if err.context and err.problem and "while" in err.context:
            message = f"{err.problem} ({err.context})"
        raise _fatal(file, line, col, f"YAML syntax error: {message}") from None
    except yaml.reader.ReaderError as err:
        line, col = _text_position(text, err.position)
        code = err.character if isinstance(err.character, int) else ord(str(err.character)[:1] or "?")
        raise _fatal(file, line, col, f"control character U+{code:04X} is not allowed in YAML; remove it") from None
    except yaml.YAMLError as err:
        raise _fatal(file, 1, 1, f"YAML error: {err}") from None
    except RecursionError:
        raise _fatal(file, 1, 1, "the YAML is nested too deeply; a scenario is a few levels deep") from None
    finally:
        if loader is not None:
            loader.dispose()


def _whole_characters(text: str) -> str | None:
    """JSON-style surrogate-pair escapes ("\\ud83d\\ude00") joined into the one character they spell, as JSON
    reads them (PyYAML keeps the halves apart); None when a half stands alone."""
    if not any("\ud800" <= ch <= "\udfff" for ch in text):
        return text
    try:
        return text.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError:
        return None


class _TreeBuilder:
    """yaml nodes -> located Map/Seq/Scalar, expanding aliases under a budget."""

    def __init__(self, file: str):
        self.file = file
        self.problems: list[Problem] = []
        self.count = 0
        self.uses: dict[int, int] = {}
        self.path: set[int] = set()
        self.aliased = False  # some collection was reached a second time, through an alias
        self.constructor = SafeConstructor()

    def problem(self, node: yaml.Node, message: str) -> None:
        m = node.start_mark
        self.problems.append(Problem(self.file, m.line + 1, m.column + 1, one_line(message)))

    def _too_far(self, node: yaml.Node) -> ScenarioError:
        m = node.start_mark
        if self.aliased:
            message = "YAML aliases expand too far; write the values out"
        else:
            message = f"the scenario has more than {MAX_NODES} values; a scenario is a page of YAML, split it up"
        return _fatal(self.file, m.line + 1, m.column + 1, message)

    def build(self, node: yaml.Node, depth: int = 0) -> Node:
        self.count += 1
        if self.count > MAX_NODES:
            raise self._too_far(node)
        if depth > MAX_DEPTH:
            m = node.start_mark
            raise _fatal(self.file, m.line + 1, m.column + 1, "the YAML is nested too deeply")
        key = id(node)
        if isinstance(node, (MappingNode, SequenceNode)):
            if node.tag not in _COLLECTION_TAGS:
                self.problem(node, f"YAML tag {node.tag!r} is not supported in scenarios; remove it")
            if key in self.path:
                m = node.start_mark
                raise _fatal(self.file, m.line + 1, m.column + 1, "a YAML alias refers to a value that contains it")
            self.uses[key] = self.uses.get(key, 0) + 1
            self.aliased = self.aliased or self.uses[key] > 1
            if self.uses[key] > MAX_ALIAS_USES + 1:
                raise self._too_far(node)
            self.path.add(key)
            try:
                if isinstance(node, MappingNode):
                    return self._mapping(node, depth)
                return Seq(
                    node.start_mark.line + 1, node.start_mark.column + 1,
                    [self.build(child, depth + 1) for child in node.value],
                )
            finally:
                self.path.discard(key)
        assert isinstance(node, ScalarNode)
        return self._scalar(node)

    def _scalar(self, node: ScalarNode) -> Scalar:
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        raw = _whole_characters(str(node.value))
        if raw is None:  # a lone "\ud800" escape: printing or journaling it would raise UnicodeEncodeError later
            self.problem(node, "a \\uD800-\\uDFFF escape is half a character; write the character itself")
            raw = str(node.value).encode("utf-8", "replace").decode("utf-8")
        quoted = node.style in ("'", '"', "|", ">")
        tag = node.tag
        value: Any = raw
        if tag in _SCALAR_TAGS:
            kind = tag.rsplit(":", 1)[1]
            sexagesimal = kind in ("int", "float") and ":" in raw  # YAML 1.1 reads 1:30 as 90
            if (kind in ("int", "float", "null") and not sexagesimal) or (kind == "bool" and raw.lower() in _BOOL_WORDS):
                try:
                    value = self.constructor.construct_object(node)
                except (yaml.YAMLError, ValueError, OverflowError):
                    self.problem(node, f"cannot read {raw!r} as {kind}")
            # str, timestamps, 1:30 and yes/no/on/off stay as the text written
        else:
            self.problem(node, f"YAML tag {tag!r} is not supported in scenarios; remove it")
        return Scalar(line, col, value, raw, quoted)

    def _mapping(self, node: MappingNode, depth: int) -> Map:
        result = Map(node.start_mark.line + 1, node.start_mark.column + 1)
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG and isinstance(key_node, ScalarNode):
                merges.append(value_node)
                continue
            if not isinstance(key_node, ScalarNode):
                self.problem(key_node, "a mapping key must be a plain name, not a list or mapping")
                continue
            key = self._scalar(key_node)
            name = key.raw
            if name in result.entries:
                first = result.entries[name][0]
                self.problem(key_node, f"duplicate key {name!r} (first at line {first.line}); keep one")
                continue
            result.entries[name] = (key, self.build(value_node, depth + 1))
        for merge in merges:
            sources = merge.value if isinstance(merge, SequenceNode) else [merge]
            for source in sources:
                merged = self.build(source, depth + 1)
                if not isinstance(merged, Map):
                    self.problem(source, "'<<' merges a mapping (an alias like *defaults) only")
                    continue
                for name, entry in merged.entries.items():
                    result.entries.setdefault(name, entry)
        return result

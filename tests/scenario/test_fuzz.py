"""Fuzzing the loader: whatever the text, the answer is a Scenario or a ScenarioError of located one-line problems.

Never a traceback: a facilitator's typo at 9 am on game day must read as a
message, not as a Python stack.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controlroom.errors import ScenarioError
from controlroom.scenario import load_scenario_bytes, load_scenario_text
from controlroom.scenario.model import Scenario
from tests.scenario.test_validate import FULL

FUZZ = settings(
    # CONTROLROOM_FUZZ_EXAMPLES=20000 for a long run before a release; 200 keeps CI at seconds.
    max_examples=int(os.environ.get("CONTROLROOM_FUZZ_EXAMPLES", "200")),
    deadline=None,
    # The autouse fake-catalogue fixture is the same for every example.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

SHIPPED = sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.yaml"))
BASES = [FULL, *(p.read_text() for p in SHIPPED)]

KEYS = [
    "version", "name", "hypothesis", "environment", "targets", "observe", "steady_state", "blast_radius",
    "stop_when", "steps", "phases", "success_criteria", "checklist", "ssh", "local", "http", "kubernetes",
    "labels", "sudo", "interface", "every", "metrics", "probe", "promql", "command", "on", "timeout",
    "window", "require", "max_targets", "max_duration", "allowed_environments", "leash", "conditions", "for", "id",
    "title", "fault", "faults", "duration", "type", "target", "delay", "rate", "peers", "optional", "<<",
]
TOKENS = [
    *KEYS, ":", ": ", " ", "\n", "\n  ", "\n    ", "- ", "[", "]", "{", "}", ", ", "&a ", "*a", "'", '"', "#", "1",
    "-1", "1s", "300ms", "5%", "true", "no", "~", "null", "!!str ", "!!python/object ", "!x ", "---\n", "...\n",
    "\t", "? ", "|\n", ">\n", "%YAML 1.1\n", "@", "`", "\\", "é", "\u2028", "\ufeff", "db-1", "t-latency",
    "p99_ms < 5", "x.success_rate >= 9%", "1:30", "0x1F", ".inf", "2024-01-01", "=", "$(reboot)",
]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["1s", "-5s", "300ms", "50%", "db-1", "service=db", "t-latency", "staging", "p99_ms > 1",
                     "checkout.p99_ms < 500", "http://127.0.0.1:8089", "chaos@10.0.0.1", "", " ", "a;b", "\n"]),
    st.text(max_size=20),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), children, max_size=5),
    ),
    max_leaves=25,
)


def check(text: str) -> None:
    try:
        sc = load_scenario_text(text, "fuzz.yaml")
    except ScenarioError as err:
        assert err.problems
        for p in err.problems:
            assert p.file == "fuzz.yaml"
            assert p.line >= 1 and p.col >= 1
            assert p.message and "\n" not in p.message and "\r" not in p.message
    else:
        assert isinstance(sc, Scenario)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=60).map("".join))
def test_yaml_ish_token_soup_never_raises_anything_but_scenario_error(text: str) -> None:
    check(text)


@FUZZ
@given(st.text(max_size=300))
def test_arbitrary_text_never_raises_anything_but_scenario_error(text: str) -> None:
    check(text)


@FUZZ
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_anything_but_scenario_error(data: bytes) -> None:
    try:
        load_scenario_bytes(data, "fuzz.yaml")
    except ScenarioError as err:
        assert all(p.line >= 1 and "\n" not in p.message for p in err.problems)


@FUZZ
@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=12))
def test_random_documents_with_scenario_keys_never_raise_anything_but_scenario_error(doc: dict[str, Any]) -> None:
    check(yaml.safe_dump(doc, allow_unicode=True))


@FUZZ
@given(st.sampled_from(BASES), st.data())
def test_text_mutations_of_valid_scenarios_never_raise_anything_but_scenario_error(base: str, data: st.DataObject) -> None:
    lines = base.splitlines(keepends=True)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["delete", "duplicate", "insert", "replace", "indent", "swap"]))
        i = data.draw(st.integers(0, max(len(lines) - 1, 0)))
        if not lines:
            break
        line = lines[i]
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, line)
        elif op == "indent":
            lines[i] = data.draw(st.sampled_from(["", " ", "  ", "\t"])) + line.lstrip(" ")
        elif op == "swap":
            j = data.draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        else:
            start = data.draw(st.integers(0, len(line)))
            end = start if op == "insert" else data.draw(st.integers(start, len(line)))
            token = data.draw(st.sampled_from(TOKENS) | st.text(max_size=5))
            lines[i] = line[:start] + token + line[end:]
    check("".join(lines))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


@FUZZ
@given(st.sampled_from(BASES), st.data())
def test_value_mutations_of_valid_scenarios_never_raise_anything_but_scenario_error(base: str, data: st.DataObject) -> None:
    doc = copy.deepcopy(yaml.safe_load(base))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(doc)[1:]))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(values)
    check(yaml.safe_dump(doc, allow_unicode=True))

"""Target ranges (`web-[1:200]`): expanded into ordinary targets, each checked like one written out."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controlroom.errors import ScenarioError
from controlroom.scenario import load_scenario_text
from controlroom.scenario.ranges import MAX_RANGE, TargetRange, find_range

HEAD = """\
version: 1
name: zone-dark
hypothesis: zone a keeps serving
environment: lab
observe:
  metrics:
    front: {probe: "http://10.77.0.11:8080/"}
steady_state: {window: 3s, require: [front.success_rate >= 99%]}
"""


def scenario(targets: str, steps: str = "", blast: str = "blast_radius: {max_targets: 100, allowed_environments: [lab]}\n") -> str:
    body = HEAD + "targets:\n" + textwrap.indent(textwrap.dedent(targets), "  ") + blast
    if steps:
        body += "steps:\n" + textwrap.indent(textwrap.dedent(steps), "  ")
    else:
        body += "steps:\n  - {id: baseline, title: Baseline, confirm: false}\n"
    return body


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, "s.yaml")
    return [f"{p.line}:{p.col}: {p.message}" for p in info.value.problems]


@pytest.mark.usefixtures("real_catalogue")
def test_a_range_becomes_one_target_per_number_with_its_own_host_and_the_shared_labels() -> None:
    sc = load_scenario_text(scenario("""\
        front: {ssh: h1, labels: {zone: a}}
        h[101:200]: {ssh: "ops@h[101:200]:2222", labels: {zone: b}, sudo: true}
        """, steps="""\
        - id: dark
          title: Zone b goes dark
          fault: {type: blackhole, target: zone=b}
          duration: 10s
        """), "s.yaml")
    names = [n for n in sc.targets if n != "front"]
    assert names == [f"h{i}" for i in range(101, 201)]
    assert sc.targets["h150"].ssh == "ops@h150:2222"
    assert sc.targets["h150"].labels == {"zone": "b"} and sc.targets["h150"].sudo
    [step] = sc.steps
    assert step.faults[0].target == "zone=b"


def test_a_leading_zero_pads_every_number_and_http_urls_take_the_range_too() -> None:
    sc = load_scenario_text(scenario("""\
        db-[08:11]: {ssh: "db-[08:11].internal"}
        api-[1:2]: {http: "http://api-[1:2]:8080/admin"}
        """), "s.yaml")
    assert [n for n in sc.targets if n.startswith("db")] == ["db-08", "db-09", "db-10", "db-11"]
    assert sc.targets["db-09"].ssh == "db-09.internal"
    assert sc.targets["api-2"].url == "http://api-2:8080/admin"


@pytest.mark.parametrize(("targets", "expected"), [
    ('web-[1:3]: {ssh: web-1}\n', "10:20: targets.web-[1:3].ssh: a target range needs the same [1:3] in its ssh value"),
    ('web-[3:1]: {ssh: "web-[3:1]"}\n', "10:3: targets: target range 'web-[3:1]' counts down; write [1:3]"),
    ('web-[1:2]-[1:2]: {ssh: "w"}\n', "must hold exactly one [START:END]"),
    ('web-[a:b]: {ssh: "w"}\n', "must hold exactly one [START:END]"),
    (f'web-[1:{MAX_RANGE + 1}]: {{ssh: "web-[1:{MAX_RANGE + 1}]"}}\n', f"more than {MAX_RANGE}"),
    ('k[1:2]: {kubernetes: {namespace: a, selector: app=x}}\n', "a kubernetes cannot be numbered"),
    ('me[1:2]: {local: true}\n', "a local cannot be numbered"),
    ('web-2: {ssh: w2}\nweb-[1:3]: {ssh: "web-[1:3]"}\n', "'web-2' is already a target"),
    ('web-[1:3]: {ssh: "web-[1:3]"}\nweb-2: {ssh: w2}\n', "'web-2' is also named by a target range"),
    ('web-[1:3]: {ssh: "web-[1:3];rm"}\n', "contains shell metacharacters"),
    ('w[1:99999]: {ssh: "w[1:99999]"}\n', "more than"),
])
def test_a_wrong_range_is_one_located_problem(targets: str, expected: str) -> None:
    found = problems(scenario(targets))
    assert len(found) == 1, found
    assert expected in found[0]


def test_a_bad_address_in_a_range_is_reported_once_not_once_per_target() -> None:
    found = problems(scenario('web-[1:200]: {ssh: "-oProxyCommand=x[1:200]"}\n'))
    assert len(found) == 1, found


@given(st.integers(0, 10**6 - 1), st.integers(0, MAX_RANGE - 1), st.booleans())
def test_find_range_numbers_are_inclusive_and_padded_only_when_written_padded(start: int, span: int,
                                                                              pad: bool) -> None:
    end = min(start + span, 10**6 - 1)
    start_text = str(start).zfill(6) if pad else str(start)
    found = find_range(f"h[{start_text}:{end}]")
    assert isinstance(found, TargetRange)
    numbers = found.numbers()
    assert len(numbers) == end - start + 1 == len(found)
    assert [int(n) for n in numbers] == list(range(start, end + 1))
    padded = pad and start_text.startswith("0") and len(start_text) > 1
    assert all(len(n) >= 6 for n in numbers) == padded or not padded
    assert all(n.isdigit() for n in numbers)

"""The YAML loader: what files it refuses, where it says the problem is, and what it reads values as."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from controlroom.errors import ScenarioError
from controlroom.scenario import load_scenario, load_scenario_bytes, load_scenario_text
from controlroom.scenario.loader import MAX_BYTES, Map, Scalar, Seq, parse_document

MINIMAL = """\
version: 1
name: minimal
environment: staging
targets:
  db-1: {ssh: chaos@10.0.0.21}
blast_radius: {allowed_environments: [staging]}
steps:
  - id: look
"""


def only_problem(err: pytest.ExceptionInfo[ScenarioError]) -> tuple[int, int, str]:
    assert len(err.value.problems) == 1, err.value.problems
    p = err.value.problems[0]
    return p.line, p.col, p.message


def test_a_directory_is_refused_with_a_message_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario(tmp_path)
    assert err.value.problems[0].file == str(tmp_path)
    assert "is a directory" in only_problem(err)[2]


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario(tmp_path / "nope.yaml")
    assert "no such file" in only_problem(err)[2]


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ScenarioError) as err:
        load_scenario(fifo)
    assert "not a regular file" in only_problem(err)[2]


def test_a_file_over_one_mebibyte_is_refused_before_parsing(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text(MINIMAL + "# " + "x" * MAX_BYTES + "\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(big)
    assert "at most 1048576 bytes" in only_problem(err)[2]
    with pytest.raises(ScenarioError) as err:
        load_scenario_text(MINIMAL + "# " + "x" * MAX_BYTES)
    assert "1 MiB" in only_problem(err)[2]


def test_a_zero_byte_file_is_empty(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_bytes(b"")
    with pytest.raises(ScenarioError) as err:
        load_scenario(empty)
    assert only_problem(err) == (1, 1, "the scenario is empty; start with 'version: 1'")


def test_invalid_utf8_is_located_at_the_bad_byte() -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario_bytes(b"version: 1\nname: ok\n  # caf\xc3(\n")
    assert only_problem(err)[:2] == (3, 8)


def test_a_utf8_bom_is_accepted(tmp_path: Path) -> None:
    f = tmp_path / "bom.yaml"
    f.write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
    assert load_scenario(f).name == "minimal"


def test_a_valid_file_keeps_its_path_and_text(tmp_path: Path) -> None:
    f = tmp_path / "ok.yaml"
    f.write_text(MINIMAL)
    sc = load_scenario(f)
    assert sc.source_path == str(f)
    assert sc.source_text == MINIMAL


def test_control_characters_are_located() -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario_text("version: 1\nname: a\x07b\n", "f.yaml")
    line, col, message = only_problem(err)
    assert (line, col) == (2, 8)
    assert "U+0007" in message


def test_syntax_errors_use_the_parsers_mark() -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario_text("version: 1\nsteps: [a, b\nname: x\n")
    line, _, message = only_problem(err)
    assert line == 3
    assert message.startswith("YAML syntax error:")


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario_text("a: " + "[" * 3000 + "]" * 3000)
    assert "nested too deeply" in only_problem(err)[2]


def test_positions_are_one_based_line_and_column() -> None:
    root, problems = parse_document("version: 1\ntargets:\n  db-1: {ssh: x}\n")
    assert problems == []
    targets = root.get("targets")
    assert isinstance(targets, Map)
    db = targets.get("db-1")
    assert isinstance(db, Map) and (db.line, db.col) == (3, 9)
    ssh = db.get("ssh")
    assert isinstance(ssh, Scalar) and (ssh.line, ssh.col) == (3, 15)


def test_yaml_11_words_stay_strings_and_keys_stay_keys() -> None:
    root, _ = parse_document("on: yes\nlabels: {a: no, b: off}\nt: true\nn: 12\nf: 1.5\nz: ~\nd: 2024-01-01\nx: 1:30\n")
    assert list(root.entries) == ["on", "labels", "t", "n", "f", "z", "d", "x"]
    values = {k: v.value for k, (_, v) in root.entries.items() if isinstance(v, Scalar)}
    assert values == {"on": "yes", "t": True, "n": 12, "f": 1.5, "z": None, "d": "2024-01-01", "x": "1:30"}


def test_duplicate_keys_are_reported_at_the_second_one_and_the_first_wins() -> None:
    root, problems = parse_document("a: 1\nb: 2\na: 3\n", "f.yaml")
    assert [(p.line, p.col) for p in problems] == [(3, 1)]
    assert "duplicate key 'a' (first at line 1)" in problems[0].message
    a = root.get("a")
    assert isinstance(a, Scalar) and a.value == 1


def test_merge_keys_fill_in_what_is_not_written() -> None:
    root, problems = parse_document("base: &b {ssh: x, sudo: true}\nt: {<<: *b, sudo: false}\n")
    assert problems == []
    t = root.get("t")
    assert isinstance(t, Map)
    assert {k: v.value for k, (_, v) in t.entries.items() if isinstance(v, Scalar)} == {"sudo": False, "ssh": "x"}


def test_a_few_aliases_are_fine_but_a_billion_laughs_is_not() -> None:
    root, _ = parse_document("a: &a [1, 2]\nb: [*a, *a, *a]\n")
    b = root.get("b")
    assert isinstance(b, Seq) and len(b.items) == 3
    levels = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 9)]
    with pytest.raises(ScenarioError) as err:
        parse_document("\n".join(levels) + "\n")
    assert only_problem(err)[2] == "YAML aliases expand too far; write the values out"


def test_one_alias_used_many_times_is_refused_even_when_small() -> None:
    text = "a: &a [1]\nb: [" + ", ".join(["*a"] * 50) + "]\n"
    with pytest.raises(ScenarioError) as err:
        parse_document(text)
    assert "aliases expand too far" in only_problem(err)[2]


def test_too_many_values_without_aliases_is_refused_with_its_own_message() -> None:
    with pytest.raises(ScenarioError) as err:
        parse_document("steps:\n" + "- a\n" * 10_001)
    line, _, message = only_problem(err)
    assert line == 10_000  # root, list, then the 9,999th item is the 10,001st value
    assert message == "the scenario has more than 10000 values; a scenario is a page of YAML, split it up"


def test_a_lone_surrogate_escape_is_a_located_problem_not_a_crash_later() -> None:
    # "\ud800" alone is half a character: kept, `controlroom plan` died printing it (UnicodeEncodeError)
    with pytest.raises(ScenarioError) as err:
        load_scenario_text('version: 1\nname: t\nhypothesis: "ok \\ud800"\n')
    assert "<text>:3:13: a \\uD800-\\uDFFF escape is half a character; write the character itself" in map(
        str, err.value.problems)


def test_a_json_style_surrogate_pair_escape_is_the_character_it_spells() -> None:
    root, problems = parse_document('hypothesis: "\\ud83d\\ude00 ok"\n')
    assert not problems
    value = root.get("hypothesis")
    assert isinstance(value, Scalar) and value.value == "\U0001f600 ok"

"""Readers that survive any journal: whatever a journal file holds, `report` (md, json, html), `recover`,
`history`, `follow` and the replay fold answer with a result or one located line — never a traceback.

Journals are made hostile from the recorded fixtures: a field replaced by deep nesting, a huge integer,
NaN or infinity, a string where a number belongs, a number where a string belongs; a field or a whole
payload removed; a header field of the wrong type; a line duplicated (a second session-started), torn,
or replaced by garbage. The named cases pin each kind once; hypothesis then mixes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controlroom.engine.recover import recover
from controlroom.errors import ControlroomError
from controlroom.history import load_history, render_history
from controlroom.journal.reader import follow, read_journal
from controlroom.replay import Replay
from controlroom.report.cli import main as report_main
from controlroom.targets.base import ActionResult
from controlroom.viewstate import fold

FIXTURES = Path(__file__).parents[1] / "report" / "fixtures"
BASES = {p.stem: p.read_bytes().split(b"\n") for p in sorted(FIXTURES.glob("*.jsonl"))}

FUZZ = settings(
    max_examples=int(os.environ.get("CONTROLROOM_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

PLACEHOLDER = "__hostile__"
# Raw JSON text, put where a value was: what a damaged disk, a bad editor or an attacker can leave.
HOSTILE = {
    "deep-list": "[" * 5000 + "]" * 5000,
    "deep-object": '{"a":' * 3000 + "1" + "}" * 3000,
    "huge-int": "9" * 5000,
    "big-int": str(2**80),
    "nan": "NaN",
    "inf": "Infinity",
    "minus-inf": "-Infinity",
    "overflow-float": "1e999",
    "string": '"not a number"',
    "number": "5",
    "negative": "-1",
    "null": "null",
    "true": "true",
    "object": '{"x":{"y":[1,2,{"z":null}]}}',
    "list": '[1,"two",null]',
    "script": '"<script>alert(1)</script>"',
    "empty": '""',
}


class _NoTarget:
    """recover's executor in these tests: nothing is ever run anywhere; every action fails at once."""

    async def run(self, action: Any) -> ActionResult:
        return ActionResult(ok=False, error="test: no target here")

    async def close(self) -> None:
        return None


def _write(tmp: Path, lines: list[bytes], name: str = "hostile.jsonl") -> Path:
    path = tmp / name
    path.write_bytes(b"\n".join(lines))
    os.chmod(path, 0o600)
    return path


def _replace_field(line: bytes, key: str | None, raw: str) -> bytes:
    """The line with one field's value (or a new field, or the whole payload) replaced by raw JSON text."""
    try:
        doc = json.loads(line)
    except (ValueError, RecursionError):
        return line
    if not isinstance(doc, dict):
        return line
    if key is None:  # the payload goes: only t, mono, type stay
        doc = {k: doc[k] for k in ("t", "mono", "type") if k in doc}
        return json.dumps(doc).encode()
    doc[key] = PLACEHOLDER
    return json.dumps(doc).replace(json.dumps(PLACEHOLDER), raw).encode()


def _drop_field(line: bytes, key: str) -> bytes:
    try:
        doc = json.loads(line)
    except (ValueError, RecursionError):
        return line
    if isinstance(doc, dict):
        doc.pop(key, None)
    return json.dumps(doc).encode()


def _keys(line: bytes) -> list[str]:
    try:
        doc = json.loads(line)
    except (ValueError, RecursionError):
        return []
    return sorted(doc) if isinstance(doc, dict) else []


def exercise(path: Path) -> None:
    """Every reader, on one journal: a result, or a ControlroomError (one line, exit 2) — nothing else."""
    for fmt in ("md", "json", "html"):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            code = report_main([str(path), "--format", fmt])
        assert code in (0, 2), f"report --format {fmt} exited {code}"
        if code == 0 and fmt == "md":
            assert "<script" not in out.getvalue()  # markdown passes raw HTML through: it is escaped
        if code == 0 and fmt == "json":
            json.loads(out.getvalue())  # the JSON report is JSON (no NaN, no Infinity)
            assert "NaN" not in out.getvalue() and "Infinity" not in out.getvalue()

    history = load_history(path.parent)
    render_history(history)

    try:
        replay = Replay.open(path, every=7)
    except ControlroomError:
        replay = None
    if replay is not None:
        replay.build_index()
        replay.seek(replay.duration)
        replay.seek(0.0)
        replay.seek_event(replay.count // 2)

    with contextlib.suppress(ControlroomError):
        fold(read_journal(path).events)

    lines: list[str] = []
    try:
        code = recover(str(path), printer=lines.append, yes=True, factory=lambda t: _NoTarget())
        assert code in (0, 1)
    except ControlroomError as err:
        assert "\n" not in str(err)

    async def follow_all() -> None:
        async for _ in follow(path, poll=0.001):
            pass

    with contextlib.suppress(ControlroomError, TimeoutError):
        asyncio.run(asyncio.wait_for(follow_all(), timeout=0.3))


# ---- the named cases --------------------------------------------------------------------------------------------

def _line_of(lines: list[bytes], type_: str) -> int:
    return next(i for i, ln in enumerate(lines) if f'"type":"{type_}"'.encode() in ln)


CASES: list[tuple[str, str, str | None, str]] = [
    # (fixture, event type or "header", field (None: the payload), hostile value)
    ("demo", "metric-sample", "values", "deep-list"),
    ("demo", "metric-sample", "values", "deep-object"),
    ("demo", "metric-sample", "mono", "huge-int"),
    ("demo", "metric-sample", "mono", "nan"),
    ("demo", "metric-sample", "mono", "inf"),
    ("demo", "metric-sample", "mono", "string"),
    ("held", "metric-sample", "values", "string"),
    ("breach", "condition-breached", "value", "string"),
    ("breach", "condition-breached", "value", "overflow-float"),
    ("breach", "condition-breached", "held_s", "nan"),
    ("demo", "fault-injecting", "fault", "number"),
    ("demo", "fault-reverted", "fault", "number"),
    ("unconfirmed", "fault-injecting", "fault", "number"),
    ("demo", "fault-injecting", None, "null"),
    ("demo", "step-briefed", None, "null"),
    ("demo", "step-briefed", "index", "string"),
    ("demo", "step-briefed", "faults", "object"),
    ("demo", "session-ended", None, "null"),
    ("demo", "session-ended", "exit_code", "huge-int"),
    ("demo", "session-started", "targets", "string"),
    ("demo", "session-started", "limits", "list"),
    ("held", "note", "text", "script"),
    ("demo", "header", "pid", "string"),
    ("demo", "header", "scenario_text", "number"),
    ("demo", "header", "started", "object"),
    ("demo", "header", "session", "deep-list"),
    ("demo", "header", "scenario_text", "script"),
    ("demo", "type", "type", "number"),
]


@pytest.mark.parametrize(("fixture", "where", "key", "value"), CASES,
                         ids=[f"{f}-{w}-{k}-{v}" for f, w, k, v in CASES])
def test_a_hostile_field_never_makes_a_reader_raise(tmp_path: Path, fixture: str, where: str, key: str | None,
                                                    value: str) -> None:
    lines = list(BASES[fixture])
    if where == "header":
        i = 0
    elif where == "type":
        i = 2
    else:
        i = _line_of(lines, where)
    lines[i] = _replace_field(lines[i], key, HOSTILE[value])
    exercise(_write(tmp_path, lines))


def test_a_duplicated_session_started_is_skipped_with_its_line(tmp_path: Path) -> None:
    lines = list(BASES["demo"])
    started = _line_of(lines, "session-started")
    lines.insert(started + 3, lines[started])
    path = _write(tmp_path, lines)
    exercise(path)
    j = read_journal(path)
    assert [e.type for e in j.events].count("session-started") == 1
    assert j.warnings == [f"{path}:{started + 4}: skipped: a second session-started (one journal holds one session)"]


def test_a_numeric_fault_id_is_skipped_and_recover_refuses_in_one_line(tmp_path: Path) -> None:
    lines = list(BASES["unconfirmed"])
    i = _line_of(lines, "fault-injecting")
    lines[i] = _replace_field(lines[i], "fault", "5")
    path = _write(tmp_path, lines)
    j = read_journal(path)
    assert j.damaged and j.warnings[0] == f"{path}:{i + 1}: skipped: fault: expected a string, got 5"
    with pytest.raises(ControlroomError) as refused:
        recover(str(path), printer=lambda _: None, yes=True, factory=lambda t: _NoTarget())
    message = str(refused.value)
    assert message.startswith(f"{path}:{i + 1}: skipped: fault: expected a string, got 5")
    assert "recover will not act on a damaged journal" in message and "\n" not in message


def test_recover_still_reads_a_journal_whose_only_flaw_is_a_torn_last_line(tmp_path: Path) -> None:
    lines = [ln for ln in BASES["demo"] if ln]
    lines[-1] = lines[-1][:30]  # a crash mid-write: the last line torn, no newline after it
    path = _write(tmp_path, lines)
    said: list[str] = []
    assert recover(str(path), printer=said.append, yes=True, factory=lambda t: _NoTarget()) == 0
    assert any("skipped a torn last line" in s for s in said)
    assert said[-1].endswith("nothing was left active; every injected fault was reverted and verified")


def test_a_wrong_header_field_is_dropped_with_a_located_warning(tmp_path: Path) -> None:
    lines = list(BASES["held"])
    lines[0] = _replace_field(lines[0], "pid", HOSTILE["string"])
    path = _write(tmp_path, lines)
    j = read_journal(path)
    assert "pid" not in j.header
    assert f"{path}:1: header pid: expected an integer, got 'not a number'; ignored" in j.warnings


def test_markdown_reports_escape_html_from_the_journal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = list(BASES["held"])
    lines[0] = _replace_field(lines[0], "hypothesis", '"<img src=x onerror=alert(1)>"')
    i = _line_of(lines, "session-started")
    lines[i] = _replace_field(lines[i], "hypothesis", '"<script>alert(1)</script> &lt;b&gt; < 0.8 & more"')
    path = _write(tmp_path, lines)
    assert report_main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "<script>" not in out and "<img" not in out
    # Whatever could open markup is an entity; a plain comparison stays readable.
    assert "&lt;script>alert(1)&lt;/script> &amp;lt;b&amp;gt; < 0.8 & more" in out


def test_a_replay_shows_a_damaged_line_as_a_warning_and_goes_on(tmp_path: Path) -> None:
    lines = list(BASES["demo"])
    i = _line_of(lines, "fault-injecting")
    lines[i] = _replace_field(lines[i], "fault", "5")
    path = _write(tmp_path, lines)
    replay = Replay.open(path)
    state = replay.seek(replay.duration)
    assert state.ended
    assert any(f"{path}:{i + 1}: skipped: fault: expected a string" in w for w in replay.warnings)
    assert any("skipped: fault: expected a string" in entry.line for entry in state.log)


# ---- mixed: hypothesis ------------------------------------------------------------------------------------------

mutation = st.one_of(
    st.tuples(st.just("field"), st.integers(0, 10**6), st.integers(0, 30), st.sampled_from(sorted(HOSTILE))),
    st.tuples(st.just("payload"), st.integers(0, 10**6)),
    st.tuples(st.just("drop"), st.integers(0, 10**6), st.integers(0, 30)),
    st.tuples(st.just("duplicate"), st.integers(0, 10**6)),
    st.tuples(st.just("cut"), st.integers(0, 10**6), st.integers(0, 400)),
    st.tuples(st.just("garbage"), st.integers(0, 10**6), st.binary(max_size=40)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.sampled_from(sorted(HOSTILE))),
)


def _mutate(lines: list[bytes], m: tuple[Any, ...]) -> None:
    kind, where = m[0], m[1] % len(lines)
    if kind == "field":
        keys = _keys(lines[where]) or ["x"]
        lines[where] = _replace_field(lines[where], keys[m[2] % len(keys)], HOSTILE[m[3]])
    elif kind == "payload":
        lines[where] = _replace_field(lines[where], None, "")
    elif kind == "drop":
        keys = _keys(lines[where]) or ["x"]
        lines[where] = _drop_field(lines[where], keys[m[2] % len(keys)])
    elif kind == "duplicate":
        lines.insert(where, lines[where])
    elif kind == "cut":
        lines[where] = lines[where][: m[2]]
    elif kind == "garbage":
        lines[where] = m[2]
    else:
        lines.insert(where, HOSTILE[m[2]].encode())


@FUZZ
@given(fixture=st.sampled_from(sorted(BASES)), mutations=st.lists(mutation, min_size=1, max_size=4))
def test_any_mix_of_damage_never_makes_a_reader_raise(tmp_path_factory: pytest.TempPathFactory, fixture: str,
                                                      mutations: list[tuple[Any, ...]]) -> None:
    lines = list(BASES[fixture])
    for m in mutations:
        _mutate(lines, m)
    d = tmp_path_factory.mktemp("hostile")
    os.chmod(d, 0o700)
    exercise(_write(d, lines))


@FUZZ
@given(payload=st.dictionaries(st.sampled_from(["values", "errors", "other"]), st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5),
    st.dictionaries(st.text(max_size=3), st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                                                   st.text(max_size=3)), max_size=3)), max_size=3))
def test_the_metric_sample_fast_path_says_what_the_vocabulary_says(payload: dict[str, Any]) -> None:
    import copy

    from controlroom.journal.events import MetricSample
    from controlroom.journal.schema import BadEvent, _metric_sample, compile_type

    fast, slow = copy.deepcopy(payload), copy.deepcopy(payload)
    try:
        _metric_sample(fast)
        fast_says = "ok"
    except BadEvent as err:
        fast_says = str(err)
    try:
        compile_type(MetricSample)(slow, "")
        slow_says = "ok"
    except BadEvent as err:
        slow_says = str(err)
    assert fast_says == slow_says
    if fast_says == "ok":
        assert repr(fast) == repr(slow)  # the same readings read as null

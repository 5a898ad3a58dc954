"""The report says what the room said: statements judged (or not) by a person, unobserved runs without a score,
who stopped the session, recovery after a stop, and a score that never reads as a pass when the hypothesis failed.

Journals here are written by the real engine (a Session against the in-memory flag host), not by hand."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from controlroom.clock import ManualClock
from controlroom.engine.gates import AutoFacilitator, InteractiveFacilitator
from controlroom.engine.session import Session
from controlroom.faults import catalogue as cat
from controlroom.journal.reader import read_journal
from controlroom.report.build import build_report
from controlroom.report.render import render_html, render_markdown
from controlroom.scenario.model import SuccessCriteria
from controlroom.targets.memory import MemoryExecutor
from tests.doubles import FLAG, Host
from tests.engine.conftest import FakeSource, drive, fault_step, make_scenario

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "report-schema.json").read_text())


@pytest.fixture(autouse=True)
def _flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cat.catalogue(), "flag", FLAG)


async def _record(tmp_path: Path, scenario: Any, *, host: Host | None = None, src: FakeSource | None = None,
                  during: Any = None, **kw: Any) -> dict[str, Any]:
    host = host or Host("t1")
    src = src or FakeSource(ok_rate=1.0)
    path = tmp_path / "j.jsonl"
    s = Session(scenario, journal_path=path, clock=ManualClock(), sources=[src], control=False,
                executor_factory=lambda t: MemoryExecutor(t.name, host.handle), **kw)
    task = asyncio.ensure_future(s.run())
    if during is not None:
        await during(s)
    await drive(s.clock, task)  # type: ignore[arg-type]
    report = build_report(read_journal(path))
    jsonschema.validate(report, SCHEMA)
    return report


def _statements(*texts: str) -> Any:
    return dataclasses.replace(make_scenario(fault_step(duration=2.0)),
                               success_criteria=SuccessCriteria(recovery_time=5.0, statements=texts))


async def test_a_statement_nobody_judged_is_shown_not_judged_never_met(tmp_path: Path) -> None:
    r = await _record(tmp_path, _statements("nobody was paged"), facilitator=AutoFacilitator())
    crit = next(c for c in r["success_criteria"]["criteria"] if c["kind"] == "statement")
    assert crit == {"name": "nobody was paged", "criterion": None, "met": None, "detail": "not judged",
                    "source": "facilitator", "kind": "statement", "by": "nobody (--yes: not asked)"}
    assert r["success_criteria"]["met"] is None
    md = render_markdown(r)
    assert "Met: **yes**" not in md and "Met: **–**" in md
    assert "**? not judged** nobody was paged (statement, nobody (--yes: not asked)): not judged" in md
    assert any(i["id"] == "statements-not-judged" for i in r["insights"])


async def test_a_statement_judged_not_met_fails_in_the_room_and_in_the_report(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTROLROOM_FACILITATOR", "Grace")
    facilitator = InteractiveFacilitator()

    async def answer(s: Session) -> None:
        clock: ManualClock = s.clock  # type: ignore[assignment]
        for _ in range(3000):
            if facilitator.pending is not None:
                facilitator.resolve("confirm")
            if facilitator.statements:
                facilitator.judged({"nobody was paged": False})
                return
            await clock.advance(0.1)

    r = await _record(tmp_path, _statements("nobody was paged"), facilitator=facilitator, during=answer)
    assert r["status"] == "failed" and r["outcome"] == "failed"  # the room's verdict
    crit = next(c for c in r["success_criteria"]["criteria"] if c["kind"] == "statement")
    assert (crit["met"], crit["by"]) == (False, "Grace")
    assert r["success_criteria"]["met"] is False and r["hypothesis"]["validated"] is False
    assert "Met: **no**" in render_markdown(r)


async def test_an_unobserved_session_has_no_verdict_and_no_score(tmp_path: Path) -> None:
    sc = dataclasses.replace(make_scenario(fault_step(duration=2.0), require=(), stop=(), recovery=None),
                             unobserved=True)
    r = await _record(tmp_path, sc)
    assert r["status"] == "unobserved" and r["hypothesis"]["validated"] is None
    assert r["score"]["overall"] is None and r["score"]["targets"] == []
    assert r["score"]["meaning"].startswith("not computed: the scenario was declared unobserved")
    assert not any(i["id"] == "hypothesis-held" for i in r["insights"])
    assert any(i["id"] == "unobserved" for i in r["insights"])


async def test_a_rolled_back_session_shows_its_verdict_before_a_score_that_is_not_a_pass(tmp_path: Path) -> None:
    host, src = Host("t1"), FakeSource(ok_rate=1.0)
    host.on_inject = lambda: src.values.update(ok_rate=0.5)
    original = host.handle

    def heal(action: Any) -> Any:
        if "revert" in getattr(action, "script", ""):
            src.values["ok_rate"] = 1.0
        return original(action)

    host.handle = heal  # type: ignore[method-assign]
    r = await _record(tmp_path, make_scenario(fault_step(duration=30.0)), host=host, src=src)
    assert r["status"] == "rolled-back" and r["hypothesis"]["validated"] is False
    assert r["score"]["overall"] is not None
    assert "did NOT hold (rolled-back)" in r["score"]["meaning"] and "it is not a pass" in r["score"]["meaning"]
    for text in (render_markdown(r), render_html(r)):
        assert text.index("Hypothesis NOT validated") < text.index("rolled-back") < text.index("Resilience score")
        assert "it is not a pass" in text
    assert "automatic rollback (stop-condition): stop condition ok_rate < 0.8" in render_markdown(r)


async def test_the_report_names_who_stopped_and_shows_recovery_after_the_stop(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTROLROOM_FACILITATOR", "Ada")

    async def stop_mid_step(s: Session) -> None:
        clock: ManualClock = s.clock  # type: ignore[assignment]
        while s.state != "observing":
            await clock.advance(0.1)
        await s.emergency_stop("key")

    r = await _record(tmp_path, make_scenario(fault_step(duration=30.0)), during=stop_mid_step)
    assert r["status"] == "aborted"
    (stop,) = r["execution"]["emergency_stops"]
    assert (stop["source"], stop["by"]) == ("key", "Ada")
    (m,) = r["recovery"]["measurements"]
    assert m["after_stop"] is True and m["held"] is True
    md = render_markdown(r)
    assert "emergency stop (key) by Ada" in md and "flip after the stop:" in md


async def test_a_fault_lost_mid_step_is_reported_lost_and_the_session_failed(tmp_path: Path) -> None:
    host = Host("t1")

    async def clobber(s: Session) -> None:
        clock: ManualClock = s.clock  # type: ignore[assignment]
        while not host.faulted:
            await clock.advance(0.1)
        host.faulted = False  # another room reverted it

    r = await _record(tmp_path, make_scenario(fault_step(duration=4.0)), host=host, during=clobber)
    assert r["status"] == "failed" and r["hypothesis"]["validated"] is False
    (fault,) = r["faults"]
    assert fault["status"] == "lost" and "before the revert" in fault["error"]
    assert any(i["id"] == "fault-lost" and i["severity"] == "critical" for i in r["insights"])

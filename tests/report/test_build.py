"""The post-mortem built from hand-made journals: what each kind of session reports, and which insights fire."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from tests.report.conftest import NAMES


def ids(report: dict[str, Any]) -> set[str]:
    return {i["id"] for i in report["insights"]}


@pytest.mark.parametrize("name", NAMES)
def test_report_json_validates_against_the_schema(reports: dict[str, Any], schema: dict[str, Any], name: str) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(reports[name], schema, cls=jsonschema.Draft202012Validator)


def test_schema_rejects_a_report_with_an_unknown_status(reports: dict[str, Any], schema: dict[str, Any]) -> None:
    bad = {**reports["held"], "status": "great"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema, cls=jsonschema.Draft202012Validator)


def test_clean_session_holds_and_validates_the_hypothesis(reports: dict[str, Any]) -> None:
    r = reports["held"]
    assert r["status"] == "held"
    assert r["incomplete"] is False
    assert r["hypothesis"]["validated"] is True
    assert r["success_criteria"]["met"] is True
    assert r["execution"]["auto_rollback"] is False
    assert r["blast_radius"] == {**r["blast_radius"], "affected_targets": ["db-1"], "contained": True, "unconfirmed": []}
    assert ids(r) == {"hypothesis-held"}
    fault = r["faults"][0]
    assert (fault["type"], fault["target"], fault["window"], fault["verified"]) == ("bandwidth", "db-1", [5.0, 15.0], True)


def test_observed_figures_come_from_the_engine_when_it_recorded_them(reports: dict[str, Any]) -> None:
    step = next(s for s in reports["held"]["steps"] if s["id"] == "slow-db")
    assert step["observed_source"] == "engine"
    assert step["observed"]["p99_ms"]["peak"] == 490.0


def test_series_summary_before_during_after_peak(reports: dict[str, Any]) -> None:
    p99 = next(s for s in reports["held"]["series"] if s["name"] == "p99_ms")
    # before: 5 samples of 200; during: 400..490 step 10 (mean 445, farthest from 200 is 490); after: 2x300 + 5x200
    assert (p99["before"], p99["during"], p99["peak"]) == (200.0, 445.0, 490.0)
    assert p99["after"] == pytest.approx((2 * 300 + 5 * 200) / 7, abs=1e-3)
    assert p99["direction"] == "down"


def test_breach_session_rolls_back_automatically_and_says_why(reports: dict[str, Any]) -> None:
    r = reports["breach"]
    assert r["status"] == "rolled-back"
    assert r["hypothesis"]["validated"] is False
    assert r["execution"]["auto_rollback"] is True
    assert r["execution"]["rollbacks"][0]["trigger"] == "stop-condition"
    assert {"stop-condition-fired", "slow-recovery", "missing-capability", "cascading-failure"} <= ids(r)
    assert "unconfirmed-revert" not in ids(r)
    assert r["degradation"]["graceful"] is False


def test_breach_session_score_matches_the_hand_computed_figure(reports: dict[str, Any]) -> None:
    t = reports["breach"]["score"]["targets"][0]
    c = t["components"]
    # in-fault samples [5, 9): success_rate .9 .7 .5 .3 and api.success_rate .8 .7 .6 .5 -> 62.5
    assert c["availability"]["score"] == 62.5
    assert c["recovery"]["score"] == pytest.approx(100 * 30 / 45, abs=0.05)  # 45 s against a 30 s criterion
    assert c["blast_radius"]["score"] == 50.0  # every revert confirmed, but the failure cascaded to the api
    assert c["degradation"]["score"] == 50.0  # 4 of 8 judged samples crossed success_rate < 0.95
    assert t["total"] == pytest.approx(0.35 * 62.5 + 0.25 * 100 * 30 / 45 + 0.2 * 50 + 0.2 * 50, abs=0.05)


def test_degraded_series_of_an_unfaulted_service_is_a_cascading_failure(reports: dict[str, Any]) -> None:
    cascade = reports["breach"]["cascading_failures"]
    assert [(c["series"], c["attributed_to"]) for c in cascade] == [("api.success_rate", "service=api")]
    assert reports["held"]["cascading_failures"] == []


def test_data_loss_criterion_is_judged_from_the_named_series(reports: dict[str, Any]) -> None:
    crit = {c["name"]: c for c in reports["breach"]["success_criteria"]["criteria"]}
    assert crit["data_loss"]["met"] is False  # orders_rows 100 -> 98
    crit_held = {c["name"]: c for c in reports["held"]["success_criteria"]["criteria"]}
    assert crit_held["data_loss"]["met"] is True


def test_unconfirmed_revert_breaks_containment_and_is_called_out(reports: dict[str, Any]) -> None:
    r = reports["unconfirmed"]
    assert r["status"] == "failed"
    assert r["blast_radius"]["contained"] is False
    assert r["blast_radius"]["unconfirmed"] == ["db-1"]
    assert r["faults"][0]["status"] == "revert-failed"
    assert {"unconfirmed-revert", "telemetry-lost"} <= ids(r)
    assert r["score"]["targets"][0]["components"]["blast_radius"]["score"] == 50.0
    assert r["telemetry"]["lost"][0]["restored_at"] is not None


def test_torn_journal_still_reports_marked_incomplete(reports: dict[str, Any]) -> None:
    r = reports["crashed"]
    assert r["incomplete"] is True
    assert r["status"] == "incomplete"
    assert r["hypothesis"]["validated"] is None
    assert r["success_criteria"]["met"] is None
    assert any("torn last line" in w for w in r["journal_warnings"])
    assert r["faults"][0]["status"] == "possibly-active"
    assert "incomplete-session" in ids(r)
    assert "controlroom recover" in next(i for i in r["insights"] if i["id"] == "incomplete-session")["recommendation"]


def test_observed_figures_are_computed_when_the_engine_did_not_record_them(reports: dict[str, Any]) -> None:
    step = next(s for s in reports["crashed"]["steps"] if s["id"] == "slow-db")
    assert step["observed_source"] == "computed"
    assert step["observed"]["p99_ms"]["during"] == 420.0


def test_notes_are_kept_with_author_and_time(reports: dict[str, Any]) -> None:
    assert reports["breach"]["notes"] == [{"t": "2026-11-20T14:00:54.000+00:00", "mono": 54.0, "author": "alice",
                                           "text": "api errors too: it has no DB timeout"}]


@pytest.mark.parametrize(("name", "window"), [("held", 5.0), ("breach", 5.0), ("unconfirmed", 5.0), ("crashed", 5.0),
                                              ("demo", 3.0)])  # each scenario's steady_state.window
def test_recomputed_observed_figures_match_the_engines_fold(name: str, window: float) -> None:
    """Without `observed` events the report recomputes them; the figures must equal metrics.observed's fold."""
    from controlroom.journal.reader import read_journal
    from controlroom.metrics.observed import ObservedFold
    from controlroom.report.build import build_report
    from tests.report.conftest import FIXTURES

    journal = read_journal(FIXTURES / f"{name}.jsonl")
    journal.events = [e for e in journal.events if e.type != "observed"]
    fold = ObservedFold.from_events(journal.events, window=window)
    steps = {s["id"]: s for s in build_report(journal)["steps"]}
    for sid in fold.steps():
        assert steps[sid]["observed_source"] == "computed"
        expected = fold.figures(sid)
        assert set(steps[sid]["observed"]) == set(expected)
        for series, figures in expected.items():
            for key, value in figures.items():
                got = steps[sid]["observed"][series][key]
                assert got == (None if value is None else pytest.approx(value)), (series, key)


def test_engine_observed_figures_equal_the_recomputed_ones_on_a_real_demo_journal(reports: dict[str, Any]) -> None:
    """The demo journal carries the engine's own `observed` events: the report shows them as recorded."""
    steps = {s["id"]: s for s in reports["demo"]["steps"]}
    assert steps["slow-checkout"]["observed_source"] == "engine"
    assert reports["demo"]["execution"]["auto_rollback"] is True
    assert reports["demo"]["status"] == "rolled-back"


def test_recovery_is_computed_from_the_steady_state_when_the_engine_did_not_measure_it() -> None:
    from controlroom.journal.reader import read_journal
    from controlroom.report.build import build_report
    from tests.report.conftest import FIXTURES

    journal = read_journal(FIXTURES / "breach.jsonl")
    journal.events = [e for e in journal.events if e.type != "recovery-measured"]
    rec = build_report(journal)["recovery"]
    # reverted at T+9; success_rate stays 0.9 (< 0.99 required) until the sample at T+53
    assert rec["measurements"] == [{"step": "slow-db", "seconds": 44.0, "held": True, "criterion_s": 30.0,
                                    "source": "computed", "detail": "computed from samples against steady_state.require",
                                    "telemetry_outage_s": None, "after_stop": False}]


def test_the_engines_success_criteria_verdicts_are_reported_as_the_engines(reports: dict[str, Any]) -> None:
    crit = {c["name"]: c for c in reports["demo"]["success_criteria"]["criteria"]}
    assert crit["recovery_time"]["source"] == "engine"
    assert crit["recovery_time"]["met"] is True
    assert crit["stop_conditions"] == {**crit["stop_conditions"], "source": "computed", "met": False}
    assert reports["demo"]["success_criteria"]["met"] is False


def test_a_journal_with_only_a_header_still_reports(tmp_path: Any, schema: dict[str, Any]) -> None:
    import json

    from controlroom.journal.reader import read_journal
    from controlroom.report.build import build_report
    from controlroom.report.render import render_html, render_markdown

    p = tmp_path / "j.jsonl"
    p.write_text('{"format":"controlroom-journal","version":1}\n')
    r = json.loads(json.dumps(build_report(read_journal(p))))
    jsonschema.validate(r, schema, cls=jsonschema.Draft202012Validator)
    assert r["status"] == "incomplete" and r["series"] == [] and r["score"]["overall"] is None
    assert "No fault was injected" in render_html(r) and "Incomplete" in render_markdown(r)

"""`controlroom history`'s quality metrics over time: each figure, --service, --since, JSON (checked against
docs/history-schema.json), CSV, the rule-based suggestions and the wording of a rate over no runs."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from controlroom.history import load_history, main, parse_since, render_history
from controlroom.history_metrics import Rate, history_json, metrics, render_metrics

from .test_history import FIXTURES, NOW, _copy

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "history-schema.json").read_text())
Lines = list[dict[str, Any]]


def _variant(src: str, dst: Path, days_ago: float, edit: Callable[[Lines], Lines]) -> None:
    """A fixture journal recorded `days_ago` before NOW, its events edited (the header stays line 0)."""
    _copy(src, dst, days_ago)
    lines = [json.loads(x) for x in dst.read_text().splitlines() if x.strip()]
    dst.write_text("\n".join(json.dumps(x) for x in [lines[0], *edit(lines[1:])]) + "\n")


def _recovery(seconds: float) -> Callable[[Lines], Lines]:
    def edit(ev: Lines) -> Lines:
        return [{**e, "seconds": seconds} if e["type"] == "recovery-measured" else e for e in ev]
    return edit


def _fault_type(kind: str) -> Callable[[Lines], Lines]:
    def edit(ev: Lines) -> Lines:
        return [{**e, "fault_type": kind} if e["type"] == "fault-injecting" else e for e in ev]
    return edit


def _manual_stop(ev: Lines) -> Lines:
    return [{**e, "source": "key", "reason": "e-stop key"} if e["type"] == "emergency-stop" else e for e in ev]


def _blast_refusal(ev: Lines) -> Lines:
    at = next(i for i, e in enumerate(ev) if e["type"] == "fault-injecting")
    refusal = {**ev[at], "type": "warning",
               "message": "blast radius: 3 targets would be faulted at once (a, b, c), over max_targets 2"}
    for k in ("step", "fault", "fault_type", "target", "summary", "spec", "leash_s", "duration"):
        refusal.pop(k, None)
    return [*ev[:at], refusal, *ev[at:]]


def _no_metrics(ev: Lines) -> Lines:
    return [e for e in ev if e["type"] not in ("metric-sample", "observed")]


def _same(ev: Lines) -> Lines:
    return ev


@pytest.fixture
def journals(tmp_path: Path) -> Path:
    d = tmp_path / "journals"
    d.mkdir()
    _copy("breach", d / "1-breach.jsonl", 40)  # automatic rollback, 45 s recovery against 30 s
    _copy("unconfirmed", d / "2-unconfirmed.jsonl", 20)  # db-1's revert not confirmed
    _copy("held", d / "3-held.jsonl", 3)  # 2 s
    _variant("held", d / "4-held.jsonl", 2, _recovery(5.0))
    _variant("held", d / "5-held.jsonl", 1, _recovery(9.0))
    (d / "6-demo.jsonl").write_bytes((FIXTURES / "demo.jsonl").read_bytes())  # service shop, http faults
    return d


def _doc(journals: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["--dir", str(journals), "--format", "json", *args]) == 0
    doc = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    return doc


def _service(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(m for m in doc["services"] if m["service"] == name)


def test_each_figure_per_service_and_overall(journals: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _doc(journals, capsys)
    db = _service(doc, "payments-db")
    assert db["experiments"] == 5
    # held ×3 validated; breach (rolled back) and unconfirmed (failed) not
    assert db["hypothesis_validated"] == {"count": 3, "of": 5, "percent": 60.0}
    assert db["rollbacks"] == {"count": 1, "of": 5, "percent": 20.0}
    assert (db["rollbacks_automatic"], db["rollbacks_manual"]) == (1, 0)
    assert db["contained"] == {"count": 5, "of": 5, "percent": 100.0}
    rec = db["recovery"]
    assert rec["measurements"] == 5 and rec["mean_s"] == pytest.approx((45 + 1 + 2 + 5 + 9) / 5)
    assert rec["p95_s"] == 45.0 and rec["criteria_s"] == [30.0]
    assert rec["within_criterion"] == {"count": 4, "of": 5, "percent": 80.0}
    assert db["safety_compliance"] == {"count": 4, "of": 5, "percent": 80.0}
    assert [u["targets"] for u in db["unconfirmed_reverts"]] == [["db-1"]]
    assert db["observability"] == {"count": 5, "of": 5, "percent": 100.0}
    assert db["fault_types"] == ["bandwidth"]
    assert db["failure_modes"]["unconfirmed-revert"] == 1 and db["failure_modes"]["slow-recovery"] == 1
    assert [t["score"] for t in db["score_trend"]] == [58.5, 89.9, 99.9, pytest.approx(99.9), pytest.approx(99.9)]
    shop = _service(doc, "shop")
    assert shop["experiments"] == 1 and shop["fault_types"] == ["http-errors", "http-latency"]
    assert doc["overall"]["experiments"] == 6 and doc["overall"]["rollbacks"]["count"] == 2
    assert [s["journal"].rsplit("/", 1)[1] for s in doc["sessions"]][:2] == ["1-breach.jsonl", "2-unconfirmed.jsonl"]


def test_rollbacks_are_split_by_the_stop_kind_not_its_text(tmp_path: Path) -> None:
    _variant("breach", tmp_path / "a.jsonl", 1, _manual_stop)
    _copy("breach", tmp_path / "b.jsonl", 2)
    m = metrics(load_history(tmp_path, now=NOW).sessions)
    assert m["rollbacks"] == Rate(2, 2)
    assert (m["rollbacks_automatic"], m["rollbacks_manual"]) == (1, 1)


def test_a_runtime_blast_radius_refusal_is_not_contained(tmp_path: Path) -> None:
    _variant("held", tmp_path / "a.jsonl", 1, _blast_refusal)
    _copy("held", tmp_path / "b.jsonl", 2)
    h = load_history(tmp_path, now=NOW)
    refused = next(s for s in h.sessions if s.path.name == "a.jsonl")
    assert refused.contained is False and refused.containment[0].startswith("blast radius: 3 targets")
    assert metrics(h.sessions)["contained"] == Rate(1, 2)


def test_a_fault_no_metric_observed_lowers_coverage_and_is_suggested(tmp_path: Path) -> None:
    _variant("held", tmp_path / "a.jsonl", 1, _no_metrics)
    _copy("held", tmp_path / "b.jsonl", 2)
    h = load_history(tmp_path, now=NOW)
    m = metrics(h.sessions, "payments-db")
    assert m["observability"] == Rate(1, 2) and m["unobserved_targets"] == ["db-1"]
    text = render_history(h)
    assert "observed while faulted 1 of 2, 50 %" in text
    assert "[unobserved-fault] payments-db: db-1 was faulted with no metric observing it" in text


def test_suggestions_are_rules(journals: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _doc(journals, capsys)
    said = {(s["rule"], s["service"]): s["text"] for s in doc["suggestions"]}
    assert said[("never-tested-under", "payments-db")]  # bandwidth only
    texts = [s["text"] for s in doc["suggestions"]]
    assert "payments-db has never been tested under partition" in texts
    assert "shop has never been tested under partition" in texts
    assert "shop has never been tested under latency" not in texts  # http-latency is latency
    assert "recovery for payments-db got slower over the last 3 runs: 2 s → 5 s → 9 s" in texts
    assert any(t.startswith("payments-db had an unconfirmed revert (db-1, session c3d4e5f6a1b2")
               and t.endswith("fix its revert before the next game day") for t in texts)
    assert ("unconfirmed-revert", "shop") not in said and ("recovery-slower", "shop") not in said
    main(["--dir", str(journals)])
    assert "Suggestions (rules, not judgement; docs/history.md lists them):" in capsys.readouterr().out


def test_recovery_that_did_not_get_slower_every_run_is_not_suggested(tmp_path: Path) -> None:
    for i, secs in enumerate((2.0, 9.0, 5.0)):
        _variant("held", tmp_path / f"{i}.jsonl", 3 - i, _recovery(secs))
    _variant("held", tmp_path / "p.jsonl", 5, _fault_type("partition"))
    doc = history_json(load_history(tmp_path, now=NOW), service=None, since=None, now="x")
    rules = [s["rule"] for s in doc["suggestions"]]
    assert "recovery-slower" not in rules
    texts = [s["text"] for s in doc["suggestions"]]
    assert "payments-db has never been tested under partition" not in texts
    assert "payments-db has never been tested under latency" in texts


def test_service_and_since_narrow_the_figures(journals: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _doc(journals, capsys, "--service", "shop")
    assert [m["service"] for m in doc["services"]] == ["shop"] and doc["overall"]["experiments"] == 1
    assert doc["filters"] == {"service": "shop", "since": None}
    doc = _doc(journals, capsys, "--since", "30d")
    assert _service(doc, "payments-db")["experiments"] == 4  # the 40-day-old breach is out
    assert _service(doc, "payments-db")["rollbacks"]["count"] == 0
    h = load_history(journals, since=parse_since("2d"), now=NOW)
    assert metrics(h.sessions, "payments-db")["experiments"] == 2


def test_a_rate_over_no_runs_says_so(journals: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert render_metrics(metrics([], "checkout")) == ["checkout: no runs"]
    assert Rate(0, 0).text() == "no runs" and Rate(0, 0).percent is None
    assert Rate(3, 4).text() == "3 of 4, 75 %"
    doc = _doc(journals, capsys)
    api = _service(doc, "api")  # declared in every checkout scenario, never faulted
    assert api["observability"] == {"count": 0, "of": 0, "percent": None}
    assert api["recovery"]["mean_s"] is None and api["recovery"]["within_criterion"]["percent"] is None
    main(["--dir", str(journals)])
    text = capsys.readouterr().out
    block = text.split("\napi: ", 1)[1].split("\npayments-db: ", 1)[0]
    assert "observed while faulted no runs faulted it" in block and "0 of 0" not in block
    assert "recovery               no recovery measured" in block


def test_csv_has_one_row_per_service_then_overall(journals: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dir", str(journals), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["service"] for r in rows] == ["api", "payments-db", "shop", "(all)"]
    db = rows[1]
    assert (db["experiments"], db["validated"], db["judged"], db["validated_pct"]) == ("5", "3", "5", "60")
    assert (db["recovery_p95_s"], db["within_criterion"], db["safety_compliance_pct"]) == ("45", "4", "80")
    assert rows[0]["observability_pct"] == ""  # no runs faulted api: empty, not 0


def test_the_schema_rejects_what_it_does_not_describe(journals: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _doc(journals, capsys)
    validator = jsonschema.Draft202012Validator(SCHEMA)
    broken = json.loads(json.dumps(doc))
    broken["overall"]["observability"]["percent"] = "75 %"
    assert not validator.is_valid(broken)
    broken = json.loads(json.dumps(doc))
    broken["services"][0]["new_figure"] = 1
    assert not validator.is_valid(broken)


@pytest.mark.parametrize(("args", "said"), [(["--format", "xml"], "--format 'xml': give one of text, json, csv"),
                                            (["--since", "30"], "12h, 30d or 2w")])
def test_bad_arguments_are_one_line_and_exit_2(journals: Path, capsys: pytest.CaptureFixture[str],
                                               args: list[str], said: str) -> None:
    assert main(["--dir", str(journals), *args]) == 2
    out = capsys.readouterr()
    assert out.out == "" and said in out.err and out.err.count("\n") == 1

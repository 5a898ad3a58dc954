"""The report reads right at a glance: the hypothesis verdict before the score, "worst" for the bad-side
extreme, no negative axis for a value that cannot be negative, marks that render without an emoji font, and a
recovery lengthened by a telemetry outage says so."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema

from controlroom.journal.events import Event
from controlroom.journal.reader import read_journal
from controlroom.journal.writer import JournalWriter
from controlroom.report.build import build_report
from controlroom.report.charts import series_svg
from controlroom.report.render import render_html, render_markdown
from tests.report.png import decode_png
from tests.report.test_render import CHROME_FLAGS, CHROMIUM, needs_chromium

EMOJI = re.compile("[\u2705\u274c\u2754\U0001f300-\U0001faff]")


def test_a_rolled_back_session_leads_with_not_validated_before_its_score(reports: dict[str, Any]) -> None:
    r = reports["demo"]  # rolled back by its stop condition, yet a high resilience score
    assert r["hypothesis"]["validated"] is False and r["score"]["overall"] > 90
    md = render_markdown(r)
    verdict = md.index("✗ Hypothesis NOT validated: rolled back: stop condition shop.success_rate < 0.8")
    assert verdict < md.index("Resilience score")
    assert ("/ 100 — the hypothesis did NOT hold (rolled-back); the score grades how the system behaved under the "
            "faults it met before the end, it is not a pass") in md
    html = render_html(r)
    assert html.index('class="verdict verdict-no"') < html.index("Resilience score")
    assert '<td class="score-dim">' in html  # the score is dimmed, never shown like a pass
    held = reports["held"]
    assert "✓ Hypothesis held" in render_markdown(held)
    assert 'class="verdict verdict-yes"' in render_html(held) and 'class="score-dim"' not in render_html(held)
    assert "Hypothesis not judged" in render_markdown(reports["crashed"])


def test_worst_is_the_minimum_of_a_higher_is_better_series_and_the_maximum_of_a_latency(
        reports: dict[str, Any]) -> None:
    series = {s["name"]: s for s in reports["demo"]["series"]}
    low = [v for _, v in series["shop.success_rate"]["points"] if v is not None]
    assert series["shop.success_rate"]["worst"] == min(series["shop.success_rate"]["low"], min(low))
    assert series["shop.rps"]["worst"] == series["shop.rps"]["low"]  # the lowest rate, not the highest
    assert series["shop.rps"]["peak"] == series["shop.rps"]["high"]  # where "peak" said the opposite
    assert series["shop.p99_ms"]["worst"] == series["shop.p99_ms"]["high"]
    md = render_markdown(reports["demo"])
    assert "| series | before | during | after | worst | trend |" in md and "| peak |" not in md
    assert "| shop.success_rate | 1 | 0.892 | 0.915 | 0.4 (min) |" in md
    assert "worst</abbr> 0.4 (min)" in render_html(reports["demo"])


def test_a_non_negative_series_gets_no_negative_axis() -> None:
    for points in ([[0, 0.0], [1, 0.0], [2, 0.0]], [[0, 1.0], [1, 900.0], [2, 3.0]]):
        svg = series_svg({"name": "p99_ms", "points": points, "stop_conditions": []}, t_end=2.0, windows=[],
                         markers=[])
        labels = re.findall(r'text-anchor="end">([^<T]+)<', svg)
        assert labels and all(not label.startswith("-") for label in labels), labels
    svg = series_svg({"name": "delta", "points": [[0, -5.0], [1, 5.0]], "stop_conditions": []}, t_end=1.0,
                     windows=[], markers=[])
    assert re.findall(r'text-anchor="end">(-[^<]+)<', svg)  # a series that does go negative keeps its axis


def test_marks_are_svg_not_emoji(reports: dict[str, Any]) -> None:
    html = render_html(reports["demo"])
    assert not EMOJI.search(html), EMOJI.findall(html)
    assert 'class="mark mark-met"' in html and 'class="mark mark-not-met"' in html
    assert not EMOJI.search(render_markdown(reports["demo"]))


def _journal_with_an_outage_during_recovery(path: Path) -> None:
    t0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    w = JournalWriter(path, {"session": "c0ffee", "scenario": "outage", "started": t0.isoformat()}, fsync=False)

    def emit(mono: float, type_: str, **data: Any) -> None:
        w.append(Event(type=type_, t=(t0 + timedelta(seconds=mono)).isoformat(), mono=mono, data=data))

    emit(0, "session-started", session="c0ffee", scenario="outage", hypothesis="h", environment="lab",
         targets=[{"name": "h1", "kind": "ssh", "labels": {}}], steps=[], series=["success_rate"],
         stop_when=[], steady=["success_rate >= 0.99"])
    for m in range(0, 5):
        emit(m + 0.5, "metric-sample", values={"success_rate": 1.0}, errors={})
    emit(5, "step-briefed", step="s", index=0, title="t", faults=[{"fault": "s/0", "target": "h1"}])
    emit(5.1, "fault-injecting", step="s", fault="s/0", fault_type="bandwidth", target="h1", summary="x")
    emit(5.2, "fault-injected", step="s", fault="s/0", target="h1")
    emit(10, "fault-reverted", fault="s/0", target="h1", verified=True)
    emit(11, "telemetry-lost", source="prometheus", policy="pause", detail="refused")
    emit(19, "telemetry-restored", source="prometheus")
    emit(20, "recovery-measured", step="s", seconds=10.0, held=True, criterion_s=5.0)
    emit(21, "step-completed", step="s", outcome="passed")
    emit(22, "session-ended", outcome="held", exit_code=0, unconfirmed=[])
    w.close()


def test_a_recovery_measured_across_a_telemetry_outage_is_labelled(tmp_path: Path, schema: dict[str, Any]) -> None:
    path = tmp_path / "outage.jsonl"
    _journal_with_an_outage_during_recovery(path)
    r = build_report(read_journal(path))
    jsonschema.validate(r, schema, cls=jsonschema.Draft202012Validator)
    (m,) = r["recovery"]["measurements"]
    assert m["telemetry_outage_s"] == 8.0  # lost 11 -> 19, inside the 10 -> 20 recovery window
    note = "includes 8 s of lost telemetry: the system may have recovered sooner"
    assert note in render_markdown(r) and note in render_html(r)


@needs_chromium
def test_the_marks_render_as_different_shapes_in_headless_chromium(reports: dict[str, Any], tmp_path: Path) -> None:
    """Without an emoji font, ✅ and ❌ were the same empty box; the SVG marks are green and red discs."""
    from controlroom.report import render

    page = tmp_path / "marks.html"
    page.write_text("<html><body style='margin:0;background:#fff'>"
                    + render._MARKS[True].replace('width="16" height="16"', 'width="200" height="200"')
                    + render._MARKS[False].replace('width="16" height="16"', 'width="200" height="200"')
                    + "</body></html>", encoding="utf-8")
    shot = tmp_path / "marks.png"
    subprocess.run([CHROMIUM or "chromium", *CHROME_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                    f"--screenshot={shot}", "--window-size=420,220", page.as_uri()],
                   check=True, capture_output=True, timeout=90)
    _, _, bpp, rows = decode_png(shot.read_bytes())
    green = red = 0
    for row in rows:
        for i in range(0, len(row), bpp):
            r, g, b = row[i], row[i + 1], row[i + 2]
            if abs(r - 0x1A) < 20 and abs(g - 0x7F) < 20 and abs(b - 0x37) < 20:
                green += 1
            elif abs(r - 0xCF) < 20 and abs(g - 0x22) < 20 and abs(b - 0x2E) < 20:
                red += 1
    assert green > 10000 and red > 10000, (green, red)

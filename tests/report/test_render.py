"""Renderers: Markdown for a wiki, and a self-contained HTML file whose SVG charts really render in Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from controlroom.formats import sparkline
from controlroom.report.charts import series_svg, text_bar
from controlroom.report.render import render_html, render_markdown
from tests.deps import needs
from tests.report.png import decode_png

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
needs_chromium = needs("chromium")
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_markdown_shows_status_score_breakdown_faults_and_insights(reports: dict[str, Any]) -> None:
    md = render_markdown(reports["breach"])
    assert "**rolled-back**" in md
    assert "| Availability | 62.5 | 0.35 |" in md
    assert "Weights: Availability 0.35, Recovery time 0.25, Blast radius control 0.2, Graceful degradation 0.2" in md
    assert "| slow-db/0 | bandwidth | db-1 | T+00:05 → T+00:09 | yes | reverted |" in md
    assert "`stop-condition-fired`" in md
    assert "**alice**: api errors too" in md


def test_markdown_of_a_crashed_session_says_incomplete(reports: dict[str, Any]) -> None:
    assert "**Incomplete**" in render_markdown(reports["crashed"])


def test_html_is_self_contained(reports: dict[str, Any]) -> None:
    html = render_html(reports["breach"])
    assert "<style>" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "the report must not load anything from outside"
    assert "<script" not in html


def test_html_has_a_chart_per_series_with_fault_windows_and_event_markers(reports: dict[str, Any]) -> None:
    r = reports["breach"]
    html = render_html(r)
    assert html.count('<svg class="chart"') == len(r["series"])
    assert html.count('class="fault"') == len(r["series"])  # one fault window, shaded in every chart
    assert 'class="marker marker-breach"' in html
    assert 'class="marker marker-rollback"' in html
    assert 'class="marker marker-note"' in html
    assert html.count('<svg class="score-chart"') == len(r["score"]["targets"])


def test_html_escapes_what_people_typed(reports: dict[str, Any]) -> None:
    r = {**reports["held"], "notes": [{"t": "x", "mono": 1.0, "author": "<b>eve</b>", "text": "<script>alert(1)</script>"}]}
    html = render_html(r)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def test_series_chart_breaks_the_line_at_gaps() -> None:
    svg = series_svg({"name": "s", "points": [[0, 1.0], [1, 2.0], [2, None], [3, 1.0], [4, 3.0]], "stop_conditions": []},
                     t_end=4.0, windows=[], markers=[])
    assert svg.count("<polyline") == 2


def test_sparkline_and_bar() -> None:
    # the lowest, the highest, a gap, and the middle drawn as the nearest of the eight levels
    assert sparkline([0.0, 1.0, None, 0.5], 4, whole=True) == "▁█ ▅"
    assert text_bar(50.0, 10) == "█████·····"
    assert text_bar(None, 4) == "····"


@needs_chromium
def test_html_charts_render_in_headless_chromium(reports: dict[str, Any], tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(reports["breach"]), encoding="utf-8")
    shot = tmp_path / "shot.png"
    common = [CHROMIUM or "chromium", *CHROME_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    subprocess.run([*common, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
                   check=True, capture_output=True, timeout=90)
    width, height, bpp, rows = decode_png(shot.read_bytes())
    assert (width, height) == (1200, 1600)
    # The fault window's shade (#ff7f0e at 18% over #fafafa) and the series line (#1f77b4) must be on screen.
    shade = line = 0
    for row in rows:
        for i in range(0, len(row), bpp):
            r, g, b = row[i], row[i + 1], row[i + 2]
            if r > 240 and 215 < g < 240 and 195 < b < 220:
                shade += 1
            elif b > 150 and b - r > 90 and g < 160:
                line += 1
    assert shade > 5000, f"no shaded fault window visible ({shade} pixels)"
    assert line > 500, f"no series line visible ({line} pixels)"
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], check=True, capture_output=True, text=True,
                         timeout=90).stdout
    polylines = re.findall(r'<polyline class="line" points="([^"]+)"', dom)
    assert len(polylines) >= len(reports["breach"]["series"])
    assert all(len(p.split()) >= 2 for p in polylines)


def test_the_html_report_links_to_the_trend_across_game_days() -> None:
    """A relative link (nothing fetched) and the command that writes the trend it points at (docs/history.md)."""
    from controlroom.journal.reader import read_journal
    from controlroom.report.build import build_report

    fixtures = Path(__file__).parent / "fixtures"
    html = render_html(build_report(read_journal(fixtures / "demo.jsonl")))
    section = html.split('<h2 id="trend">', 1)[1].split("<h2", 1)[0]
    assert '<a href="history.json">trend</a>' in section
    assert "<code>controlroom history --service shop --format json &gt; history.json</code>" in section

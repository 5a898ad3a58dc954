"""One clock format and one sparkline everywhere: 62.6 s into a session is T+01:02 in the room, the report and
the headless log (it was T+01:02 in the room, T+01:03 in the report and T+01:02.6 headless)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controlroom.formats import FLAT, format_clock, sparkline
from controlroom.headless import ProgressPrinter
from controlroom.journal.events import Event
from controlroom.journal.reader import read_journal
from controlroom.report.build import build_report
from controlroom.report.render import render_html, render_markdown
from controlroom.viewstate import RoomState, apply

FIXTURES = Path(__file__).parent / "report" / "fixtures"
NOTE = Event(type="note", t="2026-11-20T14:01:02.600+00:00", mono=62.6, data={"text": "db slow", "author": "ana"})


@pytest.mark.parametrize(("seconds", "shown"), [
    (0.0, "T+00:00"), (59.99, "T+00:59"), (62.6, "T+01:02"), (3599.9, "T+59:59"), (3723.5, "T+1:02:03"),
    (-1.0, "T+00:00"),
])
def test_the_clock_truncates_to_the_whole_second(seconds: float, shown: str) -> None:
    assert format_clock(seconds) == shown


def test_the_room_shows_62_6_seconds_as_t_01_02() -> None:
    state = RoomState()
    apply(state, NOTE)
    assert state.clock == "T+01:02"
    assert state.log[-1].line.startswith("T+01:02  ")


def test_the_headless_log_shows_62_6_seconds_as_t_01_02() -> None:
    lines: list[str] = []
    ProgressPrinter(lines.append)(NOTE)
    assert lines == ["T+01:02    note: db slow"]


def test_the_report_shows_62_6_seconds_as_t_01_02(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    lines = (FIXTURES / "held.jsonl").read_text().splitlines()
    ended = json.loads(lines[-1])
    ended["mono"] = 62.6
    note = {"t": NOTE.t, "mono": NOTE.mono, "type": "note", **NOTE.data}
    path.write_text("\n".join([*lines[:-1], json.dumps(note), json.dumps(ended)]) + "\n")
    report = json.loads(json.dumps(build_report(read_journal(path))))
    assert "T+01:02 **ana**: db slow" in render_markdown(report)
    assert "T+01:02 <strong>ana</strong>" in render_html(report)
    assert "T+01:03" not in render_markdown(report)


def test_one_sparkline_for_the_room_and_the_report() -> None:
    from controlroom.widgets import sparkline as widget_module

    assert widget_module.sparkline is sparkline
    # the room: the last `width` values, right-aligned; the report: every value averaged into buckets
    assert sparkline([0.0, 1.0, 2.0, 3.0], 2) == "▁█"
    assert sparkline([1.0], 3) == "  " + FLAT
    assert sparkline([0.0, 0.0, 1.0, 1.0], 2, whole=True) == "▁█"
    assert sparkline([5.0, 5.0], 8, whole=True) == FLAT * 2
    assert sparkline([None, float("nan"), 1.0, 2.0], 4) == "  ▁█"


# -- name_ranges: many targets named the way the scenario writes them ----------------------------------------

def _expand(text: str) -> list[str]:
    from controlroom.scenario.ranges import TargetRange, find_range

    out: list[str] = []
    for part in text.split(", ") if text else []:
        span = find_range(part)
        if isinstance(span, TargetRange):
            out += [part.replace(span.text, n) for n in span.numbers()]
        else:
            assert span is None, span
            out.append(part)
    return out


def test_name_ranges_writes_a_fleet_the_way_the_scenario_does() -> None:
    from controlroom.formats import name_ranges

    assert name_ranges(f"h{i}" for i in range(101, 201)) == "h[101:200]"
    assert name_ranges(["h1", "h2", "h3", "h5", "db-08", "db-09", "db-10", "api"]) == "h[1:3], h5, db-[08:10], api"
    assert name_ranges(["x7", "x08"]) == "x7, x08"  # 08 is not the number after 7 in the same form
    assert name_ranges([]) == ""


_NAMES = st.lists(st.builds(lambda p, n, w: p + (str(n).zfill(w) if w else str(n)),
                            st.sampled_from(["h", "db-", "web.", "x"]), st.integers(0, 120), st.sampled_from([0, 0, 2, 3]))
                  | st.sampled_from(["api", "front", "h", "db-"]), max_size=60)


@given(_NAMES)
def test_name_ranges_reads_back_as_the_same_names_in_the_same_order(names: list[str]) -> None:
    from controlroom.formats import name_ranges

    assert _expand(name_ranges(names)) == names


def test_a_fleet_step_is_one_line_in_the_headless_log() -> None:
    faults = [{"fault": f"dark/0@h{i}", "target": f"h{i}", "summary": f"blackhole all traffic on h{i} eth0"}
              for i in range(101, 201)]
    faults.append({"fault": "dark/1@db", "target": "db", "summary": "stop postgresql on db"})
    line = ProgressPrinter(lambda _: None).format(
        Event("step-briefed", "t", 1.0, {"step": "dark", "index": 0, "title": "Zone b goes dark", "faults": faults}))
    assert line is not None and line.endswith(
        "Zone b goes dark — blackhole all traffic on h[101:200] eth0 (100 targets); stop postgresql on db")

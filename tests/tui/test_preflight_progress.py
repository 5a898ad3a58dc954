"""Pre-flight connection progress: connected / pending / failed counted from the journaled checks, the same
for the room's pre-flight pane (through the fold) and the headless progress lines."""

from __future__ import annotations

from rich.style import Style

from controlroom.app.fixtures import ev
from controlroom.headless import ProgressPrinter
from controlroom.journal.events import Event
from controlroom.preflight_progress import ConnectCounts, ConnectTally
from controlroom.viewstate import RoomState, apply
from controlroom.widgets.preflight import PreflightPane


def fleet_events(n: int, connected: int, failed: int, *, every: float = 0.1) -> list[Event]:
    """`n` targets announced as being checked; then `connected` connect and answer, `failed` fail to connect."""
    events = [ev("preflight-check", 0.0, check="environment", target=None, ok=True, detail="ok")]
    events += [ev("preflight-check", 0.0, check="reachable", target=f"h{i}", ok=None, detail="checking…")
               for i in range(1, n + 1)]
    t = 0.0
    for i in range(1, connected + 1):
        t += every
        events.append(ev("preflight-check", t, check="host key", target=f"h{i}", ok=True, detail="verified"))
        events.append(ev("preflight-check", t, check="reachable", target=f"h{i}", ok=True, detail="ok"))
        events.append(ev("preflight-check", t, check="nft", target=f"h{i}", ok=True, detail="ok"))
    for i in range(connected + 1, connected + failed + 1):
        t += every
        events.append(ev("preflight-check", t, check="reachable", target=f"h{i}", ok=False,
                         detail=f"h{i}: cannot reach h{i} over ssh: no answer within 5s"))
    return events


def test_the_tally_counts_a_target_once_and_a_failure_for_good() -> None:
    tally = ConnectTally()
    assert tally.feed("reachable", "h1", None) and tally.feed("reachable", "h2", None)
    assert tally.counts() == ConnectCounts(connected=0, pending=2, failed=0)
    assert tally.feed("host key", "h1", True)
    assert not tally.feed("reachable", "h1", True)  # connected already: the count does not move
    assert tally.feed("reachable", "h2", False)
    assert not tally.feed("host key", "h2", True)  # a failure is never undone by a later answer
    assert not tally.feed("nft", "h1", False) and not tally.feed("metrics", "rate", False)  # not a connection
    assert tally.counts() == ConnectCounts(connected=1, pending=0, failed=1)
    assert tally.counts().line() == "1/2 connected, 0 pending, 1 failed"


def test_the_fold_counts_connections_as_the_checks_come_in() -> None:
    state = RoomState()
    events = fleet_events(200, connected=150, failed=3)
    for e in events[:1 + 200 + 3 * 40]:  # 40 hosts connected so far
        apply(state, e)
    assert state.connections() == ConnectCounts(connected=40, pending=160, failed=0)
    for e in events[1 + 200 + 3 * 40:]:
        apply(state, e)
    assert state.connections() == ConnectCounts(connected=150, pending=47, failed=3)


def pane_text(state: RoomState) -> str:
    pane = PreflightPane()
    pane.tone = lambda *_a, **_k: Style()  # type: ignore[method-assign]  (unmounted: no theme; the words count)
    return pane.render_state(state, 100, 20).plain


def test_the_preflight_pane_shows_connected_pending_and_failed() -> None:
    state = RoomState()
    for e in fleet_events(200, connected=150, failed=3):
        apply(state, e)
    text = pane_text(state)
    assert "Connections       150/200 connected  47 pending  3 failed" in text
    assert "h151" in text and "no answer within 5s" in text  # the failures are listed first
    assert "Connections" not in pane_text(RoomState())  # nothing to connect


def test_headless_prints_connection_progress_as_it_goes_and_only_failures_for_a_fleet() -> None:
    lines: list[str] = []
    printer = ProgressPrinter(lines.append, progress_every=1.0)
    for e in fleet_events(100, connected=97, failed=3, every=0.1):
        printer(e)
    progress = [line.split("  ", 1)[1] for line in lines if "pre-flight connections:" in line]
    assert progress[0] == "pre-flight connections: 1/100 connected, 99 pending, 0 failed"
    assert progress[-1] == "pre-flight connections: 97/100 connected, 0 pending, 3 failed"
    assert 8 <= len(progress) <= 12  # about one a second over 10 s of connecting, not one per host
    assert [line for line in lines if "pre-flight ok" in line] == ["T+00:00  pre-flight ok   environment"]
    fails = [line for line in lines if "pre-flight FAIL" in line]
    assert len(fails) == 3 and "h98: cannot reach h98 over ssh" in fails[0]


def test_headless_keeps_a_line_per_passing_check_for_a_few_hosts() -> None:
    lines: list[str] = []
    printer = ProgressPrinter(lines.append)
    for e in fleet_events(3, connected=3, failed=0):
        printer(e)
    assert sum("pre-flight ok" in line for line in lines) == 1 + 3 * 3
    progress = [line for line in lines if "pre-flight connections:" in line]
    assert progress[-1].endswith("pre-flight connections: 3/3 connected, 0 pending, 0 failed")

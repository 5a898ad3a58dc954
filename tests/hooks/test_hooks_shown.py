"""Hook outcomes are shown: the room's fold (event log, the rollback pane's PAGED line) and the headless lines."""

from __future__ import annotations

from controlroom.headless import ProgressPrinter
from controlroom.journal.events import Event
from controlroom.viewstate import RoomState, apply


def _ev(type_: str, **data: object) -> Event:
    return Event(type_, "2026-11-29T16:00:00.000+00:00", 5.0, dict(data))


def test_the_room_shows_that_it_paged_and_what_failed() -> None:
    state = RoomState()
    apply(state, _ev("hook-failed", hook="chat", event="session-started", attempt=1, final=False,
                     error="HTTP 503"))
    apply(state, _ev("hook-delivered", hook="pager", event="rollback-unconfirmed", attempt=1, page=True))
    apply(state, _ev("hook-dropped", hook="sms", event="rollback-unconfirmed", page=True,
                     reason="abandoned at the session's end (grace 2s)"))
    assert state.paged == ["pager"] and state.page_failed == ["sms"]
    lines = [(e.level, e.text) for e in state.log]
    assert lines == [
        ("warning", "hook chat (session-started) failed, try 1: HTTP 503"),
        ("error", "PAGED on-call through hook pager (rollback unconfirmed)"),
        ("error", "hook sms (rollback-unconfirmed) dropped: abandoned at the session's end (grace 2s)"),
    ]


def test_headless_prints_a_line_for_pages_and_failures_only() -> None:
    p = ProgressPrinter(lambda line: None)  # type: ignore[arg-type]
    assert p.dispatch(_ev("hook-delivered", hook="chat", event="session-started", attempt=1)) is None
    assert p.dispatch(_ev("hook-delivered", hook="pager", event="rollback-unconfirmed", attempt=2, page=True)) == \
        "  PAGED on-call through hook pager (rollback unconfirmed)"
    assert p.dispatch(_ev("hook-failed", hook="chat", event="session-ended", attempt=3, final=True,
                          error="timed out")) == "  hook chat (session-ended) failed (gave up): timed out"


async def test_the_rollback_pane_says_it_paged_and_when_paging_failed() -> None:
    from textual.app import App, ComposeResult

    from controlroom.widgets.rollback import RollbackPane

    state = RoomState()
    for type_, data in [
        ("emergency-stop", {"source": "stop-condition", "reason": "ok_rate < 0.8"}),
        ("rollback-started", {"reason": "ok_rate < 0.8", "faults": ["f/0@db"], "targets": ["db"]}),
        ("rollback-finished", {"clean": False, "unconfirmed": ["db"]}),
        ("hook-delivered", {"hook": "pager", "event": "rollback-unconfirmed", "attempt": 1, "page": True}),
        ("hook-failed", {"hook": "sms", "event": "rollback-unconfirmed", "attempt": 3, "final": True,
                         "page": True, "error": "timed out"}),
    ]:
        apply(state, _ev(type_, **data))

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield RollbackPane()

    app = Host()
    async with app.run_test(size=(80, 24)):
        text = app.query_one(RollbackPane).render_state(state, 80, 20).plain
    assert "PAGED on-call: pager" in text
    assert "paging FAILED: sms" in text

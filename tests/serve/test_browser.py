"""Spectators in a real headless Chromium: `controlroom serve` beside the facilitator's room (the demo, in tmux).

The page shows the session's step and metrics, follows the live journal, and nothing typed or clicked in it
reaches the session: not at the checklist gate, not at the inject gate, not the stop keys (F12, `!`, Ctrl+C).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from controlroom.journal.reader import read_journal
from tests.deps import needs
from tests.serve.cdp import Chromium
from tests.serve.kit import CONTROLROOM, Served, group_members, wait_until
from tests.tui.tmux_kit import Tmux

# What a key reaching the session would journal: a gate answered, a checklist item ticked, a note, a stop.
ACTS = ("step-confirmed", "checklist-item", "note", "emergency-stop")


def acts(journal: Path) -> list[tuple[str, dict[str, object]]]:
    return [(e.type, dict(e.data)) for e in read_journal(journal).events if e.type in ACTS]


@needs("chromium", "tmux")
def test_a_spectator_page_follows_the_room_and_no_key_in_it_reaches_the_session(tmp_path: Path) -> None:
    journal = tmp_path / "demo.jsonl"
    runtime = {"CONTROLROOM_RUNTIME_DIR": os.environ["CONTROLROOM_RUNTIME_DIR"]}
    room = Tmux([*CONTROLROOM, "demo", "--journal", str(journal)], env=runtime)
    served: Served | None = None
    browser: Chromium | None = None
    try:
        room.wait_for("START?", timeout=60)
        # No argument: the only running session, found as `watch` finds it.
        served = Served(log=tmp_path / "serve.log")
        browser = Chromium(tmp_path / "profile")
        browser.open(served.url)
        page = browser.wait_for("waiting for the facilitator to confirm the checklist")
        assert "demo-checkout" in page and "WATCH · read-only" in page and "START?" not in page

        # Keys do reach the spectator's own view: `?` opens its help, Escape closes it ...
        browser.focus()
        browser.key("?")
        browser.wait_for("command palette")
        browser.key("Escape")
        browser.wait_for(lambda s: "command palette" not in s)
        # ... and none of the facilitator's keys acts on the session from there: tick, confirm, skip, note, stop.
        before = acts(journal)
        browser.key("Space", "Down", "Space", "c", "s", "n", "F12", "ctrl+c", "!")
        browser.click_text("read-only")  # the grey control where the room has its red stop
        time.sleep(1.5)
        assert acts(journal) == before == []
        assert "START?" in room.screen()  # the facilitator's gate still waits for them

        # The facilitator goes on in their room; the page follows the live journal: the step, then metrics.
        room.keys("Space", "Down", "Space")
        room.wait_for(lambda s: s.count("[x]") == 2)
        room.keys("c")
        room.wait_for("INJECT?", timeout=60)
        # The page folds the journal as it grows: the brief can show a frame before the gate's event reaches it.
        browser.wait_for(lambda s: "150 ms on every checkout" in s and "shop.success_rate" in s
                         and "waiting for the facilitator to confirm" in s, timeout=30)
        wait_until(lambda: "shop.p99_ms" in browser.screen(), 10, "the page never showed the p99 series")

        # At the inject gate, the stop and confirm keys from the page again do nothing to the session.
        gate_acts = acts(journal)
        assert [t for t, _ in gate_acts] == ["checklist-item", "checklist-item", "step-confirmed"]
        browser.key("c", "F12", "ctrl+c", "!", "a")
        time.sleep(1.5)
        assert acts(journal) == gate_acts
        assert "INJECT?" in room.screen()

        # `q` in the page closes that spectator's view only: the page says so, the session goes on.
        views = served.views()
        assert len(views) == 1
        browser.key("q")
        wait_until(browser.page_closed, 10, "the page never showed that its view closed")
        wait_until(lambda: not group_members(views[0]), 10, "the closed view's process group is still there")
        room.keys("c")  # the facilitator confirms: the fault goes in, as it would have without any spectator
        room.wait_for(lambda s: "FAULTED" in s, timeout=30)
        assert [t for t, _ in acts(journal)] == ["checklist-item", "checklist-item", "step-confirmed",
                                                  "step-confirmed"]
        # A page opened again follows on, to the facilitator's stop.
        browser.open(served.url)
        browser.wait_for("FAULTED")
        room.keys("!")
        browser.wait_for("SESSION ENDED", timeout=60)
        stops = [d for t, d in acts(journal) if t == "emergency-stop"]
        assert [d["source"] for d in stops] == ["key"]  # the facilitator's own, in the room
        assert served.signal(signal.SIGTERM) == 0
    finally:
        if browser is not None:
            browser.close()
        if served is not None:
            served.stop()
        room.close()

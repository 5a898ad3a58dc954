"""The control room App: the panes around one RoomState, fed by a live session, a followed journal or a list.

Every event goes through `controlroom.viewstate.apply`; panes are redrawn from
the state, at most once per pass of the message loop (floods are merged).
Read-only feeds have no controls: the facilitator's keys are hidden and do nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.driver import Driver
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer

from controlroom.app.feeds import Ended, Feed, Playback
from controlroom.app.filter_screen import FilterBar
from controlroom.app.modals import DetailScreen, GotoScreen, HelpScreen, NoteScreen, QuitScreen, StatementsScreen
from controlroom.app.preflight_screen import PreflightScreen
from controlroom.app.terminal import hangup_tolerant
from controlroom.engine.gates import DECISIONS, Judgements
from controlroom.errors import ControlroomError
from controlroom.fleet_view import fleet_view
from controlroom.journal.events import Event
from controlroom.summary import cleanliness, short_cleanliness, verified_clean
from controlroom.viewstate import LogEntry, RoomState, apply, format_clock, tick
from controlroom.widgets._pane import Pane
from controlroom.widgets.blast_radius import BlastRadiusPane
from controlroom.widgets.end import EndPane
from controlroom.widgets.estop import EmergencyStopControl
from controlroom.widgets.event_log import EventLogPane
from controlroom.widgets.header import RoomHeader
from controlroom.widgets.metrics import MetricsPane
from controlroom.widgets.rollback import RollbackPane
from controlroom.widgets.step_card import StepCard
from controlroom.widgets.timeline import FaultTimeline
from controlroom.widgets.too_small import TooSmall

# Actions only a facilitator may take: hidden and refused in watch and replay.
CONTROL_ACTIONS = frozenset({"emergency_stop", "stop_after_end", "decide", "note", "tick", "end_recovery"})
# Actions only a reviewer's replay offers: they move the playhead, nothing else.
PLAYBACK_ACTIONS = frozenset({"replay_pause", "replay_speed", "replay_step", "replay_jump", "replay_goto",
                              "replay_edge"})
NOTHING_ACTIVE = "nothing active — all clean"
KEY_NAMES = {"exclamation_mark": "!", "question_mark": "?", "space": "space", "escape": "esc", "minus": "-",
             "plus": "+", "equals_sign": "=", "comma": ",", "full_stop": ".", "left_square_bracket": "[",
             "right_square_bracket": "]", "left": "←", "right": "→",
             "up": "↑", "down": "↓", "slash": "/", "pagedown": "PgDn", "pageup": "PgUp"}


def pretty_keys(keys: str) -> str:
    return " or ".join(KEY_NAMES.get(k, k.upper() if k.startswith("f") and k[1:].isdigit() else k)
                       for k in keys.split(","))


class RoomUpdated(Message):
    """New events were folded into the state; a pending one makes later ones redundant."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RoomUpdated)


SPEED = Binding.Group("speed", compact=True)
EVENT = Binding.Group("event", compact=True)
JUMP = Binding.Group("±10s", compact=True)


class ControlRoomApp(App[int]):
    CSS_PATH = "controlroom.tcss"
    TITLE = "controlroom"
    HORIZONTAL_BREAKPOINTS = [(0, "-too-narrow"), (80, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-too-short"), (24, "-short"), (40, "-tall")]
    # The one table of the room's keys: the footer, the keymap ids, the help screen (each binding's tooltip is
    # its help line) and the palette's key hints all come from here.
    BINDINGS = [
        # The stop is a priority binding on the App: it runs before any screen, modal or focused widget.
        Binding("f12,exclamation_mark", "emergency_stop", "E-STOP", priority=True, id="emergency-stop",
                key_display="F12/!",
                tooltip="EMERGENCY STOP: revert every active fault now (works in every screen)"),
        # The same keys once the session has ended: not offered in the footer, but pressed they say at once
        # that nothing is active (or what is not confirmed clean), instead of a stop banner that never ends.
        # No help line of its own: help shows the stop once, and a keymap entry for the stop moves both.
        Binding("f12,exclamation_mark", "stop_after_end", "E-STOP", priority=True, id="emergency-stop-ended",
                show=False),
        Binding("c", "decide('confirm')", "Confirm", id="confirm", tooltip="confirm the armed step: inject its faults"),
        Binding("s", "decide('skip')", "Skip", id="skip", tooltip="skip the armed step"),
        Binding("a", "decide('abort')", "Abort", id="abort", tooltip="abort the session at this gate"),
        Binding("n", "note", "Note", id="note", tooltip="add a timestamped note to the journal"),
        Binding("e", "end_recovery", "End recovery watch", id="end-recovery",
                tooltip="after a stop: end the recovery watch now (recovery is then recorded as not seen)"),
        # show=False: in help and palette; 80 columns are few.
        Binding("p", "preflight", "Pre-flight", id="preflight", show=False, tooltip="show the pre-flight checklist"),
        Binding("z", "zoom", "Zoom", id="zoom", show=False,
                tooltip="zoom the metrics, blast radius, timeline or log pane in turn; once more returns"),
        # The metrics pane names these keys itself when it has series to scroll.
        Binding("down,j", "metrics_scroll(1)", "More series", id="metrics-down", show=False,
                tooltip="metrics: scroll to the series below (the pinned and alerting ones stay); a zoomed blast radius: a row"),
        Binding("up,k", "metrics_scroll(-1)", "Back up", id="metrics-up", show=False,
                tooltip="metrics (or a zoomed blast radius): scroll back up"),
        # A fleet in the blast radius (the pane names these keys itself when it has more rows than it shows).
        Binding("slash", "blast_filter", "Filter", id="blast-filter", key_display="/", show=False,
                tooltip="blast radius: filter targets by name, label, key=value or state (unclean ones always show)"),
        Binding("l", "blast_group", "Group", id="blast-group", show=False,
                tooltip="blast radius: group targets by each label key in turn, with counts per state; again: ungroup"),
        Binding("J,pagedown", "blast_scroll(1)", "More targets", id="blast-down", show=False,
                tooltip="blast radius: scroll a page down (the unclean targets stay at the top)"),
        Binding("K,pageup", "blast_scroll(-1)", "Targets above", id="blast-up", show=False,
                tooltip="blast radius: scroll a page up"),
        Binding("x", "timeline_expand", "Expand", id="timeline-expand", show=False,
                tooltip="timeline: a lane per target under each fault sent to many; again: one row per fault"),
        Binding("d", "details", "Details", id="details", show=False,
                tooltip="details: the step, every target's faults and every error text in full"),
        Binding("question_mark", "help", "Help", id="help", key_display="?", tooltip="this help"),
        Binding("q", "quit_room", "Quit", id="quit", tooltip="quit (asks first, and reverts, while faults are active)"),
        # Declared here so that help lists it; Textual adds its own only when no binding runs the palette.
        Binding("ctrl+p", "command_palette", "palette", id="command-palette", show=False, priority=True,
                tooltip="command palette"),
        # Replay only (hidden otherwise): playback, never anything that touches a target.
        Binding("space", "replay_pause", "▶/❚❚", id="replay-pause", tooltip="replay: play / pause"),
        Binding("minus", "replay_speed(-1)", "slower", id="replay-slower", key_display="-", group=SPEED,
                tooltip="replay: slower (60x, 16x, 4x, 1x)"),
        Binding("plus,equals_sign", "replay_speed(1)", "faster", id="replay-faster", key_display="+", group=SPEED,
                tooltip="replay: faster (1x, 4x, 16x, 60x)"),
        Binding("comma,left", "replay_step(-1)", "◀ event", id="replay-back", key_display=",", group=EVENT,
                tooltip="replay: one event back (pauses)"),
        Binding("full_stop,right", "replay_step(1)", "event ▶", id="replay-forward", key_display=".", group=EVENT,
                tooltip="replay: one event forward (pauses)"),
        Binding("left_square_bracket", "replay_jump(-10)", "-10 s", id="replay-jump-back", key_display="[",
                group=JUMP, tooltip="replay: 10 s of session time back"),
        Binding("right_square_bracket", "replay_jump(10)", "+10 s", id="replay-jump-forward", key_display="]",
                group=JUMP, tooltip="replay: 10 s of session time forward"),
        Binding("g", "replay_goto", "Go to", id="replay-goto", tooltip="replay: go to a session time (90, 1:30, T+01:30)"),
        Binding("home", "replay_edge(0)", "Start", id="replay-start", show=False, tooltip="replay: the first event"),
        Binding("end", "replay_edge(1)", "End", id="replay-end", show=False, tooltip="replay: the last event"),
    ]

    def __init__(self, feed: Feed, *, keymap: dict[str, str] | None = None, clock_tick: bool = True) -> None:
        super().__init__()
        self.feed = feed
        self.controls = feed.controls
        self.playback = feed.playback
        self.read_only = feed.controls is None
        self.state = RoomState()
        self.keymap = dict(keymap or {})
        self.stop_requested = False
        self.feed_done = False
        self.feed_result: Ended | None = None
        self.feed_error: str | None = None
        self._update_pending = False
        self.checklist_refused = ""  # shown on the pre-flight screen after a start the checklist did not allow
        self._preflight_shown = False
        self._auto_preflight: PreflightScreen | None = None
        self._judging_asked = False
        self._keys_shown: tuple[object, ...] = ()
        self._clock_tick = clock_tick
        self._panes: list[Pane] = []
        self.stop_found_nothing = False  # the stop key found no active fault: say so at once

    # ---- layout -----------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        mode = self.feed.mode
        header, rollback = RoomHeader(mode, id="header"), RollbackPane(id="rollback")
        step, end = StepCard(id="step", read_only=self.read_only), EndPane(id="end")
        metrics, blast = MetricsPane(id="metrics"), BlastRadiusPane(id="blast")
        timeline, log = FaultTimeline(id="timeline"), EventLogPane(id="log")
        self._panes = [header, rollback, step, end, metrics, blast, timeline, log]
        end.journal = self.feed.journal
        with Horizontal(id="top"):
            yield header
            yield EmergencyStopControl(read_only=self.read_only, replay=mode == "replay", id="estop")
        # One grid; the breakpoint classes in controlroom.tcss rearrange it for 80x24 and for big terminals.
        with Grid(id="body"):
            with Vertical(id="stepbox"):
                yield rollback
                yield step
                yield end
            yield blast
            yield metrics
            yield timeline
            yield log
        yield FilterBar(id="filter")
        yield Footer()
        yield TooSmall(read_only=self.read_only, id="too-small")

    def get_driver_class(self) -> type[Driver]:
        return hangup_tolerant(super().get_driver_class())

    def on_mount(self) -> None:
        playback = self.playback
        if playback is not None:
            playback.show = self.show_state
            if playback.needs_index:
                # After the first frame: the worker thread would compete with it for the interpreter.
                self.set_timer(0.5, lambda: self._index_replay(playback))
        if self.keymap:
            effective = dict(self.keymap)
            if "emergency-stop" in effective:
                effective["emergency-stop-ended"] = effective["emergency-stop"]
            self.set_keymap(effective)
        estop = self.query_one(EmergencyStopControl)
        estop.keys = self.keys_for("emergency-stop")
        self.query_one(TooSmall).stop_keys = estop.keys
        self.query_one(StepCard).gate_keys = {k: self.keys_for(k) for k in ("confirm", "skip", "abort")}
        down = self.keys_for("metrics-down").split(" or ")[0]
        up = self.keys_for("metrics-up").split(" or ")[0]
        self.query_one(MetricsPane).scroll_keys = f"{down}/{up}"
        self.query_one(BlastRadiusPane).hint_keys = {
            "down": self.keys_for("blast-down").split(" or ")[0], "up": self.keys_for("blast-up").split(" or ")[0],
            "filter": self.keys_for("blast-filter").split(" or ")[0], "group": self.keys_for("blast-group").split(" or ")[0]}
        self._refresh_panes()
        self._pump()
        # Live and watch rooms tick between events (a watcher's clock follows the journal's wall time).
        if self._clock_tick and (self.feed.mode in ("live", "watch") or self.feed.clock() is not None):
            self.set_interval(1.0, self._tick_clock)

    # ---- the feed ---------------------------------------------------------------------------------------

    @work(group="feed", exit_on_error=False)
    async def _pump(self) -> None:
        try:
            self.feed_result = await self.feed.pump(self.receive)
        except ControlroomError as err:
            # A user-fixable problem (journal exists, pre-flight, unreadable journal): say it, keep the room open.
            self.feed_error = str(err)
            self._say_in_log(f"ERROR: {err}")
            self.notify(str(err), title="controlroom", severity="error", timeout=30)
        except Exception as err:
            # A bug: the engine has already run its rollback path; show it rather than die silently.
            self.feed_error = f"{type(err).__name__}: {err}"
            self._say_in_log(f"ERROR (bug): {self.feed_error}")
            self.notify(self.feed_error, title="internal error", severity="error", timeout=30)
        finally:
            self.feed_done = True
            self._schedule()
            if self.feed.exit_when_done:
                self.exit(self.exit_code)

    def _say_in_log(self, text: str) -> None:
        """A line of the room's own (not of the journal) under the journal's lines; the state is the journal's."""
        self.query_one(EventLogPane).room_lines.append(LogEntry(self.state.now, text, "error"))

    def receive(self, event: Event) -> None:
        """Called for every event (on the event loop): fold it now, redraw soon."""
        apply(self.state, event)
        self._schedule()

    def show_state(self, state: RoomState) -> None:
        """Show a state folded elsewhere (the replay's playhead): the panes read it from now on.

        Redrawn at once rather than scheduled: a replay moves at most once per key or frame, and a seek
        from the go-to box then paints in the same frame that closes the box.
        """
        self.state = state
        self._refresh_panes()

    @work(thread=True, group="replay-index", exit_on_error=False)
    def _index_replay(self, playback: Playback) -> None:
        """Checkpoints over the whole journal, off the event loop, so every later seek is quick."""
        try:
            playback.build_index()
        finally:
            # On the event loop: the playhead is only ever moved there.
            self.call_from_thread(playback.index_built)

    def _schedule(self) -> None:
        if not self._update_pending:
            self._update_pending = True
            self.post_message(RoomUpdated())

    def on_room_updated(self, _msg: RoomUpdated) -> None:
        self._update_pending = False
        self._refresh_panes()

    def _tick_clock(self) -> None:
        now = self.feed.clock()
        if now is not None and tick(self.state, now):
            self._schedule()

    def _refresh_panes(self) -> None:
        state = self.state
        rollback = self.query_one(RollbackPane)
        rollback.requested = self.stop_requested
        rollback.nothing_active = self.stop_found_nothing
        self.query_one(RoomHeader).banner = self._banner()
        # The pre-flight screen is opaque: panes under it are redrawn when it closes, not on every sample.
        if not isinstance(self.screen, PreflightScreen):
            for pane in self._panes:
                pane.show(state)
        estop = self.query_one(EmergencyStopControl)
        estop.stopping = self.stop_requested or state.estop_source is not None
        estop.title = state.stop_banner or ("EMERGENCY STOP" if self.stop_requested else "")
        if state.rollback is not None and state.rollback.finished:
            estop.verdict = state.rollback.verdict
        elif self.stop_found_nothing:
            estop.verdict = NOTHING_ACTIVE
        else:
            estop.verdict = ""
        estop.ended = short_cleanliness(state) if state.ended else ""
        estop.dirty = state.ended and estop.ended != "all clean"
        too_small = self.query_one(TooSmall)
        too_small.status_ok, too_small.status = self._stop_status()
        # Once stopping, the rollback progress takes the step card's place; once ended, the end summary does.
        stepbox = self.query_one("#stepbox")
        stopping = rollback.has_class("-visible")
        if stepbox.has_class("-stopping") != stopping:
            stepbox.set_class(stopping, "-stopping")
        if stepbox.has_class("-ended") != state.ended:
            stepbox.set_class(state.ended, "-ended")
        # A gate or a stop is never hidden by a zoomed pane: the step card comes back above it.
        urgent = stopping or state.active_gate() or state.checklist_pending()
        body = self.query_one("#body")
        if body.has_class("-urgent") != urgent:
            body.set_class(urgent, "-urgent")
        self._follow_preflight()
        self._follow_judging()
        if self.checklist_refused and (state.checklist_done or not state.checklist_pending()):
            self.checklist_refused = ""
        for screen in self.screen_stack:
            if isinstance(screen, PreflightScreen):
                screen.header.banner = self.query_one(RoomHeader).banner
                # The pre-flight screen's red control says what the main view's says (stopping, ended).
                screen.estop.stopping, screen.estop.verdict = estop.stopping, estop.verdict
                screen.estop.ended, screen.estop.dirty = estop.ended, estop.dirty
                screen.show(state, self.checklist_refused)
        # Recomposing the footer is the costliest part of a redraw: only when what the keys do changed.
        keys_now = (state.active_gate(), state.checklist_pending(), self.stop_requested, state.ended,
                    len(self.screen_stack), state.recovering_after_stop())
        if keys_now != self._keys_shown:
            self._keys_shown = keys_now
            self.refresh_bindings()

    def _stop_status(self) -> tuple[bool, str]:
        """One line on the stop or the end, for the too-small overlay (where the panes cannot be seen), and
        whether it is good news: only what the journal shows verified clean is."""
        state = self.state
        if state.ended:
            return verified_clean(state), f"session ended: {state.outcome} — {cleanliness(state)}"
        if self.stop_found_nothing:
            return True, f"■ STOPPED: {NOTHING_ACTIVE}"
        if state.rollback is not None and state.rollback.finished:
            return not state.rollback.unconfirmed, f"■ STOPPED: {state.rollback.verdict}"
        if self.stop_requested or state.estop_source is not None:
            return False, "■ STOPPING: rolling back every active fault…"
        return True, ""

    def _banner(self) -> str:
        return self.playback.banner() if self.playback is not None else ""

    def _follow_preflight(self) -> None:
        """Open the pre-flight screen once the session starts; close it when the first step is briefed.

        Only the screen opened here closes by itself: one the facilitator opened with `p` stays.
        """
        state = self.state
        if state.step is None and state.scenario and not self._preflight_shown and not self.stop_requested:
            self._preflight_shown = True
            if not isinstance(self.screen, PreflightScreen):
                self._auto_preflight = self._preflight_screen()
                self.push_screen(self._auto_preflight)
        elif state.step is not None and self._auto_preflight is not None and self.screen is self._auto_preflight:
            # A session that ends in pre-flight keeps this screen: the failed check is what to read.
            self._auto_preflight = None
            self.pop_screen()

    def _follow_judging(self) -> None:
        """At the end the engine waits for the statements to be judged: ask, once, in a modal."""
        if (self.controls is None or self._judging_asked or not self.state.judging()
                or isinstance(self.screen, StatementsScreen)):
            return
        self._judging_asked = True

        def answer(verdicts: Judgements | None) -> None:
            if self.controls is not None:
                self.controls.judge(verdicts or {})

        self.push_screen(StatementsScreen(self.state.statements), answer)

    # ---- keys -------------------------------------------------------------------------------------------

    def keys_for(self, binding_id: str) -> str:
        """The keys that run a binding, as a person reads them: the user's keymap, else the binding's own."""
        default = next(b.key for b in self._room_bindings() if b.id == binding_id)
        return pretty_keys(self.keymap.get(binding_id, default))

    @classmethod
    def _room_bindings(cls) -> list[Binding]:
        return [b for b in cls.BINDINGS if isinstance(b, Binding)]

    def offers(self, action: str) -> bool:
        """Whether this room has `action` at all, whatever the moment: a facilitator's actions need the feed's
        controls, a reviewer's need its playback. The footer (check_action) and help both ask this."""
        if action in CONTROL_ACTIONS:
            return self.controls is not None
        if action in PLAYBACK_ACTIONS:
            return self.playback is not None
        return True

    def help_rows(self) -> list[tuple[str, str]]:
        """Help, from the bindings: every key this room offers, with its tooltip as the line."""
        return [(self.keys_for(b.id), b.tooltip) for b in self._room_bindings()
                if b.id is not None and b.tooltip and self.offers(b.action.split("(")[0])]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.offers(action):
            return False
        # After the end, the footer offers no stop and no note: the session is over. The stop keys go to
        # `stop_after_end`, which says what is left.
        if action in ("emergency_stop", "note"):
            return not self.state.ended
        if action == "stop_after_end":
            return self.state.ended
        if action == "decide":
            if self.stop_requested:
                return False
            # The checklist gate has no skip: the humans are ready (confirm) or the session does not start.
            return self.state.active_gate() or (self.state.checklist_pending() and parameters != ("skip",))
        if action == "end_recovery":
            return self.state.recovering_after_stop()
        return True

    def action_end_recovery(self) -> None:
        if self.controls is not None and self.state.recovering_after_stop():
            self.controls.end_recovery()

    # The reviewer's keys: check_action refuses them without a playback; the guards keep a palette call honest.

    def action_replay_pause(self) -> None:
        if self.playback is not None:
            self.playback.toggle()

    def action_replay_step(self, delta: int) -> None:
        if self.playback is not None:
            self.playback.step(delta)

    def action_replay_jump(self, seconds: float) -> None:
        if self.playback is not None:
            self.playback.jump(seconds)

    def action_replay_edge(self, end: int) -> None:
        if self.playback is not None:
            if end:
                self.playback.to_end()
            else:
                self.playback.to_start()

    def action_replay_speed(self, delta: int) -> None:
        if self.playback is not None:
            self.playback.faster(delta)

    def action_replay_goto(self) -> None:
        playback = self.playback
        if playback is None:
            return

        def go(seconds: float | None) -> None:
            if seconds is not None:
                playback.seek(seconds)

        self.push_screen(GotoScreen(self.state.clock, format_clock(playback.duration)), go)

    async def action_emergency_stop(self) -> None:
        if self.controls is None:
            return
        # The progress is on the main view: close whatever modal or screen is on top,
        # keeping a half-typed note (what someone saw just before the stop is worth having).
        while len(self.screen_stack) > 1:
            top = self.screen
            if isinstance(top, NoteScreen) and top.draft():
                self.controls.add_note(top.draft())
            if isinstance(top, StatementsScreen):
                self.controls.judge(top.verdicts)  # what was judged stands; the rest stays not judged
            self.pop_screen()
        first = not self.stop_requested
        if first and not self.state.faulted_targets and short_cleanliness(self.state) == "all clean":
            # The journal shows nothing active and every revert verified (an injection is journaled before it
            # is sent): say so at once; the engine still ends the session through the one stop path.
            self.stop_found_nothing = True
        self.stop_requested = True
        self._refresh_panes()
        if first:
            self._stop_everything()

    @work(group="estop", exit_on_error=False)
    async def _stop_everything(self) -> None:
        assert self.controls is not None
        await self.controls.emergency_stop()
        self._schedule()

    def action_stop_after_end(self) -> None:
        """The stop key after the session ended: nothing to stop; say at once what is left."""
        state = self.state
        left = short_cleanliness(state)
        if left == "all clean":
            said = NOTHING_ACTIVE
        else:
            # Only what the journal shows verified is called clean: anything else is named, with the way out.
            said = f"session ended; {cleanliness(state)}" + (
                f" — run controlroom recover {self.feed.journal}" if self.feed.journal else "")
        end = self.query_one(EndPane)
        end.after_stop = f"{self.keys_for('emergency-stop')}: {said}"
        end.after_stop_clean = said == NOTHING_ACTIVE
        end.show(state)
        self.notify(said, title="emergency stop", severity="information" if said == NOTHING_ACTIVE else "error")

    async def on_emergency_stop_control_pressed(self, _msg: EmergencyStopControl.Pressed) -> None:
        await self.run_action("emergency_stop")

    def action_decide(self, decision: str) -> None:
        if self.controls is None or decision not in DECISIONS:  # a binding's argument: confirm, skip or abort
            return
        if self.state.checklist_pending() and not self.state.active_gate():
            if decision == "confirm" and not self.state.checklist_done:
                left = [item for item, ticked in self.state.checklist.items() if not ticked]
                self.checklist_refused = f"not started: tick every checklist item first ({', '.join(left)})"
                self.notify(self.checklist_refused, severity="warning", timeout=6)
                self._schedule()
                return
            if decision == "skip":
                return
        elif not self.state.active_gate():
            return
        if not self.controls.decide(decision):
            self.notify("nothing is waiting for a decision yet", severity="warning")
        self.refresh_bindings()

    def action_note(self) -> None:
        if self.controls is None:
            return

        def save(text: str | None) -> None:
            if text and self.controls is not None:
                self.controls.add_note(text)

        self.push_screen(NoteScreen(self.state.clock), save)

    def on_preflight_screen_item_ticked(self, msg: PreflightScreen.ItemTicked) -> None:
        if self.controls is not None:
            self.controls.tick_checklist(msg.item, msg.ticked)

    def on_preflight_screen_closed(self, _msg: PreflightScreen.Closed) -> None:
        self._schedule()  # the main panes skipped their redraws while it was on top

    def _preflight_screen(self) -> PreflightScreen:
        screen = PreflightScreen(self.feed.mode, self.read_only)
        screen.pane.gate_keys = {k: self.keys_for(k) for k in ("confirm", "abort")}
        screen.header.banner = self._banner()
        screen.show(self.state, self.checklist_refused)
        return screen

    def action_preflight(self) -> None:
        if not isinstance(self.screen, PreflightScreen):
            self.push_screen(self._preflight_screen())

    def action_zoom(self) -> None:
        """Cycle the zoomed pane: metrics, blast radius, timeline, log, then back to the room.

        Done with CSS classes rather than Screen.maximize: the header and the red stop stay on screen.
        """
        if self.screen is not self.default_screen:
            return
        order = [self.query_one(MetricsPane), self.query_one(BlastRadiusPane), self.query_one(FaultTimeline),
                 self.query_one(EventLogPane)]
        current = next((i for i, p in enumerate(order) if p.has_class("-zoom")), None)
        for pane in order:
            pane.remove_class("-zoom")
        nxt = 0 if current is None else current + 1
        body = self.query_one("#body")
        if nxt < len(order):
            order[nxt].add_class("-zoom")
        body.set_class(nxt < len(order), "-zoomed")

    def action_details(self) -> None:
        if not isinstance(self.screen, DetailScreen):
            self.push_screen(DetailScreen(self.state))

    def action_metrics_scroll(self, delta: int) -> None:
        if self.screen is self.default_screen:
            blast = self.query_one(BlastRadiusPane)
            if blast.has_class("-zoom"):
                blast.scroll_rows(delta)  # zoomed, the blast radius is the pane on screen: ↓/↑ move it a row
            else:
                self.query_one(MetricsPane).scroll_series(delta)

    def action_blast_scroll(self, pages: int) -> None:
        if self.screen is self.default_screen:
            self.query_one(BlastRadiusPane).scroll_page(pages)

    def action_blast_group(self) -> None:
        if self.screen is self.default_screen:
            self.query_one(BlastRadiusPane).cycle_group()  # the pane's title says the grouping

    def action_blast_filter(self) -> None:
        if self.screen is not self.default_screen:
            return
        pane = self.query_one(BlastRadiusPane)

        def apply(text: str) -> str:
            pane.set_query(text)
            view = fleet_view(self.state, query=text)
            return f"{view.matched} of {view.total} match" if text.strip() else f"all {view.total} targets"

        def keep(text: str) -> None:
            pane.set_query(text)

        self.query_one(FilterBar).open(pane.filter_text, apply, keep)

    def action_timeline_expand(self) -> None:
        if self.screen is self.default_screen:
            self.query_one(FaultTimeline).toggle_expanded()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.help_rows(), self.read_only))

    def action_quit_room(self) -> None:
        active = self.state.faulted_targets
        if self.controls is None or self.state.ended:
            self.exit(self.exit_code)
            return
        if not active:
            # Nothing injected: end the session through the stop path quietly, so its journal ends properly.
            self._quit_after_stop()
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self._quit_after_stop()

        self.push_screen(QuitScreen(active), answer)

    @work(group="estop", exit_on_error=False)
    async def _quit_after_stop(self) -> None:
        assert self.controls is not None
        self.stop_requested = True
        self._refresh_panes()
        self.controls.judge({})  # quitting while statements wait: they stay not judged
        await self.controls.emergency_stop()
        # Give the session a moment to journal its end (session-ended) before the loop goes away.
        for _ in range(100):
            if self.feed_done:
                break
            await asyncio.sleep(0.05)
        self.exit(self.exit_code)

    @property
    def exit_code(self) -> int:
        code = self.feed_result.exit_code if self.feed_result is not None else None
        if code is None:
            code = self.state.exit_code
        if self.feed_error is not None:
            return 2
        if code is None and self.controls is not None:
            return 1  # a live session left before it ended did not hold its hypothesis
        return int(code) if code is not None else 0

    async def action_quit(self) -> None:
        """ctrl+q, and anything else that asks the App to quit: the room's guarded quit, never a bare exit."""
        self.action_quit_room()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The room's own actions. Textual's (theme, keys panel, screenshot, maximize) make no sense live, and
        its Quit would leave without the question the `q` key asks while faults are active."""
        state = self.state
        live = not self.read_only and not state.ended
        if live:
            yield SystemCommand("Emergency stop", "Revert every active fault now; never asks", self.action_emergency_stop)
        if live and not self.stop_requested and (state.active_gate() or state.checklist_pending()):
            yield SystemCommand("Confirm", "Answer the open gate: go ahead", lambda: self.action_decide("confirm"))
            if state.active_gate():
                yield SystemCommand("Skip", "Answer the open gate: skip this step", lambda: self.action_decide("skip"))
            yield SystemCommand("Abort", "Answer the open gate: abort the session", lambda: self.action_decide("abort"))
        if live:
            yield SystemCommand("Add a note", "Journal a timestamped note", self.action_note)
        yield SystemCommand("Zoom", "Zoom the metrics, blast radius, timeline or log in turn", self.action_zoom)
        yield SystemCommand("Details", "The step, targets and every error text in full", self.action_details)
        yield SystemCommand("Pre-flight", "Show the pre-flight checklist", self.action_preflight)
        yield SystemCommand("Help", "Every key of the room", self.action_help)
        if self.playback is not None:
            yield SystemCommand("Play / pause", "Replay: play or pause", self.action_replay_pause)
        yield SystemCommand("Quit", "Leave the room; asks first, and reverts, while faults are active",
                            self.action_quit_room)

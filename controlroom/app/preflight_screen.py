"""The pre-flight screen: automatic checks as they run, and the human checklist the facilitator ticks.

While the engine's checklist gate is open, `c` starts the session (refused until every
item is ticked) and `a` aborts it; both go through the App's one gate path. A tick is a
message (`ItemTicked`) the App turns into the journaled control: the screen has no controls.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer

from controlroom.viewstate import RoomState
from controlroom.widgets.estop import EmergencyStopControl
from controlroom.widgets.header import RoomHeader
from controlroom.widgets.preflight import PreflightPane


class PreflightScreen(Screen[None]):
    class ItemTicked(Message):
        """The facilitator ticked (or unticked) a checklist item."""

        def __init__(self, item: str, ticked: bool) -> None:
            super().__init__()
            self.item = item
            self.ticked = ticked

    class Closed(Message):
        """The screen went away: the main panes were not redrawn under it and are due a redraw."""

    BINDINGS = [
        Binding("up,k", "move(-1)", "Up", show=False, id="checklist-up"),
        Binding("down,j", "move(1)", "Down", show=False, id="checklist-down"),
        Binding("space,x", "tick", "Tick item", id="checklist-tick"),
        # Same ids as the step gate's keys: a remapped confirm/abort works here too.
        Binding("c", "app.decide('confirm')", "Start", id="confirm"),
        Binding("a", "app.decide('abort')", "Abort", id="abort"),
        Binding("escape,p", "close", "Main view", id="preflight"),
    ]

    def __init__(self, mode: str, read_only: bool) -> None:
        super().__init__()
        self.mode = mode
        self.read_only = read_only
        # Built here, not in compose: the app may show the state before the screen is mounted.
        self.header = RoomHeader(mode, id="pf-header")
        self.pane = PreflightPane(id="preflight-pane", read_only=read_only)
        self.estop = EmergencyStopControl(read_only=read_only, replay=mode == "replay", id="pf-estop")
        self.state = RoomState()  # the last state shown

    def compose(self) -> ComposeResult:
        with Horizontal(id="top"):
            yield self.header
            yield self.estop
        yield self.pane
        yield Footer()

    def show(self, state: RoomState, refused: str = "") -> None:
        self.state = state
        self.header.show(state)
        self.pane.refused = refused
        self.pane.show(state)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("tick", "move") and self.read_only:
            return False
        if action == "decide":
            # Only the checklist gate is answered here; a step gate has the main view's c/s/a.
            return bool(self.app.check_action(action, parameters)) and self.state.checklist_pending()
        return True

    def action_move(self, delta: int) -> None:
        pane = self.pane
        count = len(self.state.checklist)
        if count:
            pane.cursor = (pane.cursor + delta) % count
            pane.refresh()

    def action_tick(self) -> None:
        items = list(self.state.checklist.items())
        if not items:
            return
        pane = self.pane
        item, ticked = items[min(pane.cursor, len(items) - 1)]
        self.post_message(self.ItemTicked(item, not ticked))

    def on_unmount(self) -> None:
        self.app.post_message(self.Closed())

    def action_close(self) -> None:
        self.dismiss(None)

    async def on_emergency_stop_control_pressed(self, msg: EmergencyStopControl.Pressed) -> None:
        msg.stop()  # the app would hear it too: one press, one stop request
        await self.app.run_action("emergency_stop")

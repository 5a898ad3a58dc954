"""The room's small modal screens: help, details, add a note, go to a replay time, quit-while-faults-are-active."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, TypeVar

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static

from controlroom.replay import parse_time
from controlroom.viewstate import RoomState, format_clock
from controlroom.widgets._pane import TONE_CLASSES, Tone, tone_css, tone_style

R = TypeVar("R")
ToneFor = Callable[[Tone | None, str], Style]


class RoomModal(ModalScreen[R]):
    """A modal of the room: its text takes the panes' tones (theme colours; none under NO_COLOR)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = set(TONE_CLASSES)
    DEFAULT_CSS = tone_css("RoomModal")

    def tone(self, tone: Tone | None, attrs: str = "") -> Style:
        return tone_style(self, tone, attrs)


class HelpScreen(RoomModal[None]):
    """Every key of the room, with the keys currently bound (after the user's keymap)."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close", id="help-close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 72; height: auto; max-height: 90%; border: thick $accent; background: $panel; padding: 0 1; }
    """

    def __init__(self, rows: list[tuple[str, str]], read_only: bool) -> None:
        super().__init__()
        self.rows = rows
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        text = Text()
        text.append("Keys\n", style="bold")
        for keys, what in self.rows:
            text.append(f"{keys:>18}  ", style=self.tone("info", "bold"))
            text.append(f"{what}\n")
        if self.read_only:
            text.append("\nRead-only view: nothing here injects or stops anything.\n", style="italic")
        text.append("\nThe emergency stop never asks: it reverts every active fault at once.",
                    style=self.tone("bad", "bold"))
        with Vertical():
            yield Static(text)


def details_text(state: RoomState, tone: ToneFor) -> Text:
    """Everything a pane may cut short, in full: the session, the step, what is on each target, every error."""
    text = Text()
    bad = tone("bad", "bold")

    def head(title: str) -> None:
        text.append(f"\n{title}\n", style="bold underline")

    def row(label: str, value: str, style: str | Style = "") -> None:
        text.append(f"{label}: ", style=tone("info", "bold"))
        text.append(f"{value}\n", style=style)

    text.append(f"{state.scenario or '(no session yet)'}", style="bold")
    text.append(f"  {state.clock}  env {state.environment or '?'}  session {state.session or '?'}\n")
    if state.hypothesis:
        row("Hypothesis", state.hypothesis)
    step = state.step
    if step is not None:
        head(f"Step {step.index + 1}/{state.steps_total}: {step.title}")
        if step.brief:
            row("Brief", step.brief)
        if step.expect:
            row("Expect", step.expect)
        for f in step.faults:
            row("Fault", f"{f.get('type')} on {f.get('target')}" + (f" — {f.get('summary')}" if f.get("summary") else ""))
        if step.outcome:
            row("Outcome", step.outcome)
    troubled = [t for t in state.targets.values() if t.active or t.detail or t.state not in ("clean", "armed")]
    open_windows = [w for w in state.windows if w.end is None]
    if troubled or open_windows:
        head("Targets")
        for tv in troubled:
            row(tv.name, tv.state + (f" — {tv.detail}" if tv.detail else ""),
                bad if tv.state in ("unconfirmed", "unreachable") else "")
        for w in open_windows:
            row(f"  on {w.target}", f"{w.type}: {w.summary}")
    errors = [(f"telemetry LOST from {s}", state.telemetry_detail.get(s, "")) for s in sorted(state.telemetry_lost)]
    errors += [(f"source {s}", e) for s, e in sorted(state.source_errors.items())]
    errors += [(f"series {sv.name}", sv.error) for sv in state.series.values() if sv.error]
    errors += [(f"pre-flight {i.check}" + (f" on {i.target}" if i.target else ""), i.detail)
               for i in state.preflight.values() if i.ok is False]
    if errors:
        head("Errors")
        for label, detail in errors:
            row(label, detail or "—", bad)
    if state.preflight:
        head("Pre-flight")
        for item in state.preflight.values():
            mark = "✓" if item.ok else ("✗" if item.ok is False else "…")
            row(f"{mark} {item.check}" + (f" on {item.target}" if item.target else ""), item.detail or "—",
                bad if item.ok is False else "")
    if state.steady is not None:
        head("Steady state")
        text.append(state.steady_verdict + "\n")
    if state.ended:
        head("Session ended")
        row("Outcome", f"{state.outcome} (exit {state.exit_code})" + (f" — {state.message}" if state.message else ""))
    text.append(f"\nDetails at {format_clock(state.now)}; Esc closes.", style="dim")
    return text


class DetailScreen(RoomModal[None]):
    """Every text a pane may have cut, in full and wrapped: the room's `d` key."""

    BINDINGS = [Binding("escape,d,q", "dismiss", "Close", id="details-close")]
    DEFAULT_CSS = """
    DetailScreen { align: center middle; }
    DetailScreen > VerticalScroll { width: 90%; max-width: 110; height: auto; max-height: 90%;
                                    border: thick $accent; background: $panel; padding: 0 1; }
    """

    def __init__(self, state: RoomState) -> None:
        super().__init__()
        self.state = state

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(details_text(self.state, self.tone))


class NoteScreen(RoomModal[str | None]):
    """One line of text; Enter journals it as a note, Esc drops it."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="note-cancel")]
    DEFAULT_CSS = """
    NoteScreen { align: center bottom; }
    NoteScreen > Vertical { width: 100%; height: 5; border: thick $accent; background: $panel; padding: 0 1; }
    """

    def __init__(self, clock: str) -> None:
        super().__init__()
        self.clock = clock

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Note at {self.clock} (Enter saves to the journal, Esc cancels; F12 still stops)")
            yield Input(placeholder="what did you see?", id="note-input")

    def draft(self) -> str:
        return self.query_one(Input).value.strip() if self.is_mounted else ""

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        self.dismiss(text or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class GotoScreen(RoomModal[float | None]):
    """Replay: type a session time to go to; Enter goes (a typo is said here and the box stays), Esc stays."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="goto-cancel")]
    DEFAULT_CSS = """
    GotoScreen { align: center bottom; }
    GotoScreen > Vertical { width: 100%; height: 5; border: thick $accent; background: $panel; padding: 0 1; }
    """

    def __init__(self, now: str, total: str) -> None:
        super().__init__()
        self.now = now
        self.total = total

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Go to a session time: now {self.now}, the replay lasts {self.total[2:]} "
                        "(90, 1:30 or T+01:30; Esc stays)")
            yield Input(placeholder="m:ss", id="goto-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self.dismiss(None)
            return
        try:
            seconds = parse_time(event.value)
        except ValueError as err:
            self.query_one(Label).update(Text(str(err), style=self.tone("bad", "bold")))
            return
        self.dismiss(seconds)

    def action_cancel(self) -> None:
        self.dismiss(None)


class QuitScreen(RoomModal[bool]):
    """Quitting while faults are active: revert them first (the e-stop path), or stay."""

    BINDINGS = [
        Binding("y", "answer(True)", "Revert and quit", id="quit-yes"),
        Binding("n,escape", "answer(False)", "Stay", id="quit-no"),
    ]
    DEFAULT_CSS = """
    QuitScreen { align: center middle; }
    QuitScreen > Vertical { width: 64; height: auto; border: thick $error; background: $panel; padding: 1 2; }
    """

    def __init__(self, targets: list[str]) -> None:
        super().__init__()
        self.targets = targets

    def compose(self) -> ComposeResult:
        text = Text()
        text.append("Faults are active", style=self.tone("bad", "bold"))
        shown = self.targets if len(self.targets) <= 8 else [*self.targets[:6], f"… {len(self.targets) - 6} more"]
        text.append(f" on {len(self.targets)} targets: " if len(self.targets) > 8 else " on ")
        text.append(f"{', '.join(shown)}.\n")  # a fleet: the first names and a count, not a screenful
        text.append("Quitting reverts them first, exactly like the emergency stop.\n\n")
        text.append("[y] revert and quit    [n] stay", style="bold")
        with Vertical():
            yield Static(text)
        # Its own footer: the two answers, and the room's footer under it cannot show a stale set of keys.
        yield Footer()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class StatementsScreen(RoomModal[dict[str, bool | None]]):
    """The end of a session: the facilitator judges each statement — y met, n not met, s skip (not judged).

    One statement at a time, in the scenario's order; Esc leaves the rest not judged. Never a default answer.
    """

    BINDINGS = [
        Binding("y", "answer(True)", "Met", id="judge-yes"),
        Binding("n", "answer(False)", "Not met", id="judge-no"),
        Binding("s", "answer(None)", "Skip", id="judge-skip"),
        Binding("escape", "finish", "Leave the rest not judged", id="judge-done"),
    ]
    DEFAULT_CSS = """
    StatementsScreen { align: center middle; }
    StatementsScreen > Vertical { width: 72; height: auto; border: thick $accent; background: $panel; padding: 1 2; }
    """

    def __init__(self, statements: list[str]) -> None:
        super().__init__()
        self.statements = list(statements)
        self.verdicts: dict[str, bool | None] = {}

    def _text(self) -> Text:
        text = Text()
        n = len(self.verdicts)
        text.append(f"Success criteria for you to judge ({n + 1} of {len(self.statements)})\n\n", style="bold")
        text.append(self.statements[n] + "\n\n", style=self.tone("info", "bold"))
        text.append("Was it met?   [y] yes   [n] no   [s] skip (not judged)   [esc] leave the rest", style="bold")
        return text

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self._text(), id="statement")

    def action_answer(self, met: bool | None) -> None:
        self.verdicts[self.statements[len(self.verdicts)]] = met
        if len(self.verdicts) == len(self.statements):
            self.dismiss(self.verdicts)
        else:
            self.query_one("#statement", Static).update(self._text())

    def action_finish(self) -> None:
        self.dismiss(self.verdicts)

"""Rollback progress after an emergency stop or a breach: each target's revert, then a plain verdict."""

from __future__ import annotations

from rich.text import Text

from controlroom.fleet_view import natural_key
from controlroom.viewstate import RoomState
from controlroom.widgets._pane import Pane, Tone

MARKS: dict[str, tuple[str, str, Tone]] = {"pending": ("⟲", "reverting…", "rollback"), "clean": ("✓", "clean", "good"),
                                         "unconfirmed": ("✗", "UNCONFIRMED", "bad")}

LIST_ALL = 8  # up to this many targets: a row each; more: the unconfirmed ones by name, the others counted
LIST_UNCONFIRMED = 6


class RollbackPane(Pane):
    TITLE = "⟲ Rollback"
    DEFAULT_CSS = """
    RollbackPane { height: auto; max-height: 14; border: heavy $error; display: none; text-wrap: wrap; }
    RollbackPane.-visible { display: block; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.requested = False  # the e-stop was pressed here; the engine's events have not arrived yet
        self.nothing_active = False  # ... and the journal showed no fault active or unconfirmed when it was

    def show(self, state: RoomState) -> None:
        visible = self.requested or state.rollback is not None or state.estop_source is not None
        if self.has_class("-visible") != visible:
            self.set_class(visible, "-visible")
        rb = state.rollback
        self.show_shape(state, (visible, len(rb.targets) if rb else -1, rb.finished if rb else None,
                                self.nothing_active, len(state.paged), len(state.page_failed)))

    def render_state(self, state: RoomState, width: int, height: int) -> Text:
        text = Text(overflow="fold")
        rb = state.rollback
        by = f" by {state.stop_by}" if state.stop_by else ""
        headline = state.stop_banner + by if state.estop_source else ("STOP REQUESTED" if self.requested else "ROLLBACK")
        text.append(headline, style=self.tone("bad", "bold"))
        if rb is None:
            if self.nothing_active:
                text.append("\nnothing active — all clean; ending the session", style=self.tone("good", "bold reverse"))
            else:
                text.append("\nreverting every active fault…", style="bold")
            return text
        text.append(f"  reason: {rb.reason}", style="dim")
        if not rb.targets:
            text.append("\nno fault was active", style="dim")
        if len(rb.targets) <= LIST_ALL:
            for name, status in sorted(rb.targets.items()):
                glyph, word, tone = MARKS.get(status, ("?", status, None))
                style = self.tone(tone, "bold")
                text.append(f"\n{glyph} {name}  ", style=style)
                text.append(word, style=style)
        else:
            # A fleet: a row per target would push the unconfirmed ones out of the pane. They come first, by
            # name; the others are counted (the blast radius lists them).
            bad = sorted((n for n, st in rb.targets.items() if st == "unconfirmed"), key=natural_key)
            glyph, word, tone = MARKS["unconfirmed"]
            for name in bad[:LIST_UNCONFIRMED]:
                text.append(f"\n{glyph} {name}  {word}", style=self.tone(tone, "bold"))
            if len(bad) > LIST_UNCONFIRMED:
                text.append(f"\n{glyph} {len(bad) - LIST_UNCONFIRMED} more {word} (blast radius, d: all)",
                            style=self.tone(tone, "bold"))
            for status in ("pending", "clean"):
                n = sum(1 for st in rb.targets.values() if st == status)
                if n:
                    glyph, word, tone = MARKS[status]
                    text.append(f"\n{glyph} {n} targets {word}", style=self.tone(tone, "bold"))
        text.append("\n")
        verdict = rb.verdict
        text.append(("VERDICT: " if rb.finished else "") + verdict,
                    style=self.tone(("bad" if rb.unconfirmed else "good") if rb.finished else None,
                                    "bold reverse" if rb.finished else "bold"))
        if state.paged:  # the hooks marked `page: true` fired (docs/hooks.md)
            text.append(f"\nPAGED on-call: {', '.join(state.paged)}", style=self.tone("bad", "bold"))
        if state.page_failed:
            text.append(f"\npaging FAILED: {', '.join(state.page_failed)} — call on-call yourself",
                        style=self.tone("bad", "bold reverse"))
        return text

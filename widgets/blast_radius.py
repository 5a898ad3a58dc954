"""The blast radius pane: every target's state, faulted targets against max_targets, time left against max_duration.

A fleet (more targets than rows, or a grouping or filter chosen) is drawn from `controlroom.fleet_view`: a count
per state over every target, the unclean targets pinned at the top (no filter, grouping or scroll hides them),
then the other targets — or their groups by a label key, with counts per state — in a window that scrolls.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable

from rich.text import Text

from controlroom.fleet_view import FleetView, TargetGroup, fleet_view, label_keys
from controlroom.viewstate import RoomState, TargetView, format_seconds
from controlroom.widgets._pane import Pane, Tone
from controlroom.widgets.sparkline import clip

# Glyph + word per state: readable without colour. Then the tone and the weight.
TARGET_LOOKS: dict[str, tuple[str, str, Tone | None, str]] = {
    "clean": ("○", "clean", "good", ""),
    "armed": ("◔", "armed", "info", ""),
    "faulted": ("●", "FAULTED", "active", "bold"),
    "reverting": ("⟲", "reverting", "rollback", "bold"),
    "unconfirmed": ("✗", "UNCONFIRMED", "bad", "bold"),
    "unreachable": ("⊘", "unreachable", "bad", "bold"),
}


COUNT_ROW_MIN = 4  # fewer rows than this for the window: the scroll count goes in the border, not a row


class BlastRadiusPane(Pane):
    TITLE = "Blast radius"
    DEFAULT_CSS = """
    BlastRadiusPane { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.group_by: str | None = None  # a label key chosen with the group key; None: one row per target
        self.filter_text = ""  # the filter typed after `/`
        self.target_offset = 0  # how far the window under the pinned targets is scrolled
        self.page_rows = 1  # rows in that window at the last render: what one page of scrolling moves
        self.can_scroll = False
        self.hint_keys = {"down": "J", "up": "K", "filter": "/", "group": "l"}  # the room sets them from its bindings
        self._subtitle: str | None = None
        self._title: str | None = None

    # ---- what the viewer chose: a grouping, a filter, a scroll position (no part of the journal) ----------

    def cycle_group(self) -> str | None:
        """One row per target, then grouped by each label key the targets carry in turn, then back."""
        keys = label_keys(self._state) if self._state is not None else []
        order: list[str | None] = [None, *keys]
        at = order.index(self.group_by) if self.group_by in order else 0
        self.group_by = order[(at + 1) % len(order)]
        self.target_offset = 0
        self.refresh()
        return self.group_by

    def set_query(self, query: str) -> None:
        if query != self.filter_text:
            self.filter_text = query
            self.target_offset = 0
            self.refresh()

    def scroll_rows(self, delta: int) -> None:
        self.target_offset = max(0, self.target_offset + delta)
        self.refresh()

    def scroll_page(self, pages: int) -> None:
        self.scroll_rows(pages * max(1, self.page_rows - 1))

    def fleet_mode(self, state: RoomState, rows: int) -> bool:
        """More targets than rows, or a grouping or filter chosen: counts, pinned unclean targets, a window."""
        return bool(self.group_by or self.filter_text.strip()) or len(state.targets) > rows

    def _set_border(self, title: str, subtitle: str | None) -> None:
        # Set after this paint: a change made while rendering would be lost with the frame being drawn.
        if self._title != title:
            self._title = title
            self.call_after_refresh(setattr, self, "border_title", title)
        if self._subtitle != subtitle:
            self._subtitle = subtitle
            self.call_after_refresh(setattr, self, "border_subtitle", subtitle)

    def render_state(self, state: RoomState, width: int, height: int) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        faulted = len(state.faulted_targets)
        limit = state.max_targets
        over = limit is not None and faulted > limit
        text.append(f"faulted {faulted}/{limit if limit is not None else '?'}", style=self.tone("bad" if over else None, "bold"))
        left = state.time_left
        if left is not None and state.max_duration is not None:
            text.append(f"  left {format_seconds(left)}/{format_seconds(state.max_duration)}",
                        style=self.tone("bad" if left < 30 else None, "bold"))
        elif state.max_duration is not None:
            limit_s = format_seconds(state.max_duration)  # labelled; the short form when the pane is narrow
            label = f"  max fault time {limit_s}" if len(text.plain) + 17 + len(limit_s) <= width else f"  ≤{limit_s}/fault"
            text.append(label, style="dim")
        if self.fleet_mode(state, height - 1):
            self._fleet(text, state, width, height - 1)
            return text
        self.can_scroll = False
        self.target_offset = 0
        self._set_border(self.TITLE, None)
        targets = list(state.targets.values())
        # Faulted and troubled targets first: with 50 targets the ones that matter stay on screen.
        order = {"unconfirmed": 0, "faulted": 1, "reverting": 2, "unreachable": 3, "armed": 4, "clean": 5}
        targets.sort(key=lambda t: (order.get(t.state, 9), t.name))
        rows = height - 1
        shown = targets if len(targets) <= rows else targets[: max(0, rows - 1)]
        name_w = min(16, max((len(t.name) for t in targets), default=4))
        open_faults = {t.name: [f"{w.type}: {w.summary}" for w in state.windows if w.target == t.name and w.end is None]
                       for t in targets}
        zoomed = self.has_class("-zoom")

        def wrapped(line: str) -> list[str]:
            return textwrap.wrap(line, max(8, width - 4)) or [""]

        # Spare rows: say what is on each target, in full when there is room (or zoomed), else one line each.
        full_rows = len(targets) + sum(len(wrapped(f)) for fs in open_faults.values() for f in fs)
        roomy = len(targets) + sum(len(fs) for fs in open_faults.values()) <= rows
        in_full = zoomed or full_rows <= rows
        for tv in shown:
            self._target_row(text, state, tv, name_w, width, detail_lines=wrapped if zoomed else None)
            if roomy or zoomed:
                # Say what is on the target, so nobody has to cross-read the step card.
                for fault in open_faults[tv.name]:
                    for line in (wrapped(fault) if in_full else [clip(fault, max(0, width - 4))]):
                        text.append("\n    " + line, style="dim")
            if tv.pods and (zoomed or roomy):
                # Kubernetes: the pods chosen (journaled by name and uid), each selected/injected/recovered.
                pods = sorted(tv.pods.items())
                room = len(pods) if zoomed else max(1, min(len(pods), rows - len(shown)))
                for name, pod_state in pods[:room]:
                    text.append("\n    ▪ " + clip(name, max(0, width - 18)) + " ", style="dim")
                    text.append(pod_state, style="bold red" if pod_state == "unconfirmed" else "dim")
                if len(pods) > room:
                    text.append(f"\n    … {len(pods) - room} more pod(s) (zoom: z)", style="dim")
        if len(shown) < len(targets):
            clean = sum(1 for t in targets[len(shown):] if t.state == "clean")
            text.append(f"\n… {len(targets) - len(shown)} more ({clean} clean)", style="dim")
        return text

    # ---- a fleet ------------------------------------------------------------------------------------------

    def _counts(self, text: Text, counts: dict[str, int], total: int, width: int) -> None:
        """One row: how many targets are in each state, worst first, with words when they fit."""
        forms = ("{g} {n} {w}", "{g}{n} {w}", "{g}{n}")
        for form in forms:
            parts = []
            for state_name, n in counts.items():
                glyph, word, _, _ = TARGET_LOOKS.get(state_name, ("?", state_name, None, ""))
                parts.append((state_name, form.format(g=glyph, n=n, w=word)))
            line = f"{total}: " + " ".join(p for _, p in parts)
            if len(line) <= width:
                break
        text.append("\n")
        text.append(f"{total}: ", style="bold")
        used = len(f"{total}: ")
        for i, (state_name, part) in enumerate(parts):
            _, _, tone, attrs = TARGET_LOOKS.get(state_name, ("?", state_name, None, ""))
            piece = (" " if i else "") + part
            if used + len(piece) > width:
                break
            text.append(piece, style=self.tone(tone, attrs or "bold"))
            used += len(piece)

    def _target_row(self, text: Text, state: RoomState, tv: TargetView, name_w: int, width: int,
                    indent: str = "", detail_lines: Callable[[str], list[str]] | None = None) -> None:
        """One target: glyph, name, state word, then how long it has been so, or why it is unreachable or
        unconfirmed: clipped to the row, or (`detail_lines`, zoomed) in full on lines of its own below."""
        glyph, word, tone, attrs = TARGET_LOOKS.get(tv.state, ("?", tv.state, None, ""))
        style = self.tone(tone, attrs)
        text.append("\n" + indent)
        text.append(f"{glyph} ", style=style)
        text.append(clip(tv.name, name_w).ljust(name_w) + " ")
        text.append(word, style=style)
        if tv.since is not None:
            text.append(f" {format_seconds(state.now - tv.since)}", style="dim")
        elif tv.detail and tv.state in ("unreachable", "unconfirmed"):
            if detail_lines is not None:
                for line in detail_lines(tv.detail):
                    text.append("\n    " + line, style="dim")
            else:
                text.append(" " + clip(tv.detail, max(0, width - len(indent) - name_w - len(word) - 4)),
                            style="dim")

    def _group_row(self, text: Text, group: TargetGroup, key: str, value_w: int, width: int) -> None:
        counts = group.counts
        worst = next(iter(counts), "clean")
        _, _, tone, attrs = TARGET_LOOKS.get(worst, ("?", worst, None, ""))
        text.append("\n")
        text.append("▸ ", style=self.tone(tone, attrs))
        label = clip(f"{key}={group.value}", value_w).ljust(value_w)
        text.append(label + " ", style="bold")
        line = f"{len(group.targets):>3} "
        text.append(line)
        used = 2 + value_w + 1 + len(line)
        for i, (state_name, n) in enumerate(counts.items()):
            g, _, t, a = TARGET_LOOKS.get(state_name, ("?", state_name, None, ""))
            piece = (" " if i else "") + f"{g}{n}"
            if used + len(piece) > width:
                break
            text.append(piece, style=self.tone(t, a))
            used += len(piece)

    def _fleet(self, text: Text, state: RoomState, width: int, rows: int) -> None:
        view: FleetView = fleet_view(state, group_by=self.group_by, query=self.filter_text)
        zoomed = self.has_class("-zoom")
        self._counts(text, view.counts, view.total, width)
        rows -= 1
        name_w = min(16, max((len(t.name) for t in state.targets.values()), default=4))
        # The unclean targets first, each on its own row: no filter, grouping or scroll position hides them.
        # More of them than rows: as many as fit, and the count line says how many more are unclean.
        pinned = view.pinned
        room_for_pinned = rows - 1 if len(pinned) >= rows else len(pinned)
        for tv in pinned[:max(0, room_for_pinned)]:
            self._target_row(text, state, tv, name_w, width)
        hidden_unclean = len(pinned) - max(0, room_for_pinned)
        rows -= max(0, min(len(pinned), room_for_pinned)) + (1 if hidden_unclean else 0)
        items: list[tuple[str, TargetView | TargetGroup]] = []
        if self.group_by:
            value_w = min(max((len(f"{self.group_by}={g.value}") for g in view.groups), default=8), max(8, width // 2))
            # Rows to spare under the group rows: the groups' targets, worst group first, while whole groups fit
            # (zoomed: every group's, scrolling).
            spare = rows - len(view.groups)
            for group in view.groups:
                items.append(("group", group))
                members = [tv for tv in group.targets if tv not in pinned]
                if zoomed or len(members) <= spare:
                    items += [("member", tv) for tv in members]
                    spare -= len(members)
                else:
                    spare = -1  # a group left folded: the ones after it stay folded too, in order
        else:
            value_w = 0
            items = [("target", tv) for tv in view.rest]
        window = rows
        count_row = len(items) > window and window >= COUNT_ROW_MIN
        if count_row:
            window -= 1
        window = max(0, window)
        self.page_rows = max(1, window)
        self.target_offset = max(0, min(self.target_offset, len(items) - window))
        shown = items[self.target_offset:self.target_offset + window]
        for kind, item in shown:
            if isinstance(item, TargetGroup):
                self._group_row(text, item, self.group_by or "", value_w, width)
            else:
                self._target_row(text, state, item, name_w, width, indent="  " if kind == "member" else "")
        above, below = self.target_offset, max(0, len(items) - self.target_offset - len(shown))
        self.can_scroll = bool(above or below)
        what = "targets" if not self.group_by else ("rows" if any(k == "member" for k, _ in items) else "groups")
        parts = []
        if hidden_unclean:
            parts.append(f"✗ {hidden_unclean} more unclean")
        if above or below:
            parts.append(f"{len(shown)} of {len(items)} {what}")
            if below:
                parts.append(f"▼{below}")
            if above:
                parts.append(f"▲{above}")
            parts.append(f"{self.hint_keys['down']}/{self.hint_keys['up']}")
            parts.append(f"{self.hint_keys['filter']} filter")
            if label_keys(state):
                parts.append(f"{self.hint_keys['group']} group")
        if count_row or hidden_unclean:
            text.append("\n" + clip(" · ".join(parts), width),
                        style=self.tone("bad" if hidden_unclean else None, "bold"))
            subtitle = None
        else:
            subtitle = " · ".join(parts) if parts else None
        title = self.TITLE
        if self.group_by:
            title += f" · by {self.group_by}"
        if self.filter_text.strip():
            title += f" · /{self.filter_text.strip()} ({view.matched} of {view.total})"
        self._set_border(title, subtitle)

"""Text sparklines and number formatting shared by the panes (no Textual: cheap to render hundreds of series)."""

from __future__ import annotations

from controlroom.formats import sparkline

__all__ = ["clip", "format_value", "sparkline"]  # sparkline: the one in controlroom/formats.py

def format_value(value: float | None) -> str:
    if value is None:
        return "—"
    a = abs(value)
    if a >= 10000:
        return f"{value:,.0f}"
    if a >= 100:
        return f"{value:.0f}"
    if a >= 1:
        return f"{value:.1f}"
    return f"{value:.3f}"


def clip(text: str, width: int) -> str:
    """Cut to `width` cells with an ellipsis, so a long name never wraps a pane line."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"

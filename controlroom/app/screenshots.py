"""Regenerate the README screenshots from the app itself: `python -m controlroom.app.screenshots screenshots`.

Each shot is the real App fed a fixed event list at a fixed size, so the SVGs
only change when the room's rendering does.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from controlroom.app import fixtures
from controlroom.journal.events import Event

if TYPE_CHECKING:  # imported in build_app: Textual reads TEXTUAL_ANIMATIONS at import, main() sets it first
    from controlroom.app.app import ControlRoomApp

SHOTS: dict[str, tuple[Callable[[], list[Event]], tuple[int, int]]] = {
    "main-mid-step": (fixtures.mid_step_events, (120, 40)),
    "estop": (lambda: fixtures.estop_events(finished=False), (120, 40)),
    "preflight": (fixtures.preflight_events, (100, 30)),
    "too-small": (fixtures.mid_step_events, (64, 18)),
    "twelve-series": (fixtures.wide_events, (120, 40)),
    "end-screen": (fixtures.ended_events, (120, 40)),
    "fleet-200": (fixtures.fleet_events, (160, 48)),  # 200 targets: counts, unclean pinned, one timeline row
}


def build_app(events: list[Event]) -> ControlRoomApp:
    from controlroom.app.app import ControlRoomApp
    from controlroom.app.feeds import EventListFeed, RecordingControls

    # The facilitator's view (controls present) so the keys and the red stop show as they do live.
    return ControlRoomApp(EventListFeed(events, mode="live", controls=RecordingControls(), journal=fixtures.JOURNAL),
                          clock_tick=False)


async def shoot(name: str, out_dir: Path) -> Path:
    make_events, size = SHOTS[name]
    app = build_app(make_events())
    async with app.run_test(size=size) as pilot:
        for _ in range(3):
            await pilot.pause()
        path = out_dir / f"{name}.svg"
        app.save_screenshot(filename=path.name, path=str(out_dir))
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out_dir = Path(args[0] if args else "screenshots")
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
    for name in SHOTS:
        path = asyncio.run(shoot(name, out_dir))
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

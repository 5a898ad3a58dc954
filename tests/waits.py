"""One bounded wait on a text that changes under the test: a terminal's screen (tmux, the spectator page).

Every wait in the suite ends: at the latest after its timeout, with the last text it read in the failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for_text(read: Callable[[], str], what: str | Callable[[str], bool], timeout: float, where: str) -> str:
    """Reads `read()` every 0.1 s until it contains `what` (or `what(text)` holds) and returns that text; fails
    with "WHERE never showed WHAT" and the last text read once `timeout` seconds have passed."""
    check = what if callable(what) else (lambda text: what in text)
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = read()
        if check(text):
            return text
        time.sleep(0.1)
    raise AssertionError(f"{where} never showed {what!r}; last screen:\n{text}")

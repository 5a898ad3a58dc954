"""Drive a real terminal: run a command in a detached tmux session, send keys, read the screen."""

from __future__ import annotations

import shlex
import subprocess
import uuid
from collections.abc import Callable

from tests.deps import needs
from tests.waits import wait_for_text

needs_tmux = needs("tmux")


class Tmux:
    def __init__(self, command: list[str], *, width: int = 120, height: int = 40, env: dict[str, str] | None = None):
        self.name = f"crtest-{uuid.uuid4().hex[:8]}"
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        # Keep the pane after the command ends so the test can read the exit line.
        # COLUMNS/LINES inherited from the test runner would override the pane's real size.
        shell = f"unset COLUMNS LINES; {exports} {shlex.join(command)}; echo EXITED=$?; sleep 600"
        # A server of its own (-L): sizes and options of other tests' sessions cannot leak in.
        self.tmux = ["tmux", "-L", self.name, "-f", "/dev/null"]
        subprocess.run([*self.tmux, "new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height),
                        "sh", "-c", shell], check=True)

    def screen(self, *, escapes: bool = False) -> str:
        """The pane as text; with `escapes` the colour and attribute sequences too (capture-pane -e)."""
        flags = ["-p", "-e"] if escapes else ["-p"]
        out = subprocess.run([*self.tmux, "capture-pane", *flags, "-t", self.name], capture_output=True, text=True)
        return out.stdout

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.name, *keys], check=True)

    def wait_for(self, what: str | Callable[[str], bool], timeout: float = 30.0) -> str:
        return wait_for_text(self.screen, what, timeout, "screen")

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)

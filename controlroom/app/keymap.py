"""User key remapping: binding ids to keys, from a TOML file. No Textual here, so the CLI can validate it cheaply.

File (default `~/.config/controlroom/keys.toml`, or `$CONTROLROOM_KEYS`):

    [keys]
    emergency-stop = "f12,exclamation_mark"
    note = "m"
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from controlroom.errors import ControlroomError

BINDING_IDS = ("emergency-stop", "confirm", "skip", "abort", "note", "end-recovery", "zoom", "help",
               "preflight", "quit", "command-palette",
               "checklist-tick", "metrics-down", "metrics-up", "details",
               "blast-filter", "blast-group", "blast-down", "blast-up", "timeline-expand",
               "replay-pause", "replay-back", "replay-forward", "replay-slower", "replay-faster",
               "replay-jump-back", "replay-jump-forward", "replay-goto", "replay-start", "replay-end")
# Keys the room refuses: ctrl+c is copy since Textual 1.0, ctrl+b is the tmux prefix.
FORBIDDEN_KEYS = frozenset({"ctrl+c", "ctrl+b"})


class KeymapError(ControlroomError):
    """A keymap file that cannot be used."""


def default_keymap_path() -> Path:
    env = os.environ.get("CONTROLROOM_KEYS")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "controlroom" / "keys.toml"


def load_keymap(path: str | Path | None = None) -> dict[str, str]:
    """The keymap from `path` (or the default place); {} when the default file does not exist."""
    explicit = path is not None or "CONTROLROOM_KEYS" in os.environ
    p = Path(path) if path is not None else default_keymap_path()
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        if explicit:
            raise KeymapError(f"{p}: keymap file not found; create it or unset CONTROLROOM_KEYS") from None
        return {}
    except OSError as err:
        raise KeymapError(f"{p}: cannot read keymap: {err.strerror}") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise KeymapError(f"{p}: not valid TOML ({err}); write [keys] then lines like note = \"m\"") from None
    keys = doc.get("keys", {})
    if not isinstance(keys, dict):
        raise KeymapError(f"{p}: [keys] must be a table of binding-id = \"key\" lines")
    out: dict[str, str] = {}
    for binding_id, value in keys.items():
        if binding_id not in BINDING_IDS:
            raise KeymapError(f"{p}: unknown binding id {binding_id!r}; use one of {', '.join(BINDING_IDS)}")
        if not isinstance(value, str) or not value.strip():
            raise KeymapError(f"{p}: {binding_id} must be a key string such as \"f12\" or \"m,ctrl+n\"")
        parts = [k.strip() for k in value.split(",")]
        bad = [k for k in parts if k in FORBIDDEN_KEYS or not k]
        if bad:
            raise KeymapError(f"{p}: {binding_id} = {value!r}: ctrl+c and ctrl+b are reserved (copy, tmux prefix)")
        out[binding_id] = ",".join(parts)
    return out

"""Reading an SSH destination (`user@host:port`, `[v6]:port`, an alias) and an alias's HostName in the OpenSSH config.

Kept apart from the SSH executor (no asyncssh here): planning a network fault names its peers by target, and
resolves them through the same parse the executor dials with.
"""

from __future__ import annotations

import os
from pathlib import Path

from controlroom.errors import TargetError

SSH_CONFIG_ENV = "CONTROLROOM_SSH_CONFIG"


def parse_destination(dest: str) -> tuple[str | None, str, int | None]:
    """'user@host:port', 'host', '[v6]:port', or an ssh_config alias -> (user, host, port)."""
    user: str | None = None
    if "@" in dest:
        user, _, dest = dest.rpartition("@")
    port: int | None = None
    if dest.startswith("["):
        host, _, rest = dest[1:].partition("]")
        if rest.startswith(":"):
            port = int(rest[1:])
    elif dest.count(":") == 1:
        host, _, p = dest.partition(":")
        port = int(p)
    else:
        host = dest
    if not host:
        raise TargetError(f"ssh destination {dest!r} has no host: write user@host, user@host:port or an alias")
    return user or None, host, port


def default_config_paths() -> list[str]:
    """The OpenSSH config the SSH executor reads: `$CONTROLROOM_SSH_CONFIG`, else `~/.ssh/config` if present."""
    env = os.environ.get(SSH_CONFIG_ENV)
    if env:
        return [env]
    default = Path("~/.ssh/config").expanduser()
    return [str(default)] if default.is_file() else []


def config_hostname(alias: str) -> str | None:
    """HostName of an exact `Host` alias in the OpenSSH config the SSH executor uses (the lab's aliases)."""
    for path in default_config_paths():
        try:
            lines = Path(path).read_text().splitlines()
        except OSError:
            continue
        current: list[str] = []
        for raw in lines:
            words = raw.strip().split()
            if len(words) >= 2 and words[0].lower() == "host":
                current = words[1:]
            elif len(words) >= 2 and words[0].lower() == "hostname" and alias in current:
                return words[1]
    return None

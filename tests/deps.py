"""What the integration tests need from the machine, and the one way a test says it is missing.

Every skip for a missing system package or for not being root goes through here, with a
reason that starts with `MISSING` or `NOT_ROOT`. Locally such tests skip with that reason; in
CI (`CI=true`) tests/conftest.py turns every one of them into a failed run, so a CI machine
that lacks sshd, nft, Prometheus, tmux or Chromium can never pass having tested none of them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

MISSING = "missing system dependency"
NOT_ROOT = "needs root"
# The one kind of skip CI accepts: the test does not apply to this machine (a kernel that HAS sch_netem makes
# the "netem is missing" tests moot). Every other skip in CI — whatever its wording — fails the run.
NOT_APPLICABLE = "not applicable here"

# tool -> Debian package (scripts/system-deps installs these when root)
PACKAGES = {
    "sshd": "openssh-server", "ssh-keygen": "openssh-client", "nft": "nftables", "tc": "iproute2",
    "stress-ng": "stress-ng", "unshare": "util-linux", "nsenter": "util-linux", "setsid": "util-linux",
    "ping": "iputils-ping", "nc": "netcat-openbsd", "pgrep": "procps", "tmux": "tmux",
    "prometheus": "prometheus", "chromium": "chromium", "openssl": "openssl", "useradd": "passwd",
    "userdel": "passwd", "setpriv": "util-linux",
}


def which(tool: str) -> str | None:
    return shutil.which(tool) or next((str(p) for d in ("/usr/sbin", "/sbin", "/usr/bin")
                                       if (p := Path(d) / tool).exists()), None)


def missing(*tools: str) -> str | None:
    """A skip reason naming the tools that are not installed, or None when all are."""
    gone = [t for t in tools if which(t) is None]
    if not gone:
        return None
    pkgs = sorted({PACKAGES.get(t, t) for t in gone})
    return f"{MISSING}: {', '.join(gone)} (Debian: {' '.join(pkgs)}; scripts/system-deps installs them as root)"


def not_root(why: str) -> str | None:
    return None if os.geteuid() == 0 else f"{NOT_ROOT}: {why}"


def skip_reason(*tools: str, root: str | None = None) -> str | None:
    return (not_root(root) if root else None) or missing(*tools)


def needs(*tools: str, root: str | None = None) -> pytest.MarkDecorator:
    """Decorator: skip (locally) / fail the run (CI) unless the tools are installed (and, with `root`, we are root)."""
    reason = skip_reason(*tools, root=root)
    return pytest.mark.skipif(reason is not None, reason=reason or "")


def require(*tools: str, root: str | None = None) -> None:
    """The same inside a test or fixture body."""
    reason = skip_reason(*tools, root=root)
    if reason:
        pytest.skip(reason)


def not_applicable(why: str) -> str:
    return f"{NOT_APPLICABLE}: {why}"


def is_dependency_skip(reason: str) -> bool:
    """Any skip but a declared not-applicable one: CI must not pass having skipped it."""
    return NOT_APPLICABLE not in reason


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")

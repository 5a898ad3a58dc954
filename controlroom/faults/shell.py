"""The one place that builds shell text: every value is validated for its kind, then quoted.

Nothing from a scenario reaches a shell except through `sh()` (argv quoting)
or a validator here. Validators raise ValueError with a message for the user.
"""

from __future__ import annotations

import ipaddress
import re
import shlex

# Matched with fullmatch, never match + "$": "$" also matches before a trailing newline, and "eth0\n" would pass.
_IFACE_RE = re.compile(r"[A-Za-z0-9_.:-]{1,15}")
_UNIT_RE = re.compile(r"[A-Za-z0-9@_.:-]{1,128}")
_SAFE_PATH_RE = re.compile(r"/[A-Za-z0-9_./-]{0,4095}")
_USER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}|[0-9]{1,10}")


def q(value: object) -> str:
    return shlex.quote(str(value))


def sh(*argv: object) -> str:
    """argv -> one shell command line, every word quoted."""
    return " ".join(q(a) for a in argv)


def interface(name: str) -> str:
    if not _IFACE_RE.fullmatch(name) or name in (".", ".."):
        raise ValueError(f"invalid interface name {name!r}: use letters, digits and . _ - : (at most 15)")
    return name


def ip_address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        try:
            return str(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ValueError(f"invalid IP address or network {value!r}") from None


def unit_name(value: str) -> str:
    if not _UNIT_RE.fullmatch(value) or value.startswith("-"):
        raise ValueError(f"invalid unit name {value!r}: letters, digits and @ _ . : - only")
    return value


def abs_path(value: str) -> str:
    if not _SAFE_PATH_RE.fullmatch(value) or "/../" in value + "/" or value.endswith("/.."):
        raise ValueError(f"invalid path {value!r}: an absolute path of letters, digits and _ . - /")
    return value


def user_name(value: str) -> str:
    """A login name or a numeric uid, as `id -u` takes it."""
    if not _USER_RE.fullmatch(value):
        raise ValueError(f"invalid user {value!r}: a login name (letters, digits, _ . -) or a numeric uid")
    return value


# The longest command we send to a host. A login shell runs the whole command line as ONE `-c` argument, and
# Linux refuses a single argument over MAX_ARG_STRLEN (32 pages: 128 KiB) with "Argument list too long"; over
# 256 KiB sshd drops the connection ("Connection reset by peer"), taking every fault on it along. 1 KiB is
# left for the sudo prefix. Fault parameters that grow a command (peers) are bounded at validation to stay
# under it; the SSH executor refuses anything longer before sending it.
MAX_COMMAND_BYTES = 127 * 1024

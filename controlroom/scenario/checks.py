"""Value checks for scenario fields: names, destinations, URLs, selectors, paths.

Names and addresses end up in shell commands, file names and journal lines, so
they are held to small alphabets here, once, before anything is planned. Each
check returns None when the value is fine, or a one-line message saying what
to write instead.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# Target and metric names: also used as series prefixes and in fault ids.
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,62}")
# Scenario and environment names: may start with a digit ("2024-q3-gameday").
LABEL_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
STEP_ID_RE = re.compile(r"[a-z0-9][a-z0-9-_]{0,62}")
LABEL_KEY_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_./-]{0,251}[A-Za-z0-9])?")
LABEL_VALUE_RE = re.compile(r"([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?")
DNS_LABEL_RE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_SSH_RE = re.compile(
    r"(?:(?P<user>[A-Za-z0-9_][A-Za-z0-9_.-]{0,63})@)?"
    r"(?P<host>[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}|\[[0-9A-Fa-f:.]{2,45}\])"
    r"(?::(?P<port>[0-9]{1,5}))?"
)
_SELECTOR_PART_RE = re.compile(
    r"!?[A-Za-z0-9]([A-Za-z0-9_./-]{0,251}[A-Za-z0-9])?"
    r"(\s*(=|==|!=)\s*([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?)?"
)

SHELL_METACHARACTERS = frozenset("`$&|;<>()[]{}*?!~'\"\\#=%^,")


def metacharacters(value: str) -> str:
    """The characters of `value` a shell would treat specially (spaces and control characters included)."""
    bad = {c for c in value if c in SHELL_METACHARACTERS or c.isspace() or not c.isprintable()}
    return "".join(sorted(bad))


def _shown(chars: str) -> str:
    return " ".join(repr(c) for c in chars)


def check_name(value: str, what: str, pattern: re.Pattern[str] = NAME_RE) -> str | None:
    """A name that may reach a shell: small alphabet, no metacharacters."""
    bad = metacharacters(value)
    if bad:
        return f"{what} {value!r} contains shell metacharacters ({_shown(bad)}); use letters, digits and _ . -"
    if not pattern.fullmatch(value):
        first = "a letter or _" if pattern is NAME_RE else "a letter, digit or _"
        return f"{what} {value!r} must start with {first} and use only letters, digits and _ . - (at most {_max_len(pattern)})"
    return None


def _max_len(pattern: re.Pattern[str]) -> int:
    m = re.search(r"\{0,(\d+)\}\Z", pattern.pattern)
    return int(m.group(1)) + 1 if m else 63


def check_step_id(value: str) -> str | None:
    bad = metacharacters(value)
    if bad:
        return f"step id {value!r} contains shell metacharacters ({_shown(bad)}); use lowercase letters, digits, - and _"
    if not STEP_ID_RE.fullmatch(value):
        return f"step id {value!r} must be lowercase letters, digits, - and _ (starting with a letter or digit, at most 63)"
    return None


def check_ssh_destination(value: str) -> str | None:
    """'host', 'user@host', 'user@host:port', 'user@[::1]:22' or an ~/.ssh/config alias."""
    bad = metacharacters(value.replace("[", "").replace("]", ""))
    if bad:
        return f"ssh destination {value!r} contains shell metacharacters ({_shown(bad)}); write user@host or user@host:port"
    m = _SSH_RE.fullmatch(value)
    if not m:
        return f"ssh destination {value!r} is not user@host, user@host:port or a host alias"
    port = m.group("port")
    if port is not None and not 1 <= int(port) <= 65535:
        return f"ssh destination {value!r} has port {port}; ports are 1 to 65535"
    return None


def check_url(value: str, what: str) -> str | None:
    """An http(s) URL with a host; no spaces or control characters."""
    if any(c.isspace() or not c.isprintable() for c in value):
        return f"{what} {value!r} contains spaces or control characters; write a URL like http://host:8080/path"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as err:
        return f"{what} {value!r} is not a valid URL ({err})"
    if parts.scheme not in ("http", "https"):
        return f"{what} {value!r} must start with http:// or https://"
    if not parts.hostname:
        return f"{what} {value!r} has no host; write a URL like http://host:8080/path"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        # The scenario is copied whole into every journal's header: a password here would be journaled.
        shown = f"{parts.scheme}://{parts.hostname}{f':{port}' if port else ''}{parts.path}"
        return (f"{what} {shown!r} carries credentials (user:password@); they would be written to the journal. "
                "Drop them from the URL: Prometheus takes basic_auth.password_file or bearer_token_file")
    if port == 0:
        return f"{what} {value!r} has port 0; ports are 1 to 65535"
    return None


def check_selector(value: str) -> str | None:
    """A Kubernetes equality-based label selector: 'app=checkout,tier!=canary'."""
    parts = [p.strip() for p in value.split(",")]
    if not value.strip() or not all(_SELECTOR_PART_RE.fullmatch(p) for p in parts):
        return f"label selector {value!r} must be key=value pairs separated by commas, e.g. 'app=checkout'"
    return None


_FIELD_SELECTOR_PART_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9.]*(=|==|!=)[A-Za-z0-9._:-]*")


def check_field_selector(value: str) -> str | None:
    """A Kubernetes field selector: 'status.phase=Running,spec.nodeName!=node-3'."""
    parts = [p.strip() for p in value.split(",")]
    if not value.strip() or not all(_FIELD_SELECTOR_PART_RE.fullmatch(p) for p in parts):
        return f"field selector {value!r} must be field=value pairs separated by commas, e.g. 'status.phase=Running'"
    return None


def check_mode_value(mode: str, value: str) -> str | None:
    """`value` for a Chaos Mesh selection mode: a count of pods (fixed) or a percentage 1-100 (the percent modes)."""
    text = value.rstrip("%").strip()
    if not text.isdigit():
        unit = "a number of pods such as '2'" if mode == "fixed" else "a percentage such as '20%'"
        return f"mode {mode!r} needs value: {unit}, got {value!r}"
    n = int(text)
    if mode == "fixed":
        return None if n >= 1 and not value.endswith("%") else f"mode fixed needs a count of pods (1 or more), got {value!r}"
    return None if 1 <= n <= 100 else f"mode {mode!r} needs a percentage from 1 to 100, got {value!r}"


def check_path(value: str, what: str) -> str | None:
    """A file path used by the control room itself (never a shell): no control characters."""
    if not value or any(not c.isprintable() for c in value):
        return f"{what} {value!r} must be a file path without control characters"
    return None


def check_one_line(value: str, what: str) -> str | None:
    if not value.strip():
        return f"{what} must not be empty"
    if any(not c.isprintable() for c in value):
        return f"{what} {value!r} must be one line of printable text"
    return None

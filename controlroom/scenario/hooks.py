"""The `hooks:` section of a scenario and the user's hooks file: located checks, like every other section.

A hook is read the same way from both places (`read_hooks`), so a mistake in either is `FILE:LINE:COL: what`.
Secrets are never written in clear: a header's value (and a URL that is itself a secret, as a Slack
webhook is) is `{env: NAME}` or `{file: PATH}`, resolved only when a delivery is made and never journaled.
The user's file (`$XDG_CONFIG_HOME/controlroom/hooks.yaml`) runs commands on every scenario, so it is
refused when another user could have written it (group/other-writable, or not ours) — the same rule
`recover` applies to a journal it would take commands from.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from urllib.parse import urlsplit

from controlroom.errors import ControlroomError, Problem, ScenarioError
from controlroom.scenario.fields import FieldReader
from controlroom.scenario.loader import Map, Node, Scalar, Seq, decode, parse_document
from controlroom.scenario.model import Hook, HookFormat, Secret

# The hook events (docs/hooks.md) and the source document's names for them.
HOOK_EVENTS = ("session-started", "fault-injected", "condition-breached", "rollback-started", "rollback-finished",
               "rollback-unconfirmed", "session-ended")
ALIASES = {
    "chaos:experiment-started": "session-started",
    "chaos:fault-injected": "fault-injected",
    "chaos:steady-state-violated": "condition-breached",
    "chaos:rollback-triggered": "rollback-started",
    "chaos:experiment-completed": "session-ended",
}
HOOK_KEYS = ("name", "on", "webhook", "command", "timeout", "retries", "page")
WEBHOOK_KEYS = ("url", "format", "headers")
SECRET_KEYS = ("env", "file")
FORMATS: tuple[HookFormat, ...] = ("json", "slack")
DEFAULT_TIMEOUT = 5.0
MAX_TIMEOUT = 60.0  # a hook is a notification: a minute is already generous, and the session-end grace is short
MAX_RETRIES = 5
MAX_HOOKS = 20


class HooksFileError(ControlroomError):
    """The user's hooks file is unsafe to use (another user could have written it)."""


def _secret(r: FieldReader, node: Node, where: str) -> Secret | None:
    m = r.mapping(node, where)
    if m is None:
        return None
    r.keys(m, SECRET_KEYS, where)
    key = r.one_of(m, SECRET_KEYS, where, "'env: VARIABLE' or 'file: PATH'")
    if key is None:
        return None
    value = r.string(m.get(key), f"{where}.{key}")
    if value is None:
        return None
    return Secret(env=value) if key == "env" else Secret(file=os.path.expanduser(value))


def _url(r: FieldReader, node: Node, where: str) -> str | Secret | None:
    if isinstance(node, Map):
        return _secret(r, node, where)
    value = r.string(node, where)
    if value is None:
        return None
    if not value.startswith(("http://", "https://")):
        r.at(node, f"{where}: {value!r} is not an http:// or https:// URL")
        return None
    if "@" in urlsplit(value).netloc:  # credentials in clear: refused without echoing them
        r.at(node, f"{where}: a URL with credentials is never written in clear; use {{env: VARIABLE}} or {{file: PATH}}")
        return None
    return value


def _hook(r: FieldReader, node: Node, where: str, source: str) -> Hook | None:
    m = r.mapping(node, where)
    if m is None:
        return None
    before = len(r.problems)
    r.keys(m, HOOK_KEYS, where)
    name = r.string(r.require(m, "name", where, "give the hook a short name such as 'slack' or 'pager'"),
                    f"{where}.name")
    on: list[str] = []
    on_node = m.get("on")
    page = bool(r.boolean(m.get("page"), f"{where}.page"))
    if on_node is None and not page:
        r.at(m, f"{where}: missing required key 'on'; list the events, e.g. on: [rollback-unconfirmed, session-ended]")
    for value, item in r.strings(on_node, f"{where}.on"):
        event = ALIASES.get(value, value)
        if event not in HOOK_EVENTS:
            r.choice(item, f"{where}.on", HOOK_EVENTS + tuple(ALIASES))  # records the problem, with a suggestion
            continue
        if event not in on:
            on.append(event)
    if page and "rollback-unconfirmed" not in on:
        on.append("rollback-unconfirmed")  # a paging hook always pages on an unconfirmed rollback
    kind = r.one_of(m, ("webhook", "command"), where, "'webhook:' or 'command:'")
    url: str | Secret | None = None
    fmt: HookFormat = "json"
    headers: list[tuple[str, Secret]] = []
    argv: list[str] = []
    if kind == "webhook":
        w = r.mapping(m.get("webhook"), f"{where}.webhook")
        if w is not None:
            r.keys(w, WEBHOOK_KEYS, f"{where}.webhook")
            url_node = r.require(w, "url", f"{where}.webhook")
            url = _url(r, url_node, f"{where}.webhook.url") if url_node is not None else None
            if w.get("format") is not None:
                fmt = r.choice(w.get("format"), f"{where}.webhook.format", FORMATS) or "json"
            h = r.mapping(w.get("headers"), f"{where}.webhook.headers")
            for hname, (_, hnode) in (h.entries.items() if h is not None else ()):
                hwhere = f"{where}.webhook.headers.{hname}"
                if isinstance(hnode, Scalar):
                    r.at(hnode, f"{hwhere}: a header value is never written in clear; "
                                "use {env: VARIABLE} or {file: PATH}")
                    continue
                secret = _secret(r, hnode, hwhere)
                if secret is not None:
                    headers.append((hname, secret))
    elif kind == "command":
        cmd = m.get("command")
        argv = [v for v, _ in r.strings(cmd, f"{where}.command")]  # a list: an argv, never a shell line
        if isinstance(cmd, Seq) and not cmd.items:
            r.at(cmd, f"{where}.command: give the program and its arguments as a list")
    timeout = r.duration(m.get("timeout"), f"{where}.timeout")
    if timeout is not None and timeout > MAX_TIMEOUT:
        r.at(m.get("timeout") or m, f"{where}.timeout: at most {MAX_TIMEOUT:g}s for a hook")
        timeout = None
    retries_node = m.get("retries")
    retries = r.integer(retries_node, f"{where}.retries", 0)
    if retries is not None and retries > MAX_RETRIES and retries_node is not None:
        r.at(retries_node, f"{where}.retries: at most {MAX_RETRIES}")
        retries = None
    if len(r.problems) != before or name is None or kind is None:
        return None
    return Hook(name=name, on=tuple(on), url=url, format=fmt, headers=tuple(headers), command=tuple(argv),
                timeout=timeout if timeout is not None else DEFAULT_TIMEOUT,
                retries=retries if retries is not None else 2, page=page, source=source)


def read_hooks(r: FieldReader, node: Node | None, where: str = "hooks", source: str = "scenario") -> tuple[Hook, ...]:
    """Every hook under `node` (a list), each problem recorded on `r` with its line and column."""
    seq = r.sequence(node, where)
    if seq is None:
        return ()
    if len(seq.items) > MAX_HOOKS:
        r.at(seq, f"{where}: at most {MAX_HOOKS} hooks")
    hooks: list[Hook] = []
    seen: set[str] = set()
    for i, item in enumerate(seq.items):
        hook = _hook(r, item, f"{where}[{i}]", source)
        if hook is None:
            continue
        if hook.name in seen:
            r.at(item, f"{where}[{i}].name: {hook.name!r} is already the name of another hook")
            continue
        seen.add(hook.name)
        hooks.append(hook)
    return tuple(hooks)


def user_hooks_path() -> Path:
    """`$XDG_CONFIG_HOME/controlroom/hooks.yaml` (`~/.config` when unset or not absolute, as the XDG spec says)."""
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".config"
    return base / "controlroom" / "hooks.yaml"


def load_user_hooks(path: Path | None = None) -> tuple[Hook, ...]:
    """The user's hooks for every scenario (none when the file is absent).

    Read through one descriptor opened with O_NOFOLLOW and checked with fstat, so the file checked is the file
    read: it must be a regular file of ours that neither group nor others may write, since its commands run.
    """
    path = path or user_hooks_path()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return ()
    except OSError as err:
        raise HooksFileError(f"{path}: cannot read the hooks file ({err.strerror}); fix or remove it") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise HooksFileError(f"{path}: not a regular file; remove it")
        if st.st_uid != os.geteuid():
            raise HooksFileError(f"{path}: owned by uid {st.st_uid}, not you; hooks run commands — remove it")
        if st.st_mode & 0o022:
            raise HooksFileError(f"{path}: group or others may write it (mode {stat.S_IMODE(st.st_mode):o}); "
                                 f"hooks run commands — run: chmod go-w {path}")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(1 << 20)
    finally:
        os.close(fd)
    file = str(path)
    root, problems = parse_document(decode(data, file), file)
    r = FieldReader(file, problems)
    r.keys(root, ("hooks",), "")
    hooks = read_hooks(r, root.get("hooks"), "hooks", source=file)
    if r.problems:
        raise ScenarioError(sorted(set(r.problems)) or [Problem(file, 1, 1, "the hooks file is not valid")])
    return hooks

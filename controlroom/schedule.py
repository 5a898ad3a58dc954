"""Continuous chaos, the pure rules (docs/schedule.md): which scenarios may run unattended, when the next run is,
and the kill switch every scheduled run checks.

Nothing here starts a session or sleeps: `schedule_cli.py` runs the loop. Kept pure so each rule is tested on its
own with plain datetimes and files, and so the refusals are the same whether or not anything would have run.

Why the unattended rules are safe to rely on: a scheduled run has nobody at the keyboard, so a step that waits
for a confirmation would wait for ever (or, worse, be confirmed by `--yes` without a person having read it); a
fault without a leash outlives a room that dies at 3 a.m.; a run without stop conditions has nothing that ends it
early when the system does not hold. Each is refused before anything is probed.
"""

from __future__ import annotations

import os
import random
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from controlroom.errors import ControlroomError, Problem
from controlroom.scenario.model import Scenario


class ScheduleError(ControlroomError):
    """A schedule that cannot be followed (a bad `--every`, `--jitter` or `--window`)."""


# ---- unattended-safe ------------------------------------------------------------------------------------------


def unattended_problems(scenario: Scenario, environments: tuple[str, ...] = ()) -> list[Problem]:
    """Every rule the scenario breaks for an unattended run, one located problem each (empty: it may be scheduled).

    `environments`: the environments the schedule allows (`--env`); empty means the scenario's own
    `blast_radius.allowed_environments`.
    """
    from controlroom.errors import ScenarioError
    from controlroom.scenario.loader import Map, Node, Seq, parse_document

    file = scenario.source_path
    root: Map | None = None
    if scenario.source_text:
        try:
            root, _ = parse_document(scenario.source_text, file)
        except ScenarioError:
            root = None

    def at(node: Node | None) -> tuple[int, int]:
        return (node.line, node.col) if node is not None else (1, 1)

    def key_at(m: Map | None, *path: str) -> tuple[int, int]:
        node: Node | None = m
        for key in path:
            if not isinstance(node, Map):
                return at(m)
            k = node.key_node(key)
            if k is None:
                return at(node)
            if key == path[-1]:
                return at(k)
            node = node.get(key)
        return at(node)

    problems: list[Problem] = []

    def add(pos: tuple[int, int], message: str) -> None:
        problems.append(Problem(file, pos[0], pos[1], message))

    if scenario.template:
        add((scenario.template_line, 1), "template: true: a template is never run, scheduled or not")

    # Step nodes, in order, as written (`steps:` or the steps of each phase), to point at each `confirm`.
    step_nodes: list[Map] = []
    if root is not None:
        steps = root.get("steps")
        if isinstance(steps, Seq):
            step_nodes = [n for n in steps.items if isinstance(n, Map)]
        phases = root.get("phases")
        if isinstance(phases, Seq):
            for ph in phases.items:
                inner = ph.get("steps") if isinstance(ph, Map) else None
                if isinstance(inner, Seq):
                    step_nodes += [n for n in inner.items if isinstance(n, Map)]
    for i, step in enumerate(scenario.steps):
        node = step_nodes[i] if i < len(step_nodes) else None
        written = node.get("confirm") if node is not None else None
        if node is not None and written is None:
            add(at(node), f"step {step.id}: confirm is not written; an unattended step must say `confirm: false` "
                          "explicitly (the default waits for a person)")
        elif step.confirm:
            add(at(written or node), f"step {step.id}: confirm: true waits for a person nobody is there to be; "
                                     "write `confirm: false` to schedule it")
    br = scenario.blast_radius
    # Validation refuses every fault without a leash (a guard on its host, a TTL in the service, a Kubernetes
    # duration or a Gremlin length) unless `allow_unleashed` names its backend: refusing that key is the rule.
    if br.allow_unleashed:
        add(key_at(root, "blast_radius", "allow_unleashed"),
            f"blast_radius.allow_unleashed ({', '.join(br.allow_unleashed)}): an unattended run needs every fault "
            "leashed; remove allow_unleashed (give the target ssh: so its faults get a leash)")
    if not scenario.stop_when.conditions:
        add(key_at(root, "stop_when") if root is not None and root.get("stop_when") is not None else (1, 1),
            "stop_when.conditions is empty: an unattended run needs a condition that stops it")
    allowed = environments or br.allowed_environments
    if scenario.environment not in allowed:
        add(key_at(root, "environment"),
            f"environment {scenario.environment!r} is not one the schedule allows ({', '.join(allowed) or 'none'}); "
            "pass --env with it, or schedule a scenario for an allowed environment")
    return sorted(problems)


# ---- timing ---------------------------------------------------------------------------------------------------

_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(s|m|h|d)")
_UNIT = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
MAX_EVERY = 30 * 86400.0


def parse_interval(text: str, flag: str, *, allow_zero: bool = False) -> float:
    """'90s', '15m', '2h', '1d', or a sum such as '1h30m' -> seconds; one-line ScheduleError otherwise."""
    value = text.strip()
    pos, total = 0, 0.0
    for m in _DURATION.finditer(value):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if not value or pos != len(value):
        raise ScheduleError(f"{flag} {text!r}: expected a duration such as 90s, 15m, 2h, 1h30m or 1d")
    if total > MAX_EVERY or (total <= 0 and not allow_zero):
        raise ScheduleError(f"{flag} {text!r}: must be {'0' if allow_zero else 'more than 0'} to 30d")
    return total


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Window:
    """When runs may start: some weekdays, between two local times, in one time zone (zoneinfo: DST-aware)."""

    days: frozenset[int]  # 0 = Monday
    start: time
    end: time
    tz: ZoneInfo

    def next_open(self, when: datetime) -> datetime:
        """`when` if the window is open then, else the next opening (in UTC)."""
        local = when.astimezone(self.tz)
        for i in range(8):
            day = local.date() + timedelta(days=i)
            if day.weekday() not in self.days:
                continue
            opens = datetime.combine(day, self.start, tzinfo=self.tz)
            closes = datetime.combine(day, self.end, tzinfo=self.tz)
            if i == 0 and opens <= local < closes:
                return when.astimezone(UTC)
            if opens > local:
                return opens.astimezone(UTC)
        raise AssertionError("a window with a day opens within 8 days")  # parse_window refuses an empty one

    def is_open(self, when: datetime) -> bool:
        return self.next_open(when) == when.astimezone(UTC)


def _clock_time(text: str, window: str) -> time:
    m = re.fullmatch(r"([0-9]{1,2}):([0-9]{2})", text)
    if not m or int(m.group(1)) > 24 or int(m.group(2)) > 59 or (int(m.group(1)) == 24 and m.group(2) != "00"):
        raise ScheduleError(f"--window {window!r}: {text!r} is not a time of day such as 10:00")
    hour, minute = int(m.group(1)), int(m.group(2))
    return time.max if hour == 24 else time(hour, minute)


def parse_window(text: str) -> Window:
    """'Mon-Fri 10:00-16:00 Europe/Paris' (days: a range, a comma list, or `daily`) -> Window."""
    parts = text.split()
    if len(parts) != 3:
        raise ScheduleError(f"--window {text!r}: expected DAYS START-END ZONE, e.g. 'Mon-Fri 10:00-16:00 Europe/Paris'")
    days_s, hours_s, zone = parts
    days: set[int] = set()
    for item in days_s.lower().split(","):
        if item == "daily":
            days.update(range(7))
            continue
        first, _, last = item.partition("-")
        if first[:3] not in DAYS or (last and last[:3] not in DAYS) or len(first) < 3:
            raise ScheduleError(f"--window {text!r}: {item!r} is not a day or day range such as Mon-Fri or Sat,Sun")
        a, b = DAYS.index(first[:3]), DAYS.index((last or first)[:3])
        days.update((a + k) % 7 for k in range((b - a) % 7 + 1))
    start_s, sep, end_s = hours_s.partition("-")
    if not sep:
        raise ScheduleError(f"--window {text!r}: expected hours as START-END, e.g. 10:00-16:00")
    start, end = _clock_time(start_s, text), _clock_time(end_s, text)
    if end <= start:
        raise ScheduleError(f"--window {text!r}: the window must end after it starts on the same day")
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"--window {text!r}: unknown time zone {zone!r}; use an IANA name such as Europe/Paris") \
            from None
    return Window(frozenset(days), start, end, tz)


def next_run(previous: datetime, every: float, jitter: float = 0.0, window: Window | None = None,
             rng: random.Random | None = None) -> datetime:
    """When the run after one started at `previous` starts: previous + every + a uniform jitter in [0, jitter]
    (never sooner than `every`), moved to the window's next opening when that time is outside it."""
    extra = (rng or random.Random()).uniform(0.0, jitter) if jitter > 0 else 0.0
    when = previous + timedelta(seconds=every + extra)
    return window.next_open(when) if window is not None else when


def first_run(now: datetime, window: Window | None = None) -> datetime:
    """The first run: at once, or when the window next opens."""
    return window.next_open(now) if window is not None else now


# ---- the kill switch ------------------------------------------------------------------------------------------

PAUSE_FILE = "schedule-paused"
_OFF = {"false", "0", "no", "off"}


def chaos_disabled(environ: Mapping[str, str] | None = None) -> str | None:
    """The environment guard: `CHAOS_ENABLED=false` (or 0/no/off) disables every scheduled run."""
    value = (os.environ if environ is None else environ).get("CHAOS_ENABLED")
    if value is not None and value.strip().lower() in _OFF:
        return f"CHAOS_ENABLED={value.strip()}"
    return None


def schedule_dir() -> Path:
    """Where the pause file lives: the user's private data directory (it must survive a reboot, unlike the
    runtime directory: a schedule paused stays paused), checked by `private_dir` (ours, 0700)."""
    from controlroom.paths import APP_DIR_NAME, data_home, private_dir

    d = private_dir(data_home() / APP_DIR_NAME, "data directory",
                    fix="set XDG_DATA_HOME to a directory of your own, or remove it")
    assert d is not None
    return d


def pause_file() -> Path:
    return schedule_dir() / PAUSE_FILE


def pause_reason(path: Path) -> str | None:
    """Why the schedule is paused (None: it is not). A pause file we do not own, or that others can write, or
    that is not a plain file, is not trusted for its text — it still counts as paused: failing safe means
    no chaos until a person looks."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError:
        return f"pause file {path} is not a plain file of yours; remove it"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) & 0o022:
            return f"pause file {path} is not yours alone (owner uid {st.st_uid}, mode " \
                   f"{stat.S_IMODE(st.st_mode):04o}); not trusted: remove it"
        text = os.read(fd, 4096).decode("utf-8", "replace")
    finally:
        os.close(fd)
    return " ".join(text.split())[:300] or "paused"


def write_pause(path: Path, reason: str) -> None:
    """Pause (or block after a failed run): the file created 0600, replaced atomically, never through a link."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, (" ".join(reason.split()) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def clear_pause(path: Path) -> bool:
    """Resume (and acknowledge a failed run); False when it was not paused."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def kill_switch(path: Path, environ: Mapping[str, str] | None = None) -> str | None:
    """Why no scheduled step may run now (None: chaos may go on): the environment guard, then the pause file."""
    reason = chaos_disabled(environ)
    if reason:
        return reason
    paused = pause_reason(path)
    return f"schedule paused: {paused}" if paused else None

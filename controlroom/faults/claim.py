"""Host claims: one control room at a time faults a host.

A claim is one line in the host's state directory, beside the leash files
(`/run/controlroom/claim`): `session=ID pid=PID by=USER@MACHINE since=ISO-TIME
expires=EPOCH`. A session takes it in pre-flight, as soon as the host answers;
its heartbeat renews the expiry with the leashes (the same window, the same
command); it is released at the session's end once every fault on the host is
verified clean. A second room's pre-flight meets a live claim and refuses,
naming who holds the host. A claim whose expiry has passed belongs to a room
that died (or could not confirm the host clean) at least one leash window ago:
its faults' guards have fired, so it is stale and may be taken over, with a
warning. Every read-and-write of the claim runs under `flock` on
`claim.lock`, so two rooms taking it at the same instant cannot both win, and a
release removes the claim only when it names the releasing session: nothing
ever removes another session's claim.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from controlroom.faults.leash import STATE_DIR
from controlroom.faults.shell import q
from controlroom.targets.base import ActionResult, Shell

CLAIM_MARK = "# controlroom host claim"  # first line of every claim script (the test doubles route on it)
HELD_EXIT = 4  # the claim belongs to another live session
_SAFE = re.compile(r"[^A-Za-z0-9_.@:+-]")
_FIELDS = ("session", "pid", "by", "since", "expires")

_LOCK = ('command -v flock >/dev/null 2>&1 || { echo "flock is not installed (package util-linux); '
         'the host claim needs it" >&2; exit 1; }\n'
         'exec 9>>"$crd/claim.lock" || exit 1\n'
         'flock -w 5 9 || { echo "the claim lock $crd/claim.lock stayed busy for 5s" >&2; exit 1; }\n')

# Reads the current claim into $cr_old, its session into $cr_cs and its expiry into $cr_ce (0 when unreadable:
# a garbled claim counts as expired). Globbing is off while the line is split: it may hold anything.
_READ = ("cr_old=''; cr_cs=''; cr_ce=0\n"
         '[ -s "$crd/claim" ] && IFS= read -r cr_old < "$crd/claim"\n'
         'set -f; for cr_w in $cr_old; do case "$cr_w" in session=*) cr_cs=${cr_w#session=};; '
         "expires=*) cr_ce=${cr_w#expires=};; esac; done; set +f\n"
         'case "$cr_ce" in ""|*[!0-9]*) cr_ce=0;; esac\n')


def safe(text: str) -> str:
    """A claim field: no spaces or shell syntax, so the line splits back into the same fields."""
    return _SAFE.sub("_", text)[:80] or "unknown"


@dataclass(frozen=True)
class ClaimInfo:
    """A claim as read back from a host (fields sanitised: another room wrote them)."""

    session: str
    pid: str
    by: str
    since: str
    expires: int

    @classmethod
    def parse(cls, line: str) -> ClaimInfo:
        fields = dict.fromkeys(_FIELDS, "?")
        for word in line.split():
            key, sep, value = word.partition("=")
            if sep and key in fields:
                fields[key] = safe(value)
        expires = int(fields["expires"]) if fields["expires"].isdigit() else 0
        return cls(fields["session"], fields["pid"], fields["by"], fields["since"], expires)

    def describe(self) -> str:
        return f"session {self.session} (pid {self.pid}, facilitator {self.by}, since {self.since})"


@dataclass(frozen=True)
class ClaimAnswer:
    """What a take (or renewal) found: taken, or held by another live session; and any previous claim."""

    ok: bool
    detail: str  # the one line a facilitator reads
    held_by: ClaimInfo | None = None  # another live session holds the host
    previous: ClaimInfo | None = None  # a stale claim that was taken over
    lapsed: bool = False  # a renewal found no claim of ours (it expired, or was removed)


@dataclass(frozen=True)
class HostClaim:
    """This session's claim on hosts: who we are, built once per session."""

    session: str
    pid: int
    facilitator: str  # user@machine
    since: str  # ISO 8601 UTC, when pre-flight took the claim

    def take(self, window: float, sudo: bool = False) -> Shell:
        """Take the claim, or renew it: the same script. Exit HELD_EXIT (and the holder's line) when another
        live session has it; `stale AGE LINE` / `none` on stdout say what was there before."""
        me = safe(self.session)
        line = (f"session={me} pid={int(self.pid)} by={safe(self.facilitator)} since={safe(self.since)} "
                f"expires=$(( cr_now + {max(1, math.ceil(window))} ))")
        script = (f"{CLAIM_MARK}\n{STATE_DIR}\n{_LOCK}"
                  "cr_now=${cr_now:-$(date +%s)}\n"
                  f"{_READ}"
                  f'if [ -n "$cr_old" ] && [ "$cr_cs" != {q(me)} ]; then\n'
                  '  if [ "$cr_ce" -gt "$cr_now" ]; then echo "held $(( cr_ce - cr_now )) $cr_old"; '
                  f"exit {HELD_EXIT}; fi\n"
                  '  echo "stale $(( cr_now - cr_ce )) $cr_old"\n'
                  'elif [ -z "$cr_old" ]; then echo none; fi\n'
                  f'printf "%s\\n" "{line}" > "$crd/claim.tmp" && mv -f "$crd/claim.tmp" "$crd/claim" '
                  "|| { echo 'cannot write the host claim' >&2; exit 1; }")
        return Shell(script, sudo=sudo, timeout=max(2.0, min(10.0, window / 2)))

    def release(self, sudo: bool = False) -> Shell:
        """Remove the claim if, and only if, it is ours. Idempotent."""
        return release_claim(self.session, sudo)


def release_claim(session: str, sudo: bool = False) -> Shell:
    """The release of `session`'s claim: another session's claim is left alone, whatever its expiry."""
    script = (f"{CLAIM_MARK}\n{STATE_DIR}\n"
              '[ -e "$crd/claim" ] || exit 0\n'
              f"{_LOCK}{_READ}"
              f'if [ "$cr_cs" = {q(safe(session))} ]; then rm -f "$crd/claim"; fi; exit 0')
    return Shell(script, sudo=sudo, timeout=10.0)


def _three(line: str) -> tuple[str, str, str]:
    """`held 12 session=...` -> ("held", "12", "session=...")."""
    word, _, rest = line.partition(" ")
    number, _, tail = rest.partition(" ")
    return word, number, tail


def judge_claim(target: str, result: ActionResult, *, renewing: bool = False) -> ClaimAnswer:
    """A take's (or renewal's) result, read: `renewing` makes a missing or stale claim of ours worth a warning."""
    lines = result.stdout.strip().splitlines()
    if not result.ok:
        if not result.error and result.status == HELD_EXIT and lines and lines[-1].startswith("held "):
            _, left, line = _three(lines[-1])
            holder = ClaimInfo.parse(line)
            return ClaimAnswer(False, f"{target} is under fault by {holder.describe()}; wait for it to end (its "
                                      f"claim expires in {left}s unless renewed), or stop it", held_by=holder)
        return ClaimAnswer(False, f"{target}: could not take the host claim ({result.detail})")
    last = lines[-1] if lines else ""
    if last.startswith("stale "):
        _, age, line = _three(last)
        previous = ClaimInfo.parse(line)
        return ClaimAnswer(True, f"{target}: took over the stale claim of {previous.describe()}, expired {age}s "
                                 "ago (its room died or ended without confirming the host clean)",
                           previous=previous, lapsed=renewing)
    if last == "none" and renewing:
        return ClaimAnswer(True, f"{target}: this room's host claim was gone; taken again", lapsed=True)
    return ClaimAnswer(True, "ok")

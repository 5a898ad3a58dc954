"""The host leash: a detached guard on the target that reverts its fault by itself once the room goes silent.

Every host-side file of controlroom (leash deadlines and pids, in-flight markers, host claims, fill markers)
lives in the one state directory `STATE_DIR` computes on the host, so a guard, a revert and `recover` agree
on where to look. Host faults (`faults.host`) and local process faults (`faults.local`) arm this leash.
"""

from __future__ import annotations

import hashlib
import math
import re

from controlroom.faults.plan import LEASH_GONE_EXIT, Leash
from controlroom.faults.shell import q
from controlroom.targets.base import Shell

LEASH_MARK = "controlroom-leash"
GUARD_NAP = 5  # the longest the guard sleeps between two looks at its deadline (whole seconds)
ARM_TIMEOUT = 15.0  # seconds an arm may take: it starts the guard and waits (at most 2 s) for its pid file

# Where pid, deadline and marker files live on the host; computed there, so the guard and revert agree.
# Without write access to /run the directory is per user in $TMPDIR or /tmp, where another user could create it
# first and plant pid files the reverts would act on: there it must be ours, not a symlink, and 0700.
STATE_DIR = ('crd=/run/controlroom; if [ ! -w /run ]; then crd="${TMPDIR:-/tmp}/controlroom-$(id -u)"; '
             'mkdir -m 700 "$crd" 2>/dev/null; { [ -d "$crd" ] && [ ! -L "$crd" ] && [ -O "$crd" ] && '
             '[ -z "$(find "$crd" -maxdepth 0 -perm /077)" ]; } || '
             '{ echo "controlroom: $crd is not a directory only you can use (0700); remove it" >&2; exit 1; }; fi; '
             '[ -d "$crd" ] || mkdir -p "$crd" || exit 1')


def safe_id(fault_id: str) -> str:
    """A fault id as a file-name part: readable, and unique thanks to a short hash."""
    digest = hashlib.sha1(fault_id.encode()).hexdigest()[:8]
    return (re.sub(r"[^A-Za-z0-9_.-]", "_", fault_id)[:60] or "fault") + "-" + digest


def _leash_files(fault_id: str) -> tuple[str, str]:
    sid = safe_id(fault_id)
    return f'"$crd"/leash-{sid}.deadline', f'"$crd"/leash-{sid}.pid'


# The 22nd field of /proc/PID/stat, the process's start time in clock ticks since boot: with the pid it names one
# process for the life of the machine. Read with shell built-ins only (no fork): after "PID (COMM) " the start
# time is the 20th word. `##*) ` takes the longest match, so a command name holding ") " cannot shift it.
# One brace group, so that in an `&&` chain a failed `read` before it skips it whole (a value left in `cr_s` by
# an earlier check in the same batched command must never stand in for this one).
_STARTTIME = "{ cr_s=${cr_s##*) }; " + "cr_s=${cr_s#* }; " * 19 + "cr_s=${cr_s%% *}; }"


def _guard_alive(pidf: str) -> str:
    """True when the pid file's process is still the guard that wrote it; sets `cr_p` (pid) and `cr_t` (start).

    The guard writes its pid and its start time; a process is taken for the guard only when both match, so a
    recycled pid — even one now held by another fault's guard — is never taken for it (and never killed by a
    disarm). Built-ins only (`read`, parameter expansion): the e-stop runs this on every host at once and every
    heartbeat round renews through it, so a fork here is a fork per host per round.
    """
    return (f'{{ read -r cr_p cr_t < {pidf} && [ -n "$cr_t" ] && read -r cr_s < "/proc/$cr_p/stat" && '
            f'{_STARTTIME} && [ "$cr_s" = "$cr_t" ]; }} 2>/dev/null')


def leash_for(fault_id: str, revert: tuple[Shell, ...], sudo: bool) -> Leash:
    """A guard reading a deadline file; it reverts once the deadline passes. Renewing is one write.

    The deadline is a heartbeat (now + the scenario's `blast_radius.leash`, 10 s by default), not the step's
    end: the live room moves it every few seconds, so a room that dies leaves the fault for at most the window.
    """
    deadline, pidf = _leash_files(fault_id)
    undo = "\n".join(f"( {a.script}\n) >/dev/null 2>&1" for a in revert)
    # The guard sleeps until its deadline (at most GUARD_NAP s at a time), then reads it again: a renewal has
    # usually moved it. It fires as soon as the deadline passes, as a once-a-second poll would, at a fifth of
    # the processes (a fleet of 500 armed lab hosts polled 1,500 times a second on the room's own cores); the
    # nap is capped so a wall clock set back, or a kill that missed after a disarm, costs seconds, not the window.
    guard = (f'read -r cr_s < /proc/$$/stat; {_STARTTIME}; echo "$$ $cr_s" > "$2"\n'
             'while :; do cr_d=$(cat "$1" 2>/dev/null) || { rm -f "$2"; exit 0; }\n'
             # A deadline that is not a number (the file is written whole by mv; anything else is damage) fires.
             '  case $cr_d in ""|*[!0-9]*) break;; esac\n'
             '  cr_s=$(( cr_d - $(date +%s) )); [ "$cr_s" -le 0 ] && break\n'
             f'  [ "$cr_s" -gt {GUARD_NAP} ] && cr_s={GUARD_NAP}; sleep "$cr_s"; done\n'
             # Firing: the pid file goes first, so a renewal from here on hears the leash is gone (and takes
             # back the deadline it wrote) instead of renewing a guard that is already reverting.
             'rm -f "$2"\n'
             f'{undo}\nrm -f "$1"\n')

    guard_alive = _guard_alive('"$cr_pf"')

    def arm(seconds: float) -> Shell:
        n = max(1, math.ceil(seconds))
        script = (f"{STATE_DIR}; cr_dl={deadline}; cr_pf={pidf}\n"
                  f'echo $(( $(date +%s) + {n} )) > "$cr_dl.tmp" && mv -f "$cr_dl.tmp" "$cr_dl" || exit 1\n'
                  f"if {guard_alive}; then exit 0; fi\n"
                  f'rm -f "$cr_pf"\n'
                  f'setsid -f sh -c {q(guard)} {LEASH_MARK} "$cr_dl" "$cr_pf" </dev/null >/dev/null 2>&1\n'
                  'i=0; while [ ! -s "$cr_pf" ] && [ $i -lt 200 ]; do sleep 0.01; i=$((i+1)); done\n'
                  '[ -s "$cr_pf" ] || { echo "the leash guard did not start (is setsid installed?)" >&2; exit 1; }')
        return Shell(script, sudo=sudo, timeout=ARM_TIMEOUT)

    def renew(seconds: float) -> Shell:
        # Only a live guard's deadline moves: a renewal never starts a guard, so a leash that fired stays fired
        # and the room hears of it (LEASH_GONE_EXIT). The pid file is read again after the write: a disarm or a
        # guard that fired in between removed it, and the deadline just written is taken back. `$cr_now` is set
        # once by a batched renewal (engine/heartbeat.py); alone, the script asks `date` itself.
        n = max(1, math.ceil(seconds))
        script = (f"{STATE_DIR}; cr_dl={deadline}; cr_pf={pidf}\n"
                  f"if {guard_alive}; then\n"
                  f'  echo $(( ${{cr_now:-$(date +%s)}} + {n} )) > "$cr_dl.tmp" && mv -f "$cr_dl.tmp" "$cr_dl" || exit 1\n'
                  '  { read -r cr_q cr_u < "$cr_pf" && [ "$cr_q $cr_u" = "$cr_p $cr_t" ]; } 2>/dev/null && exit 0\n'
                  '  rm -f "$cr_dl"\n'
                  "fi\n"
                  "echo 'the leash guard is not running: its deadline passed (it reverted the fault) or it was stopped' >&2\n"
                  f"exit {LEASH_GONE_EXIT}")
        return Shell(script, sudo=sudo, timeout=max(2.0, seconds / 2))

    # The deadline file goes first: a guard between two ticks then exits by itself even if the kill misses it.
    disarm = (f"{STATE_DIR}; cr_dl={deadline}; cr_pf={pidf}\n"
              f'if {guard_alive}; then rm -f "$cr_dl" "$cr_pf"; kill "$cr_p" 2>/dev/null; '
              'else rm -f "$cr_dl" "$cr_pf"; fi; exit 0')
    return Leash(arm=arm, disarm=Shell(disarm, sudo=sudo), renew=renew, gone_status=(LEASH_GONE_EXIT,))

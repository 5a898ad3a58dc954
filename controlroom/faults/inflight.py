"""Host injects that a stop can end: each runs in a process group of its own, claimed by a run marker on the host.

Cancelling a command on our side does not stop it on the host (an SSH channel
closed without a pty leaves it running), so a stop that lands while an inject is
still running could revert first and watch the inject land afterwards. Here:

* the inject claims `"$crd"/run-<fault>` with `mkdir` (atomic), runs the script in
  a process group of its own (`setsid`) whose leader records its pid there and
  carries a mark (`INFLIGHT_MARK` in its argv, `INFLIGHT_ENV` in its environment,
  which an `exec` in the script keeps), waits for it, then removes the marker and
  exits with the script's status;
* `stop_inject` claims the same path first when it can: the directory it leaves
  (with a `stopped` file) is a tombstone, and an inject arriving later finds it
  and exits `NOT_STARTED` without running anything. When the inject holds the
  marker, the stop kills its process group — after checking, as the leash guard
  does, that the leader is ours — and returns only once no process of that group
  is alive. Exit 0 means: nothing of this inject runs now or can start later.
  Anything else means it could not be confirmed, and the fault is not clean;
* the leash's disarm removes the marker or tombstone (it runs only after a
  verified revert), and the leash guard, when it fires, kills an inject still
  running before it reverts — so a room that dies mid-inject leaves nothing.

What is out of reach: work a script detaches from the group (`setsid`, a daemon
that double-forks) or leaves running in the background when it exits (the marker
goes with the script's own end). Such work is the fault's own business; its
revert must undo it, as it always had to.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from controlroom.faults.leash import STATE_DIR, safe_id
from controlroom.faults.plan import FaultPlan
from controlroom.faults.shell import q
from controlroom.targets.base import Shell

INFLIGHT_MARK = "controlroom-inject"
INFLIGHT_ENV = "CONTROLROOM_INJECT"  # in the inject's environment: the fault it belongs to, kept through `exec`
NOT_STARTED = 75  # the inject's exit status when a stop's tombstone was there first: nothing ran
NOT_STARTED_MESSAGE = "controlroom: a stop came first; this injection was not run"
STOP_TIMEOUT = 10.0  # seconds the engine gives a stop to confirm (it waits at most 5 s for a killed group)


def _run_dir(fault_id: str) -> str:
    return f'"$crd"/run-{safe_id(fault_id)}'


def wrap_inject(fault_id: str, script: str) -> str:
    """The inject as it runs on the host: claim the marker, run the script in its own group, release the marker.

    The script is written verbatim into the marker (a quoted here-document), so `plan` shows it as written,
    and sourced by the group's leader, which first records its pid (= the group id). The leader carries the
    mark in its argv and, through an `exec` in the script too, in its environment (`INFLIGHT_ENV`).
    """
    delim = "CR_INJECT_" + hashlib.sha1(script.encode()).hexdigest()[:12]
    while delim in script.splitlines():
        delim += "_"
    leader = 'echo $$ > "$cr_run/pgid" || exit 1; . "$cr_run/inject"'
    return (f"{STATE_DIR}\ncr_run={_run_dir(fault_id)}\n"
            'if ! mkdir "$cr_run" 2>/dev/null; then\n'
            f'  if [ -e "$cr_run/stopped" ]; then echo {q(NOT_STARTED_MESSAGE)} >&2; exit {NOT_STARTED}; fi\n'
            '  echo "controlroom: $cr_run is there: an earlier injection of this fault is still running or was cut '
            'off; run \\`controlroom recover\\` on its journal" >&2; exit 1\n'
            "fi\n"
            f"cat > \"$cr_run/inject\" <<'{delim}' || {{ rm -rf \"$cr_run\"; exit 1; }}\n"
            f"{script.rstrip(chr(10))}\n{delim}\n"
            f"cr_run=$cr_run {INFLIGHT_ENV}={safe_id(fault_id)} setsid -w sh -c {q(leader)} {INFLIGHT_MARK}\n"
            "cr_rc=$?\n"
            # One rm in the usual case; the directory stays when a stop made it a tombstone (not empty).
            'rm -fd "$cr_run/pgid" "$cr_run/inject" "$cr_run" 2>/dev/null || '
            '{ rm -f "$cr_run/pgid" "$cr_run/inject"; rmdir "$cr_run"; } 2>/dev/null\n'
            "exit $cr_rc")


def _group_fns(fault_id: str) -> str:
    """Shell functions for a stop: cr_ours G (group G may still hold this fault's inject), cr_live G."""
    env = q(f"{INFLIGHT_ENV}={safe_id(fault_id)}")
    # cr_ours: the leader is gone (or a zombie) while the group lives — the kernel does not hand out a live
    # group's id again, so its members are ours — or the leader carries this fault's mark in its environment
    # (where that is unreadable: the mark in its argv). A recycled pid is never taken for our inject.
    # cr_live: a process of the group is alive; zombies are done, they run nothing more.
    return (
        'cr_ours() { [ -r "/proc/$1/cmdline" ] || return 0; '
        "cr_s=$(sed 's/^.*) //' \"/proc/$1/stat\" 2>/dev/null | cut -d' ' -f1); [ \"$cr_s\" = Z ] && return 0; "
        f'if [ -r "/proc/$1/environ" ]; then tr \'\\0\' \'\\n\' < "/proc/$1/environ" 2>/dev/null | grep -qx {env}; '
        f'return; fi; grep -q {INFLIGHT_MARK} "/proc/$1/cmdline" 2>/dev/null; }}\n'
        'cr_live() { kill -s 0 -- "-$1" 2>/dev/null || return 1; cr_ps=$(ps -e -o pgid= -o stat= 2>/dev/null) || '
        "return 0; echo \"$cr_ps\" | awk -v g=\"$1\" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'; }\n"
    )


def _stop_script(fault_id: str, *, tombstone: bool) -> str:
    """Stop an inject that may be running; with `tombstone`, also make sure it can never start later."""
    if tombstone:
        # The marker becomes the tombstone: claimed now, or (once its group is gone) marked `stopped`, so
        # the wrapper's rmdir fails and a late inject refuses. Without the claim, a gone marker is enough.
        claim = '  if mkdir "$cr_run" 2>/dev/null; then true > "$cr_run/stopped" || exit 1; echo "$cr_how"; exit 0; fi\n'
        # `true`, not `:`: a failed redirection on a special built-in would end the whole script.
        settle = '  { true > "$cr_run/stopped"; } 2>/dev/null && { echo "$cr_how"; exit 0; }\n'
    else:
        claim = '  [ -d "$cr_run" ] || { echo "$cr_how"; exit 0; }\n'
        settle = '  echo "$cr_how"; exit 0\n'
    return (f"{STATE_DIR}\ncr_run={_run_dir(fault_id)}\n{_group_fns(fault_id)}"
            "cr_how=never-started; i=0\n"
            "while :; do\n"
            f"{claim}"
            '  if [ -e "$cr_run/stopped" ]; then echo "$cr_how"; exit 0; fi\n'
            '  if read -r cr_pg < "$cr_run/pgid" 2>/dev/null && [ -n "$cr_pg" ]; then\n'
            '    case "$cr_pg" in *[!0-9]*|0|1) echo "controlroom: $cr_run/pgid holds $cr_pg, not a process group" >&2; '
            "exit 1;; esac\n"
            '    [ "$cr_how" = killed ] || cr_how=finished\n'
            '    if cr_live "$cr_pg" && cr_ours "$cr_pg"; then\n'
            '      kill -s KILL -- "-$cr_pg" 2>/dev/null; cr_how=killed; j=0\n'
            '      while cr_live "$cr_pg" && cr_ours "$cr_pg"; do\n'
            '        j=$((j+1)); if [ $j -ge 500 ]; then echo "controlroom: the injection (process group $cr_pg) still '
            'runs 5s after SIGKILL" >&2; exit 1; fi\n'
            "        sleep 0.01\n"
            "      done\n"
            "    fi\n"
            f"    {settle.strip()}\n"
            "  fi\n"
            # Between the inject's mkdir and its pgid file, or between its last two lines: a few milliseconds.
            '  i=$((i+1)); if [ $i -ge 300 ]; then echo "controlroom: $cr_run holds no process group; '
            'cannot tell whether the injection runs" >&2; exit 1; fi\n'
            "  sleep 0.01\n"
            "done")


def stop_inject(fault_id: str, sudo: bool) -> Shell:
    """Exit 0 once nothing of this inject runs or can start (stdout: killed | never-started | finished)."""
    return Shell(_stop_script(fault_id, tombstone=True), sudo=sudo, timeout=STOP_TIMEOUT)


def guard_stop(fault_id: str, sudo: bool) -> Shell:
    """For the leash guard, before it reverts: kill an inject still running, leave no tombstone behind."""
    return Shell(_stop_script(fault_id, tombstone=False), sudo=sudo, timeout=STOP_TIMEOUT)


def clear_run(fault_id: str, sudo: bool) -> Shell:
    """Remove the marker or tombstone: only once the fault was verified gone (the leash disarm, the guard's end)."""
    # `[` first: the disarm is on the e-stop's path, and usually there is nothing to remove (no fork then).
    d = _run_dir(fault_id)
    return Shell(f"{STATE_DIR}; if [ -e {d} ]; then rm -rf {d}; fi", sudo=sudo)


def stoppable(plan: FaultPlan) -> FaultPlan:
    """`plan` with its shell injects wrapped, a `stop_inject`, and a disarm that clears the marker first.

    Only for leashed shell plans: the disarm (after a verified revert) is what removes a tombstone, so a
    plan without one (process-kill: one instant signal, nothing to revert) is left as it is.
    """
    shells = [a for a in plan.inject if isinstance(a, Shell)]
    leash = plan.leash
    if not shells or len(shells) != len(plan.inject) or leash is None or not isinstance(leash.disarm, Shell):
        return plan
    sudo = shells[0].sudo
    inject = tuple(replace(a, script=wrap_inject(plan.fault_id, a.script)) for a in shells)
    clear = clear_run(plan.fault_id, sudo).script
    # Only the disarm changes: the arm, the renewal (which never restarts a fired guard) and its statuses stay.
    leash = replace(leash, disarm=replace(leash.disarm, script=f"{clear}\n{leash.disarm.script}"))
    return replace(plan, inject=inject, leash=leash, stop_inject=stop_inject(plan.fault_id, sudo))


def guard_undo(fault_id: str, revert: tuple[Shell, ...], sudo: bool) -> tuple[Shell, ...]:
    """What the leash guard runs when its deadline passes: end a running inject, revert, clear the marker."""
    return (guard_stop(fault_id, sudo), *revert, clear_run(fault_id, sudo))

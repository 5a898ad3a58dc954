"""Process faults: pause (SIGSTOP/SIGCONT) and kill a process named by its pidfile, on this machine or over SSH.

The command forms are plain POSIX sh, so `local` and `ssh` targets share them.
The pid is read from the pidfile at run time and must be a number above 1:
`kill -STOP -1` would stop every process on the host. A pause carries the
host faults' leash (`faults.leash.leash_for`): a detached guard that sends
SIGCONT once its deadline passes, unless renewed or disarmed. The pause's
inject runs through `faults.inflight`, so a stop that catches it in flight ends it.
"""

from __future__ import annotations

from controlroom.faults.base import FaultType, Param, PlanContext, arg
from controlroom.faults.inflight import guard_undo, stoppable
from controlroom.faults.leash import STATE_DIR, leash_for, safe_id
from controlroom.faults.plan import FaultPlan, Requirement
from controlroom.faults.shell import abs_path, q, user_name
from controlroom.scenario.model import FaultSpec, Target
from controlroom.targets.base import Shell
from controlroom.units import format_duration, parse_duration


def _pidfile(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected the absolute path of a pidfile such as '/run/api.pid', got {value!r}")
    return abs_path(value)


def _user(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"expected a user name such as 'www-data' or a numeric uid, got {value!r}")
    return user_name(str(value))


PIDFILE = Param("pidfile", _pidfile, required=True,
                doc="absolute path of the file holding the process id; owned by root, the ssh user or `user`, "
                    "and writable by nobody else")
USER = Param("user", _user, doc="the user the process must run as (name or uid); its pidfile may also belong to it")
RESTART_CHECK = Param("restart_check", parse_duration, default=10.0,
                      doc="how long to wait for the process to be running again under a new pid (default 10s)")


_NOT_TRUSTED = q("not to root, the ssh user or the fault's user; another user could point it at any process")


def _trusted_pidfile(pidfile: str, user: str | None, missing: str) -> str:
    """Shell that runs `missing` when there is no pidfile, and fails when its content cannot be trusted.

    A pidfile is trusted only as far as whoever can write it: one another user owns or can write could
    name any process (the facilitator often runs as root). So: not a symlink, owned by root, the user
    running the fault or the scenario's `user`, and not writable by group or others.
    """
    pf = q(pidfile)
    owners = '[ "$1" = 0 ] || [ "$1" = "$(id -u)" ]'
    lines = []
    if user is not None:
        lines.append(f"cr_uid=$(id -u {q(user)} 2>/dev/null) || {{ echo {q(f'no user {user} on this host')} >&2; exit 1; }}")
        owners += ' || [ "$1" = "$cr_uid" ]'
    lines += [
        f"if [ -L {pf} ]; then echo {q(f'refusing {pidfile}: it is a symlink; name the pidfile itself')} >&2; exit 1; fi",
        f"cr_pfs=$(stat -c '%u %a' -- {pf} 2>/dev/null) || {missing}",
        "set -- $cr_pfs",
        f"{{ {owners}; }} || {{ echo {q(f'refusing {pidfile}: it belongs to uid')} \"$1\", {_NOT_TRUSTED} >&2; exit 1; }}",
        f'[ $(( 0$2 & 022 )) -eq 0 ] || {{ echo {q(f"refusing {pidfile}: it is writable by other users (mode")} '
        f'"$2)" >&2; exit 1; }}',
    ]
    return "; ".join(lines)


def _pid_owner_check(pidfile: str, user: str | None) -> str:
    """With `user`, fail unless the process $pid runs as that user (after _trusted_pidfile set $cr_uid)."""
    if user is None:
        return "true"
    return (f'{{ cr_puid=$(stat -c %u "/proc/$pid" 2>/dev/null); [ "$cr_puid" = "$cr_uid" ] || '
            f'{{ echo "refusing pid $pid from "{q(pidfile)}": it runs as uid $cr_puid, not "{q(user)}" (uid $cr_uid)" >&2; '
            "exit 1; }; }")


def _read_pid(pidfile: str, user: str | None = None) -> str:
    """Sets $pid from a trusted pidfile, or fails the script saying why; never lets through 0, 1 or a negative."""
    no_pid = f"{{ echo {q(f'no pid in {pidfile}')} >&2; exit 1; }}"
    return (f"{_trusted_pidfile(pidfile, user, no_pid)}; "
            f"pid=$(cat {q(pidfile)} 2>/dev/null); "
            f'case "$pid" in ""|*[!0-9]*) echo {q(f"no pid in {pidfile}")} >&2; exit 1;; esac; '
            f'[ "$pid" -gt 1 ] || {{ echo "refusing pid $pid from "{q(pidfile)} >&2; exit 1; }}; '
            f'[ ! -d "/proc/$pid" ] || {_pid_owner_check(pidfile, user)}')


def _read_pid_or_done(pidfile: str, user: str | None = None) -> str:
    """Sets $pid, or ends the script successfully: no readable pid means no process left to undo a fault on.

    An untrusted pidfile still fails: better a loud "not confirmed" than a signal to whatever it names.
    """
    return (f"{_trusted_pidfile(pidfile, user, 'exit 0')}; "
            f"pid=$(cat {q(pidfile)} 2>/dev/null) || exit 0; "
            'case "$pid" in ""|*[!0-9]*) exit 0;; esac; [ "$pid" -gt 1 ] || exit 0; '
            f'[ ! -d "/proc/$pid" ] || {_pid_owner_check(pidfile, user)}')


def _alive_check(pidfile: str, target: str, user: str | None = None) -> str:
    return (f'{_read_pid(pidfile, user)}; [ -d "/proc/$pid" ] || '
            f'{{ echo {q(target + ": process")}" $pid from "{q(pidfile)}" is not running" >&2; exit 1; }}')


def resume_script(pidfile: str, user: str | None = None) -> str:
    """SIGCONT to the process, idempotent: succeeds when it runs already, or is gone."""
    return f'{_read_pid_or_done(pidfile, user)}; [ -d "/proc/$pid" ] || exit 0; kill -CONT "$pid"'


# The state is the first field after the ")" that ends the command name in /proc/PID/stat.
_STATE = """state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)"""


def not_stopped_script(pidfile: str, user: str | None = None) -> str:
    """Succeeds unless the process is in state T (stopped by a signal)."""
    return (f'{_read_pid_or_done(pidfile, user)}; [ -r "/proc/$pid/stat" ] || exit 0; {_STATE}; '
            'case "$state" in T) echo "process $pid is still stopped (state T)" >&2; exit 1;; esac')


def pause_script(pidfile: str, user: str | None = None) -> str:
    """SIGSTOP, then wait until the kernel shows the process stopped: a busy process takes a moment to stop."""
    return (f'{_read_pid(pidfile, user)}; kill -STOP "$pid" || exit 1; i=0; '
            f'while [ $i -lt 100 ]; do {_STATE}; [ "$state" = T ] && exit 0; sleep 0.02; i=$((i+1)); done; '
            'echo "process $pid did not stop within 2s (state $state)" >&2; exit 1')


def _build_pause(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    pidfile, user = arg(spec, PIDFILE), arg(spec, USER)
    sudo = target.sudo
    resume = resume_script(pidfile, user)
    verify = Shell(not_stopped_script(pidfile, user), sudo=sudo)
    return stoppable(FaultPlan(
        fault_id=ctx.fault_id,
        spec=spec,
        target=target.name,
        summary=f"pause the process of {pidfile} on {target.name} (SIGSTOP)",
        inject=(Shell(pause_script(pidfile, user), sudo=sudo),),
        revert=(Shell(resume, sudo=sudo),),
        verify=(verify,),
        # The same guard as every host fault: a deadline file it polls, renewed by one write.
        leash=leash_for(ctx.fault_id, guard_undo(ctx.fault_id, (Shell(resume, sudo=sudo),), sudo), sudo),
        requires=(
            Requirement("process running", Shell(_alive_check(pidfile, target.name, user), sudo=sudo),
                        f"{target.name}: no running process in {pidfile} that may be signalled (pidfile missing, "
                        "not trusted, or the process runs as another user); fix `pidfile`/`user` or start it"),
            Requirement("setsid", Shell("command -v setsid >/dev/null"),
                        f"{target.name}: setsid (util-linux) is missing; the pause's leash needs it"),
        ),
        clobber_check=(verify,),
    ))


def _build_kill(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    pidfile, user = arg(spec, PIDFILE), arg(spec, USER)
    check = float(arg(spec, RESTART_CHECK))
    sudo = target.sudo
    # The killed pid is kept so the recovery check can tell a restarted process from the old one.
    # It lives beside the leash files (leash.STATE_DIR sets $crd): /run/controlroom, or a per-user dir.
    killed = f'"$crd"/killed-{safe_id(ctx.fault_id)}.pid'
    secs = max(1, int(check + 0.999))
    restarted = (
        f"{STATE_DIR}; old=$(cat {killed} 2>/dev/null); end=$(( $(date +%s) + {secs} )); "
        f"while :; do pid=$(cat {q(pidfile)} 2>/dev/null); "
        'case "$pid" in ""|*[!0-9]*) ;; *) '
        f'if [ -d "/proc/$pid" ] && {{ [ "$pid" != "$old" ] || [ ! -e {killed} ]; }}; then rm -f {killed}; exit 0; fi;; esac; '
        '[ "$(date +%s)" -ge "$end" ] && break; sleep 0.2; done; '
        f"echo {q(f'the process of {pidfile} is not running again after {format_duration(check)}')} >&2; exit 1"
    )
    return FaultPlan(
        fault_id=ctx.fault_id,
        spec=spec,
        target=target.name,
        summary=f"kill the process of {pidfile} on {target.name} (SIGKILL), expect a restart within {format_duration(check)}",
        inject=(Shell(f'{STATE_DIR}; {_read_pid(pidfile, user)}; echo "$pid" > {killed}; kill -KILL "$pid"', sudo=sudo),),
        revert=(),
        verify=(Shell(restarted, sudo=sudo, timeout=secs + 5.0),),
        requires=(
            Requirement("process running", Shell(_alive_check(pidfile, target.name, user), sudo=sudo),
                        f"{target.name}: no running process in {pidfile} that may be signalled (pidfile missing, "
                        "not trusted, or the process runs as another user); fix `pidfile`/`user` or start it"),
        ),
    )


FAULTS: list[FaultType] = [
    FaultType(
        name="process-pause",
        params=(PIDFILE, USER),
        target_kinds=frozenset({"local", "ssh"}),
        build=_build_pause,
        doc="Freeze a process with SIGSTOP for the step's duration; SIGCONT on revert or when the leash runs out.",
    ),
    FaultType(
        name="process-kill",
        params=(PIDFILE, USER, RESTART_CHECK),
        target_kinds=frozenset({"local", "ssh"}),
        build=_build_kill,
        doc="Kill a process with SIGKILL; no revert — the check is that it runs again (a supervisor restarts it).",
        needs_duration=False,
    ),
]

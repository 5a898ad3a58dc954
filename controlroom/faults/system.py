"""Host faults on the system itself: a disk filled to a limit, a systemd service stopped, and your own command.

The `command` fault is the one place where shell the scenario author wrote runs as written; every other
value here is validated or quoted by `faults.shell`.
"""

from __future__ import annotations

import os

from controlroom.faults.base import FaultType, Param, PlanContext, arg
from controlroom.faults.host import KINDS, checked_string, file_path, host_plan, requirement, tool
from controlroom.faults.leash import STATE_DIR, safe_id
from controlroom.faults.plan import FaultPlan, Requirement
from controlroom.faults.shell import q, sh, unit_name
from controlroom.scenario.model import FaultSpec, Target
from controlroom.targets.base import Shell
from controlroom.units import parse_size


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty shell command, got {value!r}")
    return value


# -- disk -------------------------------------------------------------------------------------

FILL_PATH = Param("path", file_path, required=True,
                  doc="file to create, e.g. /var/lib/controlroom-fill (must not exist; its directory writable only "
                      "by root or the ssh user)")
FILL_SIZE = Param("size", parse_size, required=True, doc="how much to allocate, e.g. 2G")
KEEP_FREE = Param("keep_free", parse_size, default=512 * 1024**2,
                  doc="free space that must remain after the fill (default 512M)")


def _safe_parent(path: str) -> str:
    """Shell that fails unless the path's directory belongs to root or us and nobody else can write in it.

    In a directory others can write (/tmp, /var/tmp), one of them could plant a symlink at the path between
    our check and our write; refusing the directory closes that door whatever the timing.
    """
    d = os.path.dirname(path) or "/"
    fix = "choose a directory only root (or the ssh user) can write, e.g. /var/lib/controlroom-fill"
    return (f"cr_ps=$(stat -L -c '%u %a' -- {q(d)}) || {{ echo {q(f'cannot inspect {d}')} >&2; exit 1; }}; "
            "set -- $cr_ps; "
            f'if [ "$1" != 0 ] && [ "$1" != "$(id -u)" ]; then '
            f'echo {q(f"{path}: its directory {d} belongs to uid")} "$1" {q(f"(not root, not you); {fix}")} >&2; exit 1; fi; '
            f'if [ $(( 0$2 & 022 )) -ne 0 ]; then '
            f'echo {q(f"{path}: its directory {d} is writable by other users (mode")} "$2)," '
            f'{q(f"who could plant a symlink there; {fix}")} >&2; exit 1; fi')


# A file's identity: device and inode, and its birth time to the nanosecond, since a freed inode number is
# handed to the next new file at once (the same host's `stat` writes and compares it, so the form is its own).
_FILE_ID = "%d:%i:%.9W"


def _build_disk_fill(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    """The fill file is created exclusively (never through a symlink) and remembered by device and inode.

    `set -C` makes `exec 3> PATH` open with O_CREAT|O_EXCL in dash and bash, which fails on anything already
    at PATH, a dangling symlink included; fallocate then works on that descriptor (/proc/self/fd/3), not on
    the name. The marker holds the file's identity (dev:inode:birth), so the revert removes exactly the file
    it made, and nothing if the name now holds another one.
    """
    path, size, keep = arg(spec, FILL_PATH), arg(spec, FILL_SIZE), arg(spec, KEEP_FREE)
    marker = f'"$crd"/diskfill-{safe_id(ctx.fault_id)}'
    p = q(path)
    need_kib = (size + keep + 1023) // 1024
    free_check = (f"cr_avail=$(df -Pk \"$(dirname {p})\" | awk 'NR==2 {{print $4}}'); "
                  f'[ -n "$cr_avail" ] && [ "$cr_avail" -ge {need_kib} ] || '
                  f"{{ echo \"not enough free space for {path}: $cr_avail KiB free, need {need_kib} KiB (size + keep_free)\" >&2; exit 1; }}")
    # Is the file at PATH the one we made? (a regular file, not a symlink, with the inode in the marker)
    ours = (f'{{ [ -s {marker} ] && [ -f {p} ] && [ ! -L {p} ] && '
            f'[ "$(stat -c {_FILE_ID} -- {p})" = "$(cat {marker})" ]; }}')
    remove = f"if {ours}; then rm -f -- {p} || exit 1; fi; rm -f {marker}"
    inject = (f"{STATE_DIR}\n"
              f"if [ -e {marker} ]; then if {ours}; then exit 0; fi; rm -f {marker}; fi\n"
              f"{_safe_parent(path)}\n"
              f"if [ -e {p} ] || [ -L {p} ]; then echo {q(f'{path} already exists; choose a path that does not')} >&2; exit 1; fi\n"
              f"{free_check}\n"
              # The marker (dev:inode, via the descriptor) is written before the allocation, so a revert finds
              # the file whatever happens next; a failed fallocate undoes itself the same way.
              f"( set -C; exec 3> {p} || exit 1\n"
              f"  stat -L -c {_FILE_ID} /proc/self/fd/3 > {marker}.tmp && mv -f {marker}.tmp {marker} || exit 1\n"
              f"  fallocate -l {size} /proc/self/fd/3 ) || {{ {remove}; echo {q(f'could not create and fill {path}')} >&2; exit 1; }}")
    revert = f"{STATE_DIR}\nif [ -e {marker} ]; then {remove}; fi; exit 0"
    verify = (f"{STATE_DIR}\nif [ -e {marker} ]; then if {ours}; then echo {q(f'{path} is still there')} >&2; "
              f"else echo {q(f'the marker of {path} is still there')} >&2; fi; exit 1; fi")
    clobber = (f"{STATE_DIR}\nif {{ [ -e {p} ] || [ -L {p} ]; }} && ! {ours}; then echo {q(f'{path} already exists')} >&2; "
               "exit 1; fi")
    requires = (
        tool("fallocate", target, "util-linux", "disk-fill needs it"),
        Requirement("safe directory", Shell(_safe_parent(path), sudo=target.sudo),
                    f"{target.name}: the directory of {path} is writable by other users, or belongs to neither root "
                    "nor the ssh user; choose one only they can write, e.g. /var/lib/controlroom-fill"),
        Requirement("free disk", Shell(free_check, sudo=target.sudo),
                    f"{target.name}: not enough free space at {os.path.dirname(path)} for {size} plus keep_free"),
    )
    return host_plan(spec, target, ctx, f"fill {size // 1024**2} MiB at {path} on {target.name}",
                     inject, revert, verify, requires, (clobber,))


# -- services, commands ----------------------------------------------------------------------

UNIT = Param("unit", checked_string(unit_name, "a systemd unit name such as 'nginx.service'"), required=True,
             doc="systemd unit, e.g. nginx.service")


def _build_service_stop(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    unit = arg(spec, UNIT)
    requires = (requirement("systemd", "command -v systemctl && [ -d /run/systemd/system ]",
                            f"{target.name}: no systemd (systemctl missing or not running); service-stop cannot be "
                            "injected", target),)
    return host_plan(spec, target, ctx, f"stop {unit} on {target.name}",
                     sh("systemctl", "stop", "--", unit), sh("systemctl", "start", "--", unit),
                     sh("systemctl", "is-active", "--quiet", "--", unit), requires)


INJECT = Param("inject", _text, required=True, doc="shell command that injects the fault (written by you)")
REVERT = Param("revert", _text, required=True, doc="shell command that reverts it; must be idempotent")
VERIFY = Param("verify", _text, required=True, doc="shell command that succeeds only when the fault is gone")


def _build_command(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    # The scenario author's own shell: run as written, nothing else is interpolated into it.
    inject, revert, verify = arg(spec, INJECT), arg(spec, REVERT), arg(spec, VERIFY)
    first = inject.strip().splitlines()[0][:60]
    return host_plan(spec, target, ctx, f"command on {target.name}: {first}", inject, revert, verify, ())


FAULTS: list[FaultType] = [
    FaultType("disk-fill", (FILL_PATH, FILL_SIZE, KEEP_FREE), KINDS, _build_disk_fill,
              "fallocate a file, refusing when less than keep_free would remain"),
    FaultType("service-stop", (UNIT,), KINDS, _build_service_stop, "systemctl stop / start"),
    FaultType("command", (INJECT, REVERT, VERIFY), KINDS, _build_command, "your own inject / revert / verify shell commands"),
]

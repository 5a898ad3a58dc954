"""A fake Linux host in a temp directory: the fault scripts run for real, against stand-in tools that keep state.

The scripts a plan holds are run with `sh`, unchanged but for one thing: the
state directory (`faults.leash.STATE_DIR`, /run/controlroom on a real host) is
the fake host's own, so nothing outside the temp directory is touched and no
root is needed. `nft`, `tc`, `systemctl`, `stress-ng` and the guard's
one-second `sleep` (and `setsid -f`, see below) are stand-ins on PATH that record what was created and
answer as the real tools do (`nft list table`, `tc qdisc show`, `systemctl
is-active`); everything else (`setsid`, `flock`, `fallocate`, `kill`, /proc) is
real. `state()` is what a fault could leave on the host, so a test can say
"the revert undid exactly what the inject made" by comparing two snapshots.

No root, no network namespace: these tests are in the fast set. The lab tests
(tests/lab) run the same scripts on real hosts with the real tools.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from pathlib import Path

from controlroom.faults.leash import STATE_DIR
from controlroom.targets.base import Action, ActionResult, Shell
from controlroom.targets.local import LocalExecutor

_NFT = r"""#!/bin/sh
S=__STATE__
printf '%s\n' "nft $*" >> "$S/calls"
touch "$S/nft-tables"
case "$*" in
  "-f -")
    n=$(ls "$S" | grep -c '^ruleset-')
    cat > "$S/ruleset-$n"
    sed -n 's/^table \([a-z0-9]*\) \([^ ]*\) {$/\1 \2/p' "$S/ruleset-$n" | while read -r f t; do
      grep -qx "$f $t" "$S/nft-tables" || echo "$f $t" >> "$S/nft-tables"
    done
    exit 0;;
  "delete table "*)
    set -- $*
    if grep -qx "$3 $4" "$S/nft-tables"; then
      grep -vx "$3 $4" "$S/nft-tables" > "$S/nft-tables.new"; mv "$S/nft-tables.new" "$S/nft-tables"; exit 0
    fi
    echo "Error: Could not process rule: No such file or directory" >&2; exit 1;;
  "list table "*)
    set -- $*
    if grep -qx "$3 $4" "$S/nft-tables"; then echo "table $3 $4 {"; echo "}"; exit 0; fi
    echo "Error: No such file or directory" >&2; exit 1;;
  "list tables")
    sed 's/^/table /' "$S/nft-tables"; exit 0;;
esac
echo "fake nft: unsupported: $*" >&2
exit 1
"""

# Roots are kept as "DEV HANDLE KIND ARGS..."; classes, filters and leaves as "DEV ..." and go with their root.
_TC = r"""#!/bin/sh
S=__STATE__
printf '%s\n' "tc $*" >> "$S/calls"
touch "$S/tc-roots" "$S/tc-objects"
keep() { grep -v "^$1 " "$2" > "$2.new"; mv "$2.new" "$2"; }
case "$1 $2" in
  "qdisc add")
    dev=$4
    if [ "$5" = root ]; then
      if grep -q "^$dev " "$S/tc-roots"; then echo "Error: Exclusivity flag on, cannot modify." >&2; exit 2; fi
      shift 5; [ "$1" = handle ] || { echo "fake tc: a root without a handle" >&2; exit 2; }
      echo "$dev $2 $3 $*" >> "$S/tc-roots"
    else
      grep -q "^$dev " "$S/tc-roots" || { echo "Error: Parent Qdisc doesn't exists." >&2; exit 2; }
      echo "$dev $*" >> "$S/tc-objects"
    fi
    exit 0;;
  "qdisc show")
    line=$(grep "^$4 " "$S/tc-roots")
    if [ -n "$line" ]; then set -- $line; echo "qdisc $3 $2 root refcnt 2"; else echo "qdisc noqueue 0: root refcnt 2"; fi
    exit 0;;
  "qdisc del")
    if [ "$5" = root ] && grep -q "^$4 " "$S/tc-roots"; then keep "$4" "$S/tc-roots"; keep "$4" "$S/tc-objects"; exit 0; fi
    echo "Error: Cannot delete qdisc with handle of zero." >&2; exit 2;;
  "class add"|"filter add")
    grep -q "^$4 " "$S/tc-roots" || { echo "Error: Parent Qdisc doesn't exists." >&2; exit 2; }
    echo "$4 $*" >> "$S/tc-objects"; exit 0;;
esac
echo "fake tc: unsupported: $*" >&2
exit 1
"""

_SYSTEMCTL = r"""#!/bin/sh
S=__STATE__
printf '%s\n' "systemctl $*" >> "$S/calls"
cmd=$1; shift
[ "$1" = --quiet ] && shift
[ "$1" = -- ] && shift
f="$S/unit-$1"
case "$cmd" in
  stop) echo inactive > "$f";;
  start|restart) rm -f "$f";;
  try-restart) ;;
  is-active) [ ! -e "$f" ];;
  *) echo "fake systemctl: unsupported: $cmd" >&2; exit 1;;
esac
"""

# stress-ng forks its workers: a leader and a worker in one process group, as the revert must find them.
_STRESS = "#!/bin/sh\n/bin/sleep 300 &\nexec /bin/sleep 300\n"
# This machine's PID 1 reaps orphans only every few seconds, and a killed group whose members wait as zombies
# still answers `kill -0`: a stress revert would wait its full 3 s for them. So `setsid -f` keeps a parent that
# reaps its child (`setsid -f -w`, itself in the background); the child is detached and leads its own session
# exactly as before. Without -f, the real setsid.
_SETSID = '#!/bin/sh\nif [ "$1" = -f ]; then shift; __SETSID__ -f -w "$@" & exit 0; fi\nexec __SETSID__ "$@"\n'
# The leash guard polls its deadline every second: here every 50 ms, so a guard that fires does so at once.
_SLEEP = '#!/bin/sh\n[ "$*" = 1 ] && exec /bin/sleep 0.05\nexec /bin/sleep "$@"\n'

TOOLS = {"nft": _NFT, "tc": _TC, "systemctl": _SYSTEMCTL, "stress-ng": _STRESS, "sleep": _SLEEP, "setsid": _SETSID}
_REAL_SETSID = shutil.which("setsid") or "/usr/bin/setsid"
MARK = "CR_FAKEHOST"  # in the environment of everything the fake host runs: how teardown finds leftovers


class FakeHost:
    def __init__(self, root: Path, ssh_connection: str | None = None) -> None:
        self.root = root
        self.bin = root / "bin"
        self.store = root / "state"
        self.crd = root / "crd"
        self.ssh_connection = ssh_connection
        self.watched: list[int] = []  # processes a fault may stop (process-pause): their state is part of state()
        self.executor = FakeHostExecutor(self)
        for d in (self.bin, self.store, self.crd):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.crd, 0o700)
        for name, text in TOOLS.items():
            path = self.bin / name
            path.write_text(text.replace("__STATE__", str(self.store)).replace("__SETSID__", _REAL_SETSID))
            path.chmod(0o755)

    def rewrite(self, script: str) -> str:
        """The script as this host runs it: its own state directory instead of /run/controlroom.

        A script that uses `$crd` without setting it (no STATE_DIR) gets a directory that does not exist,
        as on a real host it would get an empty one: it fails instead of writing outside the fake host.
        """
        return f"crd={self.root}/crd-unset\n" + script.replace(STATE_DIR, f"crd={self.crd}")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "SSH_CONNECTION"}
        env["PATH"] = f"{self.bin}:{env.get('PATH', '/usr/bin:/bin')}"
        env[MARK] = str(self.root)
        if self.ssh_connection is not None:
            env["SSH_CONNECTION"] = self.ssh_connection
        return env

    async def run(self, action: Action) -> ActionResult:
        return await self.executor.run(action)

    async def run_ok(self, action: Action) -> ActionResult:
        res = await self.run(action)
        assert res.ok, f"{res.detail}\n--- script ---\n{getattr(action, 'script', action)}"
        return res

    # ---- what the host holds ------------------------------------------------------------------------------

    def _read(self, name: str) -> list[str]:
        path = self.store / name
        return sorted(path.read_text().splitlines()) if path.exists() else []

    def nft_tables(self) -> list[str]:
        return self._read("nft-tables")

    def rulesets(self) -> list[str]:
        return [(self.store / f"ruleset-{i}").read_text() for i in range(len(list(self.store.glob("ruleset-*"))))]

    def calls(self) -> list[str]:
        path = self.store / "calls"
        return path.read_text().splitlines() if path.exists() else []

    def processes(self) -> list[str]:
        """Live processes started by this host's scripts (zombies are done), as their command lines."""
        found = []
        for pid in _pids_marked(str(self.root)):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if _proc_state(pid) not in ("Z", ""):
                found.append(argv.strip())
        return sorted(found)

    def files(self) -> list[str]:
        """Everything under the fake host's own directory but its tools and their bookkeeping."""
        out = []
        for path in sorted(self.root.rglob("*")):
            rel = path.relative_to(self.root)
            if rel.parts[0] in ("bin", "state"):
                continue
            out.append(str(rel) + ("/" if path.is_dir() else ""))
        return out

    def state(self) -> dict[str, list[str]]:
        return {"nft": self.nft_tables(), "tc": self._read("tc-roots") + self._read("tc-objects"),
                "units": sorted(p.name for p in self.store.glob("unit-*")), "files": self.files(),
                "processes": self.processes(), "stopped": [str(p) for p in self.watched if _proc_state(p) == "T"]}

    def wait_for(self, predicate: object, seconds: float = 5.0) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if callable(predicate) and predicate():
                return True
            time.sleep(0.02)
        return bool(callable(predicate) and predicate())

    def kill_leftovers(self) -> None:
        for pid in _pids_marked(str(self.root)):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


class FakeHostExecutor(LocalExecutor):
    """The local executor, running each script on the fake host (its tools first on PATH, its state dir)."""

    def __init__(self, host: FakeHost) -> None:
        super().__init__("fakehost")
        self.host = host

    def argv(self, action: Shell) -> list[str]:
        env = [f"{k}={v}" for k, v in self.host.env().items()]
        return ["env", "-i", *env, "sh", "-c", self.host.rewrite(action.script)]


def _proc_state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat[stat.rfind(")") + 2:].split()[0]


def _pids_marked(root: str) -> list[int]:
    needle = f"{MARK}={root}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            pids.append(int(entry.name))
    return pids

"""The rehearsal lab: N Linux "hosts" on this machine, each a network namespace with its own sshd.

A host is a namespace on a bridge, with its own PID/UTS/mount namespaces (so a
`kill` on one host never reaches another), its own ed25519 host key, the lab's
client key in its authorized keys, and an empty `.bashrc` bind-mounted over
root's (this machine's pyenv init costs 80 ms per command otherwise). Everything
the lab creates is written to a state file first, so `down` removes it all even
after a crash. Needs root.

Two labs can live side by side only with different names and subnets: `up`
refuses, before creating anything, when a namespace, link or address it would
create already exists (another lab, up with another state directory). So
everything in a state file was created by the `up` that wrote it, and `down` —
also the clean-up of a failed `up` — removes only that.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

from controlroom.errors import ControlroomError

DEFAULT_STATE_DIR = Path("/run/controlroom-lab")
# Held while a lab checks that its names are free and creates them: two `up`s at once cannot both pass the check.
UP_LOCK = Path("/run/lock/controlroom-lab-up.lock")
SAMPLE_SERVICE = Path(__file__).with_name("sample_service.py")
FRONT_PORT = 8080
BACKEND_PORT = 8081


class LabError(ControlroomError):
    """The lab cannot be brought up, or is not in the state asked for."""


# The address plan: the bridge is .1, host i is .(HOST_OFFSET + i), the broadcast address stays free.
HOST_OFFSET = 10
BRIDGE_PORTS = 1023  # ports one Linux bridge takes (BR_MAX_PORTS is 1 << 10, port 0 unused): one per host
MAX_HOSTS = 1000  # below the bridge's ports and the default ARP table limit (gc_thresh3 1024)
DEFAULT_NETWORK = ipaddress.IPv4Address("10.77.0.0")
PARALLEL = 8  # host set-up steps (a process each) and sshd probes run this many at a time
_T = TypeVar("_T")


NEIGH_SYSCTL = Path("/proc/sys/net/ipv4/neigh/default")


def neighbour_limits(n: int, thresh2: int, thresh3: int) -> tuple[int, int] | None:
    """The ARP table limits a lab of n hosts needs, or None when the current ones do.

    The kernel's ARP table is one for all network namespaces: n hosts make ~2n entries (the root namespace's
    entry for each host, each host's entry for the bridge), on top of what the machine has. Past gc_thresh3
    (1,024 by default) a new entry is refused ("neighbor table overflow"), and a connect fails with "No route to
    host" — seen at 500 hosts. Limits are only ever raised, never lowered.
    """
    want2 = 2 * n + 256
    want3 = 2 * want2
    if thresh2 >= want2 and thresh3 >= want3:
        return None
    return max(thresh2, want2), max(thresh3, want3)


def _make_neighbour_room(n: int) -> None:
    try:
        t2 = int((NEIGH_SYSCTL / "gc_thresh2").read_text())
        t3 = int((NEIGH_SYSCTL / "gc_thresh3").read_text())
    except (OSError, ValueError):
        return  # no such sysctl here: nothing to raise
    wanted = neighbour_limits(n, t2, t3)
    if wanted is None:
        return
    try:
        # gc_thresh3 first: the kernel keeps thresh2 <= thresh3.
        (NEIGH_SYSCTL / "gc_thresh3").write_text(str(wanted[1]))
        (NEIGH_SYSCTL / "gc_thresh2").write_text(str(wanted[0]))
    except OSError as err:
        raise LabError(f"lab: {n} hosts need a larger ARP table than net.ipv4.neigh.default.gc_thresh2/3 = "
                       f"{t2}/{t3}, and raising it failed ({err.strerror}); run `sysctl -w "
                       f"net.ipv4.neigh.default.gc_thresh3={wanted[1]} net.ipv4.neigh.default.gc_thresh2={wanted[0]}`"
                       ) from None


def subnet_capacity(network: ipaddress.IPv4Network) -> int:
    """How many hosts the address plan fits in `network` (network, bridge, .2-.HOST_OFFSET and broadcast kept)."""
    return network.num_addresses - HOST_OFFSET - 2


def subnet_for(n: int, base: ipaddress.IPv4Address = DEFAULT_NETWORK) -> str:
    """The smallest subnet at `base` (/24 at the widest prefix) whose address plan holds n hosts: a /24 up to
    244 hosts, a /23 up to 500, a /22 up to 1012. `base` is rounded down to that subnet's boundary."""
    for prefixlen in range(24, 15, -1):
        net = ipaddress.IPv4Network(f"{base}/{prefixlen}", strict=False)
        if subnet_capacity(net) >= n:
            return str(net)
    raise LabError(f"--hosts {n}: no subnet of /16 or smaller holds that many hosts")


@dataclass(frozen=True)
class LabConfig:
    """Names and addresses of one lab; tests use their own so they never touch a user's lab."""

    state_dir: Path = DEFAULT_STATE_DIR
    prefix: str = "crl"  # namespace names are "<prefix>-h1", veth ends "<prefix>v1"
    bridge: str = "crlab0"
    subnet: str = "10.77.0.0/24"  # bridge gets .1, host i gets .(10+i); `lab up` widens it for > 244 hosts

    def __post_init__(self) -> None:
        if len(self.prefix) > 6 or not self.prefix.isalnum():
            raise LabError(f"lab prefix {self.prefix!r}: use at most 6 letters or digits")
        if len(self.bridge) > 15:
            raise LabError(f"lab bridge name {self.bridge!r} is longer than 15 characters")

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.subnet)

    @property
    def bridge_ip(self) -> str:
        return str(self.network.network_address + 1)

    def host_ip(self, index: int) -> str:
        return str(self.network.network_address + HOST_OFFSET + index)

    @property
    def max_hosts(self) -> int:
        """Hosts .(HOST_OFFSET+1) up to the last address below broadcast, and never more than MAX_HOSTS."""
        return max(0, min(subnet_capacity(self.network), MAX_HOSTS))

    def check_size(self, n: int) -> None:
        """Refuse, before anything is created, a host count this lab's subnet (or any lab) cannot hold."""
        if n < 1:
            raise LabError(f"--hosts {n}: a lab has at least 1 host")
        if n > MAX_HOSTS:
            raise LabError(f"--hosts {n}: a lab holds at most {MAX_HOSTS} hosts (a Linux bridge takes "
                           f"{BRIDGE_PORTS} ports); choose --hosts {MAX_HOSTS} or fewer")
        if n > self.max_hosts:
            wider = subnet_for(n, self.network.network_address)
            raise LabError(f"--hosts {n}: subnet {self.subnet} holds at most {self.max_hosts} hosts; "
                           f"use --subnet {wider} (or fewer hosts)")

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    @property
    def ssh_config(self) -> Path:
        return self.state_dir / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        return self.state_dir / "known_hosts"

    @property
    def client_key(self) -> Path:
        return self.state_dir / "id_ed25519"


@dataclass
class LabHost:
    name: str  # the ssh alias: h1, h2, ...
    ip: str
    netns: str
    veth: str
    dir: str
    pid: int = 0  # the `unshare` process holding the host's namespaces
    inner_pid: int = 0  # sshd, pid 1 of the host's PID namespace, seen from the root namespace

    @property
    def ssh(self) -> str:
        return self.name


@dataclass
class LabState:
    config: dict[str, str]
    hosts: list[LabHost] = field(default_factory=list)
    service: dict[str, str] = field(default_factory=dict)
    created: float = 0.0


def _run(*argv: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, input=input, check=False)
    if check and proc.returncode != 0:
        raise LabError(f"lab: `{' '.join(argv)}` failed: {(proc.stderr or proc.stdout).strip()}")
    return proc


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("controlroom lab needs root (network namespaces, bridges, sshd): run it with sudo")


def missing_tools() -> list[str]:
    need = {"ip": "iproute2", "unshare": "util-linux", "nsenter": "util-linux", "ssh-keygen": "openssh-client"}
    missing = [f"{tool} ({pkg})" for tool, pkg in need.items() if shutil.which(tool) is None]
    if not Path("/usr/sbin/sshd").exists() and shutil.which("sshd") is None:
        missing.append("sshd (openssh-server)")
    return missing


def _sshd() -> str:
    return shutil.which("sshd") or "/usr/sbin/sshd"


_SSHD_CONFIG = """\
ListenAddress {ip}:22
HostKey {dir}/ssh_host_ed25519_key
PidFile {dir}/sshd.pid
AuthorizedKeysFile {authorized}
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
StrictModes no
MaxStartups 200:30:400
MaxSessions 128
AcceptEnv LANG
PrintMotd no
"""


class Lab:
    """A lab of hosts. `up(n)` builds it, `down()` removes everything recorded in the state file."""

    def __init__(self, config: LabConfig | None = None) -> None:
        self.config = config or LabConfig()
        self.state: LabState | None = self._load()
        if self.state is not None:
            # `down` and `status` act on the names this lab was made with, whatever the caller assumed.
            recorded = self.state.config
            self.config = LabConfig(state_dir=self.config.state_dir,
                                    prefix=recorded.get("prefix", self.config.prefix),
                                    bridge=recorded.get("bridge", self.config.bridge),
                                    subnet=recorded.get("subnet", self.config.subnet))

    # -- state ---------------------------------------------------------------------------------

    def _load(self) -> LabState | None:
        try:
            doc = json.loads(self.config.state_file.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            raise LabError(f"lab state {self.config.state_file} is unreadable ({err}); "
                           f"remove it after checking `ip netns list`") from None
        return LabState(config=doc.get("config", {}), hosts=[LabHost(**h) for h in doc.get("hosts", [])],
                        service=doc.get("service", {}), created=doc.get("created", 0.0))

    def _save(self) -> None:
        assert self.state is not None
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.config.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self.state), indent=2))
        os.replace(tmp, self.config.state_file)

    @property
    def is_up(self) -> bool:
        return self.state is not None

    @property
    def hosts(self) -> list[LabHost]:
        return list(self.state.hosts) if self.state else []

    def host(self, name: str) -> LabHost:
        for h in self.hosts:
            if h.name == name:
                return h
        raise LabError(f"lab has no host {name!r} (hosts: {', '.join(h.name for h in self.hosts) or 'none'})")

    # -- up ------------------------------------------------------------------------------------

    def up(self, n: int = 3, service: bool = True, wait: float = 10.0) -> list[LabHost]:
        self.config.check_size(n)  # a size the subnet cannot hold is refused first, root or not
        require_root()
        if self.state is not None:
            raise LabError(f"a lab is already up ({len(self.state.hosts)} hosts, state {self.config.state_file}); "
                           f"run `controlroom lab down` first")
        missing = missing_tools()
        if missing:
            raise LabError(f"lab: missing tools: {', '.join(missing)}; install them (scripts/system-deps)")
        with _up_lock():
            taken = self._taken(n)
            if taken:
                # Nothing has been created yet: a clean-up now would remove the other lab's namespaces.
                raise LabError(f"{taken[0]} already exists: another lab is up with these names "
                               f"(`ip netns list`); bring it down with `controlroom lab --dir ITS_DIR down`, "
                               f"or give this one other names (--prefix, --bridge, --subnet)")
            _make_neighbour_room(n)
            return self._up(n, service, wait)

    def _taken(self, n: int) -> list[str]:
        """What of this lab's names and subnet is already in use on this machine (empty: free to create)."""
        cfg = self.config
        netns = {line.split()[0] for line in _run("ip", "netns", "list", check=False).stdout.splitlines() if line}
        links = {line.split(":")[1].strip().split("@")[0]
                 for line in _run("ip", "-o", "link", "show", check=False).stdout.splitlines() if ":" in line}
        taken = [f"bridge {cfg.bridge}"] if cfg.bridge in links else []
        taken += [f"namespace {cfg.prefix}-h{i}" for i in range(1, n + 1) if f"{cfg.prefix}-h{i}" in netns]
        taken += [f"link {cfg.prefix}v{i}" for i in range(1, n + 1) if f"{cfg.prefix}v{i}" in links]
        for line in _run("ip", "-o", "-4", "addr", "show", check=False).stdout.splitlines():
            words = line.split()
            if "inet" in words:
                addr = words[words.index("inet") + 1]
                if ipaddress.IPv4Interface(addr).network.overlaps(cfg.network):
                    taken.append(f"subnet {cfg.subnet} (address {addr} on {words[1]})")
        return taken

    def _up(self, n: int, service: bool, wait: float) -> list[LabHost]:
        cfg = self.config
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(cfg.state_dir, 0o755)
        self.state = LabState(config={k: str(v) for k, v in asdict(cfg).items()}, created=time.time())
        hosts = [LabHost(name=f"h{i}", ip=cfg.host_ip(i), netns=f"{cfg.prefix}-h{i}", veth=f"{cfg.prefix}v{i}",
                         dir=str(cfg.state_dir / f"h{i}")) for i in range(1, n + 1)]
        # Record before creating, so a crash half-way still leaves `down` a complete list.
        self.state.hosts = hosts
        self._save()
        try:
            self._make_keys(hosts)
            self._make_network(hosts)
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
            os.chmod("/run/sshd", 0o755)
            _each(self._start_sshd, hosts)
            self._save()
            self._write_client_files(hosts)
            self._wait_for_ssh(hosts, wait)
            self._save()  # with the hosts' inner pids, which `exec` needs from a later process
            if service and n >= 2:
                self._start_service(hosts[0], hosts[1])
                self._save()
        except BaseException:
            self.down()
            raise
        return hosts

    def _make_keys(self, hosts: list[LabHost]) -> None:
        cfg = self.config
        if not cfg.client_key.exists():
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "controlroom-lab", "-f", str(cfg.client_key))
        (cfg.state_dir / "authorized_keys").write_text(cfg.client_key.with_suffix(".pub").read_text())
        (cfg.state_dir / "empty-bashrc").write_text("")
        procs = []
        for h in hosts:
            d = Path(h.dir)
            d.mkdir(parents=True, exist_ok=True)
            key = d / "ssh_host_ed25519_key"
            if not key.exists():
                procs.append(subprocess.Popen(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", h.name,
                                               "-f", str(key)], stdout=subprocess.DEVNULL))
            (d / "sshd_config").write_text(_SSHD_CONFIG.format(ip=h.ip, dir=d, authorized=cfg.state_dir / "authorized_keys"))
        for p in procs:
            if p.wait() != 0:
                raise LabError("lab: ssh-keygen failed for a host key")

    def _make_network(self, hosts: list[LabHost]) -> None:
        cfg = self.config
        prefixlen = cfg.network.prefixlen
        batch = [f"link add {cfg.bridge} type bridge", f"addr add {cfg.bridge_ip}/{prefixlen} dev {cfg.bridge}",
                 f"link set {cfg.bridge} up"]
        for h in hosts:
            # One `ip` process for every namespace, veth and bridge port: 500 hosts in ~1 s, not one each.
            batch += [f"netns add {h.netns}", f"link add {h.veth} type veth peer name eth0 netns {h.netns}",
                      f"link set {h.veth} master {cfg.bridge}", f"link set {h.veth} up"]
        _run("ip", "-batch", "-", input="\n".join(batch) + "\n")

        def inside(h: LabHost) -> None:
            inner = [f"addr add {h.ip}/{prefixlen} dev eth0", "link set eth0 up", "link set lo up"]
            _run("ip", "-n", h.netns, "-batch", "-", input="\n".join(inner) + "\n")

        _each(inside, hosts)

    def _start_sshd(self, h: LabHost) -> None:
        cfg = self.config
        bashrc = Path("/root/.bashrc")
        hide = f"mount --bind {cfg.state_dir / 'empty-bashrc'} /root/.bashrc; " if bashrc.exists() else ""
        # A private /run/controlroom per host: leash, stress and marker files of one host are invisible to the
        # others and to this machine, as they would be on separate machines.
        private_run = "mkdir -p /run/controlroom && mount -t tmpfs -o mode=0755,size=16m controlroom /run/controlroom; "
        inner = (f"hostname {h.name}; {hide}{private_run}"
                 f"exec {_sshd()} -D -f {h.dir}/sshd_config -E {h.dir}/sshd.log")
        log = open(Path(h.dir) / "unshare.log", "ab")
        try:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", h.netns, "unshare", "--uts", "--mount", "--pid", "--fork", "--kill-child",
                 "--mount-proc", "--propagation", "private", "sh", "-c", inner],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        finally:
            log.close()
        h.pid = proc.pid

    def _write_client_files(self, hosts: list[LabHost]) -> None:
        cfg = self.config
        lines = []
        for h in hosts:
            pub = (Path(h.dir) / "ssh_host_ed25519_key.pub").read_text().split()
            lines.append(f"{h.name},{h.ip} {pub[0]} {pub[1]}")
        cfg.known_hosts.write_text("\n".join(lines) + "\n")
        # Each host's own line, then what all share in one block: every connect parses the whole file (asyncssh
        # and ssh alike), so a 500-host lab's config is ~40 bytes a host instead of ~200.
        lines = [f"# controlroom lab: use with CONTROLROOM_SSH_CONFIG={cfg.ssh_config}"]
        lines += [f"Host {h.name}\n  HostName {h.ip}" for h in hosts]
        lines.append(f"Host {' '.join(h.name for h in hosts)}\n  User root\n  Port 22\n  IdentityFile {cfg.client_key}\n"
                     f"  UserKnownHostsFile {cfg.known_hosts}\n  IdentitiesOnly yes")
        cfg.ssh_config.write_text("\n".join(lines) + "\n")

    def _wait_for_ssh(self, hosts: list[LabHost], wait: float) -> None:
        deadline = time.monotonic() + wait

        def answers(h: LabHost) -> bool:
            with contextlib.suppress(OSError), socket.create_connection((h.ip, 22), timeout=0.2) as s:
                s.settimeout(1.0)
                return s.recv(4).startswith(b"SSH-")
            return False

        pending = list(hosts)
        while pending:
            # Probed a few at a time: each probe is an sshd fork, and 500 in a row took ~3 s.
            pending = [h for h, ok in zip(pending, _each(answers, pending), strict=True) if not ok]
            if not pending:
                break
            if time.monotonic() > deadline:
                logs = "; ".join(f"{h.name}: {_tail(Path(h.dir) / 'sshd.log')}" for h in pending)
                raise LabError(f"lab: sshd did not answer on {', '.join(h.name for h in pending)} "
                               f"within {wait:g}s ({logs})")
            time.sleep(0.05)
        for h in hosts:
            h.inner_pid = self._inner_pid(h)

    @staticmethod
    def _inner_pid(h: LabHost) -> int:
        # The unshare process has exactly one child: pid 1 of the host's PID namespace.
        try:
            children = Path(f"/proc/{h.pid}/task/{h.pid}/children").read_text().split()
        except OSError:
            return 0
        return int(children[0]) if children else 0

    # -- using the lab -------------------------------------------------------------------------

    def nsenter_argv(self, host: LabHost | str) -> list[str]:
        """argv prefix that runs a command inside a host: its network, PID, mount and UTS namespaces."""
        h = self.host(host) if isinstance(host, str) else host
        if h.inner_pid:
            return ["nsenter", "-t", str(h.inner_pid), "-n", "-p", "-m", "-u", "--"]
        return ["ip", "netns", "exec", h.netns]

    def exec(self, host: LabHost | str, cmd: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run `sh -c cmd` inside a host (not over SSH): how tests observe a fault from another host."""
        return subprocess.run([*self.nsenter_argv(host), "sh", "-c", cmd], capture_output=True, text=True,
                              timeout=timeout, check=False)

    def spawn(self, host: LabHost | str, argv: list[str], log: Path) -> None:
        """Start a detached daemon inside a host, fds redirected, so nothing waits on it."""
        with open(log, "ab") as out:
            subprocess.Popen([*self.nsenter_argv(host), *argv], stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                             start_new_session=True)

    def _start_service(self, front: LabHost, backend: LabHost) -> None:
        assert self.state is not None
        svc = self.config.state_dir / "service"
        svc.mkdir(exist_ok=True)
        py = sys.executable
        self.spawn(backend, [py, str(SAMPLE_SERVICE), "backend", "--bind", backend.ip, "--port", str(BACKEND_PORT),
                             "--pidfile", str(svc / "backend.pid")], svc / "backend.log")
        self.spawn(front, [py, str(SAMPLE_SERVICE), "front", "--bind", front.ip, "--port", str(FRONT_PORT),
                           "--backend", f"http://{backend.ip}:{BACKEND_PORT}", "--pidfile", str(svc / "front.pid")],
                   svc / "front.log")
        self.state.service = {"front": f"http://{front.ip}:{FRONT_PORT}/", "front_host": front.name,
                              "backend": f"http://{backend.ip}:{BACKEND_PORT}/", "backend_host": backend.name,
                              "front_pidfile": str(svc / "front.pid"), "backend_pidfile": str(svc / "backend.pid")}
        deadline = time.monotonic() + 10
        for h, port in ((backend, BACKEND_PORT), (front, FRONT_PORT)):
            while True:
                with contextlib.suppress(OSError), socket.create_connection((h.ip, port), timeout=0.2):
                    break
                if time.monotonic() > deadline:
                    raise LabError(f"lab: the sample service did not start on {h.name}:{port} "
                                   f"(see {svc}/*.log)")
                time.sleep(0.05)

    # -- down ----------------------------------------------------------------------------------

    def down(self) -> list[str]:
        """Remove everything in the state file; idempotent. Returns what was removed, for `status`-like output."""
        require_root()
        state = self.state or self._load()
        cfg = self.config
        removed: list[str] = []
        hosts = state.hosts if state else []

        def remove(h: LabHost) -> bool:
            # Every process with the host's network namespace: sshd, sessions, stress-ng, leashes, the service.
            pids = _run("ip", "netns", "pids", h.netns, check=False).stdout.split()
            for pid in [h.pid, *map(int, pids)]:
                if pid:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
            return _run("ip", "netns", "del", h.netns, check=False).returncode == 0

        removed += [h.netns for h, gone in zip(hosts, _each(remove, hosts), strict=True) if gone]
        if hosts:
            # Any veth end still left (a namespace that was never made): one `ip` for all, going on past errors.
            _run("ip", "-force", "-batch", "-", check=False,
                 input="".join(f"link del {h.veth}\n" for h in hosts))
        if _run("ip", "link", "del", cfg.bridge, check=False).returncode == 0:
            removed.append(cfg.bridge)
        for h in hosts:
            shutil.rmtree(h.dir, ignore_errors=True)
        for name in ("ssh_config", "known_hosts", "authorized_keys", "empty-bashrc"):
            with contextlib.suppress(FileNotFoundError):
                (cfg.state_dir / name).unlink()
        shutil.rmtree(cfg.state_dir / "service", ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            cfg.state_file.unlink()
        self.state = None
        return removed

    # -- status --------------------------------------------------------------------------------

    def status(self) -> list[dict[str, object]]:
        rows: list[dict[str, object]] = []
        for h in self.hosts:
            alive = Path(f"/proc/{h.pid}").exists()
            listening = False
            with contextlib.suppress(OSError), socket.create_connection((h.ip, 22), timeout=0.3) as s:
                listening = s.recv(4).startswith(b"SSH-")
            rows.append({"host": h.name, "ip": h.ip, "netns": h.netns, "alive": alive, "ssh": listening})
        return rows


def _each(fn: Callable[[LabHost], _T], hosts: list[LabHost]) -> list[_T]:
    """fn on every host, a few at a time (process start-ups, probes), results in order; the first error raises.

    Bounded: each call is one short subprocess or socket with its own timeout."""
    with ThreadPoolExecutor(max_workers=min(PARALLEL, max(1, len(hosts)))) as pool:
        return list(pool.map(fn, hosts))


@contextlib.contextmanager
def _up_lock() -> Iterator[None]:
    UP_LOCK.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(UP_LOCK, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _tail(path: Path, n: int = 200) -> str:
    try:
        return path.read_text(errors="replace")[-n:].strip().replace("\n", " | ") or "empty log"
    except OSError:
        return "no log"

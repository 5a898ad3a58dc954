"""Host faults for Linux targets reached over SSH or run locally: network (tc, nft), stress, disk, services.

Every fault has an idempotent inject, revert and verify, a leash (a detached
guard on the host that reverts by itself when the control room goes silent),
pre-flight requirements and a clobber check. Command text is built only from
values validated or quoted by `controlroom.faults.shell`; the one exception is
the `command` fault, whose scripts the scenario author writes as shell.

The control channel is never cut: rules read `$SSH_CONNECTION` on the host at
run time and exempt SSH between that client address and this sshd's port — the
live connection, and a reconnect from the same control room.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controlroom.faults._args import arg
from controlroom.faults.catalogue import FaultType, Param, PlanContext
from controlroom.faults.plan import LEASH_GONE_EXIT, FaultPlan, Leash, Requirement
from controlroom.faults.shell import MAX_COMMAND_BYTES, abs_path, interface, ip_address, q, sh, unit_name
from controlroom.scenario.model import FaultSpec, Target
from controlroom.targets.base import Shell
from controlroom.units import parse_duration, parse_percent, parse_rate, parse_size

KINDS = frozenset({"ssh", "local"})
NFT_TABLE = "controlroom"  # `table inet controlroom`: one delete reverts every rule
TC_HANDLE = "c0de"  # our root qdisc handle: distinctive, so a revert never deletes someone else's qdisc
LEASH_MARK = "controlroom-leash"
INJECT_TIMEOUT = 15.0

# Where pid, deadline and marker files live on the host; computed there, so the guard and revert agree.
# Without write access to /run the directory is per user in $TMPDIR or /tmp, where another user could create it
# first and plant pid files the reverts would act on: there it must be ours, not a symlink, and 0700.
STATE_DIR = ('crd=/run/controlroom; if [ ! -w /run ]; then crd="${TMPDIR:-/tmp}/controlroom-$(id -u)"; '
             'mkdir -m 700 "$crd" 2>/dev/null; { [ -d "$crd" ] && [ ! -L "$crd" ] && [ -O "$crd" ] && '
             '[ -z "$(find "$crd" -maxdepth 0 -perm /077)" ]; } || '
             '{ echo "controlroom: $crd is not a directory only you can use (0700); remove it" >&2; exit 1; }; fi; '
             '[ -d "$crd" ] || mkdir -p "$crd" || exit 1')

# Sets cr_cip/cr_cport/cr_sip/cr_sport from the live SSH connection (empty for local targets).
CONTROL_PEER = (
    "set -- ${SSH_CONNECTION:-}; cr_cip=${1:-}; cr_cport=${2:-}; cr_sip=${3:-}; cr_sport=${4:-}; "
    'case "$cr_cip" in ::ffff:*.*) cr_cip=${cr_cip#::ffff:};; esac; '
    'case "$cr_sip" in ::ffff:*.*) cr_sip=${cr_sip#::ffff:};; esac; '
    'case "$cr_cip$cr_cport$cr_sip$cr_sport" in *[!0-9a-fA-F.:]*) '
    "echo 'controlroom: unexpected SSH_CONNECTION; refusing to touch the network' >&2; exit 3;; esac"
)


def safe_id(fault_id: str) -> str:
    """A fault id as a file-name part: readable, and unique thanks to a short hash."""
    digest = hashlib.sha1(fault_id.encode()).hexdigest()[:8]
    return (re.sub(r"[^A-Za-z0-9_.-]", "_", fault_id)[:60] or "fault") + "-" + digest


# -- parameter parsers (raise ValueError with a message for the scenario author) ----------------


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 256:
        raise ValueError(f"expected a whole number from 1 to 256, got {value!r}")
    return value


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty shell command, got {value!r}")
    return value


# Each peer becomes a rule (tc: one `tc filter add` line of ~150 bytes; nft: a set element per direction) of
# ONE command, which must stay under MAX_COMMAND_BYTES: 500 IPv6 peers make ~75 KiB (tests/faults pin it).
MAX_PEERS = 500


def _peer_list(value: object) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"expected a list of IP addresses, networks or target names, got {value!r}")
    if len(value) > MAX_PEERS:
        raise ValueError(
            f"{len(value)} entries; a fault takes at most {MAX_PEERS} (each becomes a rule in one command, and a "
            f"command is limited to {MAX_COMMAND_BYTES // 1024} KiB): group addresses into networks such as "
            f"10.1.0.0/16, or split the fault")
    for v in value:
        if not re.fullmatch(r"[A-Za-z0-9_.:/@-]+", v):
            raise ValueError(f"peer {v!r}: use an IP address, a network (10.0.0.0/24) or a target name")
    return list(value)


def _direction(value: object) -> str:
    if value not in ("both", "in", "out"):
        raise ValueError(f"expected one of both, in, out, got {value!r}")
    return str(value)


def _iface(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected an interface name such as 'eth0', got {value!r}")
    return interface(value)


def _unit(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a systemd unit name such as 'nginx.service', got {value!r}")
    return unit_name(value)


def _path(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected an absolute file path such as '/var/tmp/fill', got {value!r}")
    return abs_path(value)


IFACE = Param("interface", _iface, doc="network interface; defaults to the target's interface (eth0)")
PEERS = Param("peers", _peer_list, doc="IP addresses, networks or target names the fault applies to")
PEERS_REQUIRED = Param("peers", _peer_list, required=True, doc="IP addresses, networks or target names to cut off")
DIRECTION = Param("direction", _direction, default="both", doc="both | in | out (default both)")
WORKERS = Param("workers", _count, default=1, doc="number of stress-ng workers (default 1)")


# -- peers ------------------------------------------------------------------------------------


def _ssh_config_hostname(alias: str) -> str | None:
    """HostName of an exact `Host` alias in the OpenSSH config the SSH executor uses (lab aliases)."""
    path = os.environ.get("CONTROLROOM_SSH_CONFIG") or os.path.expanduser("~/.ssh/config")
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return None
    current: list[str] = []
    for raw in lines:
        words = raw.strip().split()
        if len(words) >= 2 and words[0].lower() == "host":
            current = words[1:]
        elif len(words) >= 2 and words[0].lower() == "hostname" and alias in current:
            return words[1]
    return None


def resolve_peers(peers: list[str], ctx: PlanContext) -> tuple[list[str], list[str]]:
    """Peers -> (IPv4 list, IPv6 list); target names resolve to the address in their ssh destination."""
    v4: list[str] = []
    v6: list[str] = []
    for peer in peers:
        addr = peer
        if peer in ctx.targets:
            dest = ctx.targets[peer].ssh or ""
            host = dest.rpartition("@")[2]
            host = host[1:].partition("]")[0] if host.startswith("[") else host.rsplit(":", 1)[0] if host.count(":") == 1 else host
            addr = host
            try:
                ipaddress.ip_address(addr)
            except ValueError:
                addr = _ssh_config_hostname(host) or addr
        try:
            value = ip_address(addr)
        except ValueError:
            raise ValueError(f"peer {peer!r}: not an IP address or network, and not a target with an IP "
                             f"address; write the peer's IP") from None
        (v6 if ":" in value else v4).append(value)
    return v4, v6


# -- shared command fragments -----------------------------------------------------------------


def _nft_exempt() -> str:
    """Shell that sets $cr_in / $cr_out to nft rules accepting the control channel (or nothing)."""
    return (f"{CONTROL_PEER}; cr_in=''; cr_out=''; "
            'if [ -n "$cr_cip" ]; then case "$cr_cip" in *:*) cr_f=ip6;; *) cr_f=ip;; esac; '
            'cr_in="$cr_f saddr $cr_cip tcp dport $cr_sport accept"; '
            'cr_out="$cr_f daddr $cr_cip tcp sport $cr_sport accept"; fi')


def _nft_inject(input_rules: list[str], output_rules: list[str]) -> str:
    """Replace `table inet controlroom` atomically (nft -f), control channel accepted first in each chain."""
    body = [f"table inet {NFT_TABLE} {{",
            "  chain input { type filter hook input priority -10; policy accept;",
            '    iif "lo" accept', "    $cr_in", *(f"    {r}" for r in input_rules), "  }",
            "  chain output { type filter hook output priority -10; policy accept;",
            '    oif "lo" accept', "    $cr_out", *(f"    {r}" for r in output_rules), "  }", "}"]
    # Everything but $cr_in/$cr_out in the here-document was validated (addresses, interface, numbers).
    ruleset = "\n".join(body)
    return (f"{_nft_exempt()}\n"
            f"nft delete table inet {NFT_TABLE} 2>/dev/null\n"
            f"nft -f - <<CR_NFT_EOF\n{ruleset}\nCR_NFT_EOF\n")


NFT_REVERT = f"nft delete table inet {NFT_TABLE} 2>/dev/null; exit 0"
NFT_VERIFY = (f"if command -v nft >/dev/null; then if nft list table inet {NFT_TABLE} >/dev/null 2>&1; then "
              f"echo 'table inet {NFT_TABLE} is still present' >&2; exit 1; fi; fi")
NFT_CLOBBER = (f"if nft list table inet {NFT_TABLE} >/dev/null 2>&1; then echo 'an nftables table inet {NFT_TABLE} "
               f"is already present (left by an earlier session?); run `controlroom recover JOURNAL`' >&2; exit 1; fi")


def _tc_revert(dev: str) -> str:
    return f"if tc qdisc show dev {q(dev)} root 2>/dev/null | grep -q ' {TC_HANDLE}: '; then tc qdisc del dev {q(dev)} root; fi; exit 0"


def _tc_verify(dev: str) -> str:
    return (f"if tc qdisc show dev {q(dev)} root 2>/dev/null | grep -q ' {TC_HANDLE}: '; then "
            f"echo {q(f'{dev} still has the controlroom root qdisc')} >&2; exit 1; fi")


def _tc_clobber(dev: str) -> str:
    # The kernel's default root qdisc has handle 0: (noqueue, mq, pfifo_fast, fq_codel); anything else is someone's.
    return (f"cr_q=$(tc qdisc show dev {q(dev)} root) || exit 1; "
            f'case "$cr_q" in ""|*" 0: root"*) exit 0;; esac; '
            f"echo {q(f'{dev} already has a root qdisc')}\": $cr_q; remove it, or run \\`controlroom recover JOURNAL\\` "
            "if a previous session left it\" >&2; exit 1")


def _tc_inject(dev: str, leaf: list[str], v4: list[str], v6: list[str], whole_interface: bool) -> str:
    """htb root: class :10 untouched (control channel, other peers), class :20 carries the fault leaf.

    Without peers everything but the control channel goes to :20; with peers only their traffic does.
    """
    d = q(dev)
    h = TC_HANDLE
    default = "20" if whole_interface else "10"
    lines = [
        f"cr_fail() {{ tc qdisc del dev {d} root 2>/dev/null; echo \"controlroom: $1\" >&2; exit 1; }}",
        CONTROL_PEER,
        _tc_revert(dev).removesuffix("; exit 0"),
        f"tc qdisc add dev {d} root handle {h}: htb default {default} || cr_fail 'cannot add the htb root qdisc'",
        f"tc class add dev {d} parent {h}: classid {h}:10 htb rate 10gbit quantum 60000 || cr_fail 'cannot add class {h}:10'",
        f"tc class add dev {d} parent {h}: classid {h}:20 htb rate 10gbit quantum 60000 || cr_fail 'cannot add class {h}:20'",
        f"{sh('tc', 'qdisc', 'add', 'dev', dev, 'parent', f'{h}:20', 'handle', 'c0df:', *leaf)} "
        f"|| cr_fail {q('cannot add ' + leaf[0] + ' (is the qdisc kind available?)')}",
        'if [ -n "$cr_cip" ]; then case "$cr_cip" in '
        f'*:*) tc filter add dev {d} parent {h}: protocol ipv6 prio 1 u32 match ip6 dst "$cr_cip/128" '
        f'match ip6 sport "$cr_sport" 0xffff flowid {h}:10 || cr_fail "cannot exempt the control channel";; '
        f'*) tc filter add dev {d} parent {h}: protocol ip prio 1 u32 match ip dst "$cr_cip/32" '
        f'match ip sport "$cr_sport" 0xffff flowid {h}:10 '
        '|| cr_fail "cannot exempt the control channel";; esac; fi',
    ]
    for net in v4:
        lines.append(f"{sh('tc', 'filter', 'add', 'dev', dev, 'parent', f'{h}:', 'protocol', 'ip', 'prio', '2', 'u32', 'match', 'ip', 'dst', net if '/' in net else net + '/32', 'flowid', f'{h}:20')} || cr_fail 'cannot add a peer filter'")
    for net in v6:
        lines.append(f"{sh('tc', 'filter', 'add', 'dev', dev, 'parent', f'{h}:', 'protocol', 'ipv6', 'prio', '3', 'u32', 'match', 'ip6', 'dst', net if '/' in net else net + '/128', 'flowid', f'{h}:20')} || cr_fail 'cannot add a peer filter'")
    return "\n".join(lines)


def _qdisc_probe(kind_args: list[str]) -> str:
    """Non-destructive: try the qdisc in a throwaway network namespace's loopback; fall back to module lists."""
    name = kind_args[0]
    return (f"if unshare -n true; then unshare -n {sh('tc', 'qdisc', 'add', 'dev', 'lo', 'root', *kind_args)}; "
            f"else modinfo sch_{name} || grep -qw sch_{name} /proc/modules; fi")


def _leash_files(fault_id: str) -> tuple[str, str]:
    sid = safe_id(fault_id)
    return f'"$crd"/leash-{sid}.deadline', f'"$crd"/leash-{sid}.pid'


def _guard_alive(pidf: str) -> str:
    # The guard's argv[0] carries LEASH_MARK: a recycled pid is never taken for the guard.
    # `read`, not `cat`: the e-stop path runs this on every host at once, and every fork counts.
    return f'{{ read -r cr_p < {pidf} && [ -n "$cr_p" ] && grep -q {LEASH_MARK} "/proc/$cr_p/cmdline"; }} 2>/dev/null'


def leash_for(fault_id: str, revert: tuple[Shell, ...], sudo: bool) -> Leash:
    """A guard reading a deadline file; it reverts once the deadline passes. Renewing is one write.

    The deadline is a heartbeat (now + the scenario's `blast_radius.leash`, 10 s by default), not the step's
    end: the live room moves it every few seconds, so a room that dies leaves the fault for at most the window.
    """
    deadline, pidf = _leash_files(fault_id)
    undo = "\n".join(f"( {a.script}\n) >/dev/null 2>&1" for a in revert)
    guard = ('echo $$ > "$2"\n'
             'while :; do cr_d=$(cat "$1" 2>/dev/null) || { rm -f "$2"; exit 0; }\n'
             '  [ "$(date +%s)" -ge "$cr_d" ] && break; sleep 1; done\n'
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
        return Shell(script, sudo=sudo, timeout=INJECT_TIMEOUT)

    def renew(seconds: float) -> Shell:
        # Only a live guard's deadline moves: a renewal never starts a guard, so a leash that fired stays fired
        # and the room hears of it (LEASH_GONE_EXIT). The pid file is read again after the write: a disarm or a
        # guard that fired in between removed it, and the deadline just written is taken back. `$cr_now` is set
        # once by a batched renewal (engine/heartbeat.py); alone, the script asks `date` itself.
        n = max(1, math.ceil(seconds))
        script = (f"{STATE_DIR}; cr_dl={deadline}; cr_pf={pidf}\n"
                  f"if {guard_alive}; then\n"
                  f'  echo $(( ${{cr_now:-$(date +%s)}} + {n} )) > "$cr_dl.tmp" && mv -f "$cr_dl.tmp" "$cr_dl" || exit 1\n'
                  '  { read -r cr_q < "$cr_pf" && [ "$cr_q" = "$cr_p" ]; } 2>/dev/null && exit 0\n'
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


def _req(name: str, script: str, message: str, target: Target) -> Requirement:
    """A check whose only output, on failure, is `message`: the same one line wherever it is shown."""
    quiet = f"{{ {script}; }} >/dev/null 2>&1 || {{ echo {q(message)} >&2; exit 1; }}"
    return Requirement(name, Shell(quiet, sudo=target.sudo), message)


def _tool(name: str, tool: str, target: Target, package: str, why: str) -> Requirement:
    return _req(f"tool:{tool}", f"command -v {q(tool)}", f"{target.name}: {tool} is not installed (package {package}); "
                f"{why}", target)


def _sudo_req(target: Target) -> tuple[Requirement, ...]:
    if not target.sudo:
        return ()
    return (Requirement("sudo", Shell("true", sudo=True),
                        f"{target.name}: `sudo -n` is refused; allow the ssh user passwordless sudo"),)


def _base_requires(target: Target) -> tuple[Requirement, ...]:
    return (*_sudo_req(target), _tool("setsid", "setsid", target, "util-linux", "the leash needs it"))


def _plan(spec: FaultSpec, target: Target, ctx: PlanContext, summary: str, inject: str, revert: str, verify: str,
          requires: tuple[Requirement, ...], clobber: tuple[str, ...] = (), leash: bool = True,
          timeout: float = INJECT_TIMEOUT) -> FaultPlan:
    from controlroom.faults.inflight import guard_undo, stoppable

    sudo = target.sudo
    rev = (Shell(revert, sudo=sudo, timeout=timeout),)
    # The inject runs so that a stop can end it while in flight (faults/inflight.py), and so can the guard.
    return stoppable(FaultPlan(
        fault_id=ctx.fault_id, spec=spec, target=target.name, summary=summary,
        inject=(Shell(inject, sudo=sudo, timeout=timeout),), revert=rev,
        verify=(Shell(verify, sudo=sudo, timeout=timeout),),
        leash=leash_for(ctx.fault_id, guard_undo(ctx.fault_id, rev, sudo), sudo) if leash else None,
        requires=(*_base_requires(target), *requires),
        clobber_check=tuple(Shell(c, sudo=sudo, timeout=timeout) for c in clobber),
    ))


# -- network: tc ------------------------------------------------------------------------------


def _dev(spec: FaultSpec, target: Target) -> str:
    return arg(spec, IFACE) or interface(target.interface)


def _ms(seconds: float) -> str:
    return f"{round(seconds * 1000, 3):g}ms"


def _pct(value: float) -> str:
    return f"{value:g}%"


def _netem_builder(kind: str, leaf: Callable[[FaultSpec], list[str]], describe: Callable[[FaultSpec], str]) -> Any:
    def build(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
        dev = _dev(spec, target)
        peers = arg(spec, PEERS)
        v4, v6 = resolve_peers(peers, ctx) if peers else ([], [])
        where = f" to {', '.join(peers)}" if peers else ""
        requires = (
            _tool("tc", "tc", target, "iproute2", f"{kind} needs it"),
            _req("qdisc:netem", _qdisc_probe(["netem", "delay", "1ms"]),
                 f"{target.name}: kernel has no sch_netem; {kind} cannot be injected", target),
            _req("qdisc:htb", _qdisc_probe(["htb"]), f"{target.name}: kernel has no sch_htb; {kind} cannot be injected",
                 target),
        )
        return _plan(spec, target, ctx, f"{describe(spec)} on {target.name} {dev}{where}",
                     _tc_inject(dev, ["netem", *leaf(spec)], v4, v6, whole_interface=not peers),
                     _tc_revert(dev), _tc_verify(dev), requires, (_tc_clobber(dev),))
    return build


DELAY = Param("delay", parse_duration, required=True, doc="added one-way delay, e.g. 300ms")
JITTER = Param("jitter", parse_duration, default=0.0, doc="random variation of the delay, e.g. 50ms (default 0)")
PERCENT = Param("percent", parse_percent, required=True, doc="share of packets, e.g. 5%")


def _latency_leaf(spec: FaultSpec) -> list[str]:
    delay, jitter = arg(spec, DELAY), arg(spec, JITTER)
    return ["delay", _ms(delay), *([_ms(jitter)] if jitter else [])]


def _latency_text(spec: FaultSpec) -> str:
    jitter = arg(spec, JITTER)
    return f"{_ms(arg(spec, DELAY))}" + (f" ±{_ms(jitter)}" if jitter else "") + " latency"


def _pct_leaf(word: str) -> Callable[[FaultSpec], list[str]]:
    return lambda spec: [word, _pct(arg(spec, PERCENT))]


def _pct_text(word: str) -> Callable[[FaultSpec], str]:
    return lambda spec: f"{_pct(arg(spec, PERCENT))} {word}"


RATE = Param("rate", parse_rate, required=True, doc="bandwidth cap, e.g. 1mbit")
BURST = Param("burst", parse_size, default=4096, doc="bucket size, e.g. 32k (default 4k)")
QUEUE = Param("latency", parse_duration, default=0.4, doc="longest a packet may wait in the queue (default 400ms)")


def _build_bandwidth(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    dev = _dev(spec, target)
    rate, burst, queue = arg(spec, RATE), arg(spec, BURST), arg(spec, QUEUE)
    peers = arg(spec, PEERS)
    v4, v6 = resolve_peers(peers, ctx) if peers else ([], [])
    leaf = ["tbf", "rate", f"{rate}bit", "burst", str(max(burst, 1600)), "latency", _ms(queue)]
    requires = (
        _tool("tc", "tc", target, "iproute2", "bandwidth needs it"),
        _req("qdisc:htb", _qdisc_probe(["htb"]), f"{target.name}: kernel has no sch_htb; bandwidth cannot be injected",
             target),
        _req("qdisc:tbf", _qdisc_probe(["tbf", "rate", "1mbit", "burst", "32k", "latency", "400ms"]),
             f"{target.name}: kernel has no sch_tbf; bandwidth cannot be injected", target),
    )
    where = f" to {', '.join(peers)}" if peers else ""
    return _plan(spec, target, ctx, f"bandwidth capped at {_rate_text(rate)} on {target.name} {dev}{where} "
                 "(control channel exempt)",
                 _tc_inject(dev, leaf, v4, v6, whole_interface=not peers), _tc_revert(dev), _tc_verify(dev),
                 requires, (_tc_clobber(dev),))


def _rate_text(bps: int) -> str:
    for unit, mult in (("gbit", 10**9), ("mbit", 10**6), ("kbit", 10**3)):
        if bps >= mult:
            return f"{bps / mult:g}{unit}"
    return f"{bps}bit"


# -- network: nft -----------------------------------------------------------------------------


def _set(addrs: list[str]) -> str:
    return "{ " + ", ".join(addrs) + " }"


def _nft_requires(target: Target, kind: str) -> tuple[Requirement, ...]:
    return (
        _tool("nft", "nft", target, "nftables", f"{kind} needs it"),
        _req("nft:usable", "nft list tables", f"{target.name}: `nft list tables` fails (not root, or no nf_tables "
             f"in the kernel); {kind} cannot be injected", target),
    )


def _build_partition(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    peers = arg(spec, PEERS_REQUIRED)
    direction = arg(spec, DIRECTION)
    v4, v6 = resolve_peers(peers, ctx)
    inp: list[str] = []
    out: list[str] = []
    for fam, addrs in (("ip", v4), ("ip6", v6)):
        if addrs:
            if direction in ("both", "in"):
                inp.append(f"{fam} saddr {_set(addrs)} drop")
            if direction in ("both", "out"):
                out.append(f"{fam} daddr {_set(addrs)} drop")
    arrow = {"both": "from and to", "in": "from", "out": "to"}[direction]
    return _plan(spec, target, ctx, f"partition {target.name} {arrow} {', '.join(peers)} (nft, control channel exempt)",
                 _nft_inject(inp, out), NFT_REVERT, NFT_VERIFY, _nft_requires(target, "partition"), (NFT_CLOBBER,))


def _build_blackhole(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    dev = _dev(spec, target)
    direction = arg(spec, DIRECTION)
    inp = [f'iifname "{dev}" drop'] if direction in ("both", "in") else []
    out = [f'oifname "{dev}" drop'] if direction in ("both", "out") else []
    return _plan(spec, target, ctx, f"blackhole all traffic on {target.name} {dev} except the control channel",
                 _nft_inject(inp, out), NFT_REVERT, NFT_VERIFY, _nft_requires(target, "blackhole"), (NFT_CLOBBER,))


def _build_nft_loss(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    pct = arg(spec, PERCENT)
    n = round(pct)
    if n < 1:
        raise ValueError(f"packet-loss-nft works in whole percents; {pct:g}% rounds to 0")
    peers = arg(spec, PEERS)
    direction = arg(spec, DIRECTION)
    v4, v6 = resolve_peers(peers, ctx) if peers else ([], [])
    inp: list[str] = []
    out: list[str] = []
    matches_out = [f"ip daddr {_set(v4)} "] if v4 else []
    matches_out += [f"ip6 daddr {_set(v6)} "] if v6 else []
    matches_in = [f"ip saddr {_set(v4)} "] if v4 else []
    matches_in += [f"ip6 saddr {_set(v6)} "] if v6 else []
    for m in matches_in or [""]:
        if direction in ("both", "in"):
            inp.append(f"{m}numgen random mod 100 < {n} drop")
    for m in matches_out or [""]:
        if direction in ("both", "out"):
            out.append(f"{m}numgen random mod 100 < {n} drop")
    where = f" to {', '.join(peers)}" if peers else ""
    return _plan(spec, target, ctx, f"{n}% packet loss ({direction}) on {target.name}{where} (nft, control channel exempt)",
                 _nft_inject(inp, out), NFT_REVERT, NFT_VERIFY, _nft_requires(target, "packet-loss-nft"), (NFT_CLOBBER,))


# -- stress -----------------------------------------------------------------------------------


def _stress_timeout(ctx: PlanContext) -> int:
    # stress-ng's own --timeout is a second leash, the backstop: it ends by itself even if every guard failed.
    # It may stay long (the step's duration plus a grace): the heartbeat guard is the one that acts within seconds.
    return max(1, math.ceil((ctx.duration or 300.0) + ctx.leash_grace))


def _stress_plan(spec: FaultSpec, target: Target, ctx: PlanContext, argv: list[str], summary: str) -> FaultPlan:
    sid = safe_id(ctx.fault_id)
    pidf = f'"$crd"/stress-{sid}.pid'
    alive = f'{{ [ -s {pidf} ] && kill -s 0 -- "-$(cat {pidf})" 2>/dev/null; }}'
    full = ["stress-ng", *argv, "--timeout", f"{_stress_timeout(ctx)}s"]
    inject = (f"{STATE_DIR}\n"
              f"if {alive}; then exit 0; fi\n"
              f"rm -f {pidf}\n"
              # The sh records its pid, then becomes stress-ng: its own session, so a group kill reaches every worker.
              f"setsid -f sh -c 'echo $$ > \"$1\"; shift; exec \"$@\"' controlroom-stress {pidf} {sh(*full)} "
              "</dev/null >/dev/null 2>&1\n"
              f"i=0; while [ ! -s {pidf} ] && [ $i -lt 200 ]; do sleep 0.01; i=$((i+1)); done\n"
              "sleep 0.2\n"
              f"{alive} || {{ echo 'stress-ng did not start or exited at once' >&2; exit 1; }}")
    revert = (f"{STATE_DIR}\n"
              f'if [ -s {pidf} ]; then cr_g=$(cat {pidf}); case "$cr_g" in ""|*[!0-9]*|0|1) rm -f {pidf}; exit 0;; esac\n'
              '  kill -s TERM -- "-$cr_g" 2>/dev/null; i=0\n'
              '  while kill -s 0 -- "-$cr_g" 2>/dev/null && [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done\n'
              f'  kill -s KILL -- "-$cr_g" 2>/dev/null; rm -f {pidf}; fi; exit 0')
    verify = f"{STATE_DIR}\nif {alive}; then echo 'stress-ng is still running' >&2; exit 1; fi"
    requires = (_tool("stress-ng", "stress-ng", target, "stress-ng", f"{spec.type} needs it"),)
    return _plan(spec, target, ctx, summary, inject, revert, verify, requires, (verify,))


LOAD = Param("load", parse_percent, default=100.0, doc="CPU load per worker, e.g. 80% (default 100%)")
VM_BYTES = Param("size", parse_size, default=256 * 1024**2, doc="memory per worker, e.g. 512M (default 256M)")
HDD = Param("hdd", lambda v: 0 if v == 0 else _count(v), default=0,
            doc="extra workers writing temporary files (default 0: sync() workers only)")
TEMP = Param("path", _path, default="/tmp", doc="directory the hdd workers write in (default /tmp)")


def _build_cpu(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    n, load = arg(spec, WORKERS), arg(spec, LOAD)
    return _stress_plan(spec, target, ctx, ["--cpu", str(n), "--cpu-load", str(round(load))],
                        f"CPU stress on {target.name}: {n} worker(s) at {load:g}%")


def _build_memory(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    n, size = arg(spec, WORKERS), arg(spec, VM_BYTES)
    return _stress_plan(spec, target, ctx, ["--vm", str(n), "--vm-bytes", str(size), "--vm-keep"],
                        f"memory stress on {target.name}: {n} worker(s) x {size // 1024**2} MiB")


def _build_io(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    n, hdd, path = arg(spec, WORKERS), arg(spec, HDD), arg(spec, TEMP)
    argv = ["--io", str(n)]
    if hdd:
        argv += ["--hdd", str(hdd), "--hdd-bytes", "64M", "--temp-path", path]
    return _stress_plan(spec, target, ctx, argv, f"I/O stress on {target.name}: {n} sync worker(s)"
                        + (f", {hdd} writer(s) in {path}" if hdd else ""))


# -- disk, services, commands -----------------------------------------------------------------

FILL_PATH = Param("path", _path, required=True,
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
        _tool("fallocate", "fallocate", target, "util-linux", "disk-fill needs it"),
        Requirement("safe directory", Shell(_safe_parent(path), sudo=target.sudo),
                    f"{target.name}: the directory of {path} is writable by other users, or belongs to neither root "
                    "nor the ssh user; choose one only they can write, e.g. /var/lib/controlroom-fill"),
        Requirement("free disk", Shell(free_check, sudo=target.sudo),
                    f"{target.name}: not enough free space at {os.path.dirname(path)} for {size} plus keep_free"),
    )
    return _plan(spec, target, ctx, f"fill {size // 1024**2} MiB at {path} on {target.name}",
                 inject, revert, verify, requires, (clobber,))


UNIT = Param("unit", _unit, required=True, doc="systemd unit, e.g. nginx.service")


def _build_service_stop(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    unit = arg(spec, UNIT)
    requires = (_req("systemd", "command -v systemctl && [ -d /run/systemd/system ]",
                     f"{target.name}: no systemd (systemctl missing or not running); service-stop cannot be injected",
                     target),)
    return _plan(spec, target, ctx, f"stop {unit} on {target.name}",
                 sh("systemctl", "stop", "--", unit), sh("systemctl", "start", "--", unit),
                 sh("systemctl", "is-active", "--quiet", "--", unit), requires)


INJECT = Param("inject", _text, required=True, doc="shell command that injects the fault (written by you)")
REVERT = Param("revert", _text, required=True, doc="shell command that reverts it; must be idempotent")
VERIFY = Param("verify", _text, required=True, doc="shell command that succeeds only when the fault is gone")


def _build_command(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    # The scenario author's own shell: run as written, nothing else is interpolated into it.
    inject, revert, verify = arg(spec, INJECT), arg(spec, REVERT), arg(spec, VERIFY)
    first = inject.strip().splitlines()[0][:60]
    return _plan(spec, target, ctx, f"command on {target.name}: {first}", inject, revert, verify, ())


def _ft(name: str, params: tuple[Param, ...], build: Any, doc: str) -> FaultType:
    return FaultType(name=name, params=params, target_kinds=KINDS, build=build, doc=doc)


FAULTS: list[FaultType] = [
    _ft("latency", (DELAY, JITTER, PEERS, IFACE), _netem_builder("latency", _latency_leaf, _latency_text),
        "netem delay (and jitter) on egress; only to `peers` when given; the control channel is exempt"),
    _ft("loss", (PERCENT, PEERS, IFACE), _netem_builder("loss", _pct_leaf("loss"), _pct_text("packet loss")),
        "netem packet loss on egress; see packet-loss-nft for kernels without netem"),
    _ft("corrupt", (PERCENT, PEERS, IFACE), _netem_builder("corrupt", _pct_leaf("corrupt"), _pct_text("corruption")),
        "netem bit corruption on egress"),
    _ft("duplicate", (PERCENT, PEERS, IFACE),
        _netem_builder("duplicate", _pct_leaf("duplicate"), _pct_text("duplication")),
        "netem packet duplication on egress"),
    _ft("bandwidth", (RATE, BURST, QUEUE, PEERS, IFACE), _build_bandwidth,
        "egress rate limit: htb root, tbf leaf, the control channel in an unlimited class"),
    _ft("partition", (PEERS_REQUIRED, DIRECTION), _build_partition,
        "drop traffic from/to peers (table inet controlroom), control channel exempt"),
    _ft("blackhole", (DIRECTION, IFACE), _build_blackhole,
        "drop all traffic on the interface except the control channel"),
    _ft("packet-loss-nft", (PERCENT, PEERS, DIRECTION), _build_nft_loss,
        "random packet loss with nft numgen: the netem-free fallback"),
    _ft("cpu-stress", (WORKERS, LOAD), _build_cpu, "stress-ng --cpu"),
    _ft("memory-stress", (WORKERS, VM_BYTES), _build_memory, "stress-ng --vm"),
    _ft("io-stress", (WORKERS, HDD, TEMP), _build_io, "stress-ng --io (and --hdd)"),
    _ft("disk-fill", (FILL_PATH, FILL_SIZE, KEEP_FREE), _build_disk_fill,
        "fallocate a file, refusing when less than keep_free would remain"),
    _ft("service-stop", (UNIT,), _build_service_stop, "systemctl stop / start"),
    _ft("command", (INJECT, REVERT, VERIFY), _build_command,
        "your own inject / revert / verify shell commands"),
]

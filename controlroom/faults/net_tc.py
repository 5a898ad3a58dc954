"""Network faults with tc: netem (latency, loss, corruption, duplication) and a bandwidth cap, on egress.

An htb root qdisc with our own handle (`TC_HANDLE`) carries two classes: the control channel and every
traffic the fault leaves alone go to the untouched one, the faulted traffic to the other. The revert deletes
our root only (found by its handle): a qdisc someone else put there is never removed — pre-flight refuses to
clobber it in the first place.
"""

from __future__ import annotations

from collections.abc import Callable

from controlroom.faults.base import Builder, FaultType, Param, PlanContext, arg
from controlroom.faults.host import KINDS, host_plan, requirement, tool
from controlroom.faults.net import CONTROL_PEER, IFACE, PEERS, PERCENT, device, resolve_peers
from controlroom.faults.plan import FaultPlan
from controlroom.faults.shell import q, sh
from controlroom.scenario.model import FaultSpec, Target
from controlroom.units import parse_duration, parse_rate, parse_size

TC_HANDLE = "c0de"  # our root qdisc handle: distinctive, so a revert never deletes someone else's qdisc


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


def _ms(seconds: float) -> str:
    return f"{round(seconds * 1000, 3):g}ms"


def _pct(value: float) -> str:
    return f"{value:g}%"


def _netem_builder(kind: str, leaf: Callable[[FaultSpec], list[str]], describe: Callable[[FaultSpec], str]) -> Builder:
    def build(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
        dev = device(spec, target)
        peers = arg(spec, PEERS)
        v4, v6 = resolve_peers(peers, ctx) if peers else ([], [])
        where = f" to {', '.join(peers)}" if peers else ""
        requires = (
            tool("tc", target, "iproute2", f"{kind} needs it"),
            requirement("qdisc:netem", _qdisc_probe(["netem", "delay", "1ms"]),
                        f"{target.name}: kernel has no sch_netem; {kind} cannot be injected", target),
            requirement("qdisc:htb", _qdisc_probe(["htb"]),
                        f"{target.name}: kernel has no sch_htb; {kind} cannot be injected", target),
        )
        return host_plan(spec, target, ctx, f"{describe(spec)} on {target.name} {dev}{where}",
                         _tc_inject(dev, ["netem", *leaf(spec)], v4, v6, whole_interface=not peers),
                         _tc_revert(dev), _tc_verify(dev), requires, (_tc_clobber(dev),))
    return build


DELAY = Param("delay", parse_duration, required=True, doc="added one-way delay, e.g. 300ms")
JITTER = Param("jitter", parse_duration, default=0.0, doc="random variation of the delay, e.g. 50ms (default 0)")


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
    dev = device(spec, target)
    rate, burst, queue = arg(spec, RATE), arg(spec, BURST), arg(spec, QUEUE)
    peers = arg(spec, PEERS)
    v4, v6 = resolve_peers(peers, ctx) if peers else ([], [])
    leaf = ["tbf", "rate", f"{rate}bit", "burst", str(max(burst, 1600)), "latency", _ms(queue)]
    requires = (
        tool("tc", target, "iproute2", "bandwidth needs it"),
        requirement("qdisc:htb", _qdisc_probe(["htb"]),
                    f"{target.name}: kernel has no sch_htb; bandwidth cannot be injected", target),
        requirement("qdisc:tbf", _qdisc_probe(["tbf", "rate", "1mbit", "burst", "32k", "latency", "400ms"]),
                    f"{target.name}: kernel has no sch_tbf; bandwidth cannot be injected", target),
    )
    where = f" to {', '.join(peers)}" if peers else ""
    return host_plan(spec, target, ctx, f"bandwidth capped at {_rate_text(rate)} on {target.name} {dev}{where} "
                     "(control channel exempt)",
                     _tc_inject(dev, leaf, v4, v6, whole_interface=not peers), _tc_revert(dev), _tc_verify(dev),
                     requires, (_tc_clobber(dev),))


def _rate_text(bps: int) -> str:
    for unit, mult in (("gbit", 10**9), ("mbit", 10**6), ("kbit", 10**3)):
        if bps >= mult:
            return f"{bps / mult:g}{unit}"
    return f"{bps}bit"


FAULTS: list[FaultType] = [
    FaultType("latency", (DELAY, JITTER, PEERS, IFACE), KINDS,
              _netem_builder("latency", _latency_leaf, _latency_text),
              "netem delay (and jitter) on egress; only to `peers` when given; the control channel is exempt"),
    FaultType("loss", (PERCENT, PEERS, IFACE), KINDS, _netem_builder("loss", _pct_leaf("loss"), _pct_text("packet loss")),
              "netem packet loss on egress; see packet-loss-nft for kernels without netem"),
    FaultType("corrupt", (PERCENT, PEERS, IFACE), KINDS,
              _netem_builder("corrupt", _pct_leaf("corrupt"), _pct_text("corruption")), "netem bit corruption on egress"),
    FaultType("duplicate", (PERCENT, PEERS, IFACE), KINDS,
              _netem_builder("duplicate", _pct_leaf("duplicate"), _pct_text("duplication")),
              "netem packet duplication on egress"),
    FaultType("bandwidth", (RATE, BURST, QUEUE, PEERS, IFACE), KINDS, _build_bandwidth,
              "egress rate limit: htb root, tbf leaf, the control channel in an unlimited class"),
]

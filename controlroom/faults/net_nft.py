"""Network faults with nftables: partition, blackhole, and random packet loss (the netem-free fallback).

Every rule lives in one table of our own (`table inet controlroom`), replaced atomically by `nft -f`: one
delete reverts it all, and a table of that name already present is refused at pre-flight (an earlier
session's, for `recover`). The control channel is accepted first in both chains, before any drop.
"""

from __future__ import annotations

from controlroom.faults.base import FaultType, PlanContext, arg
from controlroom.faults.host import KINDS, host_plan, requirement, tool
from controlroom.faults.net import CONTROL_PEER, DIRECTION, IFACE, PEERS, PEERS_REQUIRED, PERCENT, device, resolve_peers
from controlroom.faults.plan import FaultPlan, Requirement
from controlroom.scenario.model import FaultSpec, Target

NFT_TABLE = "controlroom"  # `table inet controlroom`: one delete reverts every rule


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

def _set(addrs: list[str]) -> str:
    return "{ " + ", ".join(addrs) + " }"


def _nft_requires(target: Target, kind: str) -> tuple[Requirement, ...]:
    return (
        tool("nft", target, "nftables", f"{kind} needs it"),
        requirement("nft:usable", "nft list tables", f"{target.name}: `nft list tables` fails (not root, or no "
                    f"nf_tables in the kernel); {kind} cannot be injected", target),
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
    return host_plan(spec, target, ctx, f"partition {target.name} {arrow} {', '.join(peers)} (nft, control channel exempt)",
                     _nft_inject(inp, out), NFT_REVERT, NFT_VERIFY, _nft_requires(target, "partition"), (NFT_CLOBBER,))


def _build_blackhole(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    dev = device(spec, target)
    direction = arg(spec, DIRECTION)
    inp = [f'iifname "{dev}" drop'] if direction in ("both", "in") else []
    out = [f'oifname "{dev}" drop'] if direction in ("both", "out") else []
    return host_plan(spec, target, ctx, f"blackhole all traffic on {target.name} {dev} except the control channel",
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
    return host_plan(spec, target, ctx, f"{n}% packet loss ({direction}) on {target.name}{where} (nft, control channel exempt)",
                     _nft_inject(inp, out), NFT_REVERT, NFT_VERIFY, _nft_requires(target, "packet-loss-nft"), (NFT_CLOBBER,))



FAULTS: list[FaultType] = [
    FaultType("partition", (PEERS_REQUIRED, DIRECTION), KINDS, _build_partition,
              "drop traffic from/to peers (table inet controlroom), control channel exempt"),
    FaultType("blackhole", (DIRECTION, IFACE), KINDS, _build_blackhole,
              "drop all traffic on the interface except the control channel"),
    FaultType("packet-loss-nft", (PERCENT, PEERS, DIRECTION), KINDS, _build_nft_loss,
              "random packet loss with nft numgen: the netem-free fallback"),
]

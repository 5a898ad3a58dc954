"""What the network faults (`net_tc`, `net_nft`) share: the control channel's exemption, and their peers.

The control channel is never cut: rules read `$SSH_CONNECTION` on the host at run time and exempt SSH
between that client address and this sshd's port — the live connection, and a reconnect from the same
control room. Peers are IP addresses, networks or target names; a target name resolves to the address in
its ssh destination (through the same parse the SSH executor dials with).
"""

from __future__ import annotations

import ipaddress
import re

from controlroom.errors import TargetError
from controlroom.faults.base import Param, PlanContext, arg
from controlroom.faults.host import checked_string
from controlroom.faults.shell import MAX_COMMAND_BYTES, interface, ip_address
from controlroom.scenario.model import FaultSpec, Target
from controlroom.targets.destination import config_hostname, parse_destination
from controlroom.units import parse_percent

# Sets cr_cip/cr_cport/cr_sip/cr_sport from the live SSH connection (empty for local targets).
CONTROL_PEER = (
    "set -- ${SSH_CONNECTION:-}; cr_cip=${1:-}; cr_cport=${2:-}; cr_sip=${3:-}; cr_sport=${4:-}; "
    'case "$cr_cip" in ::ffff:*.*) cr_cip=${cr_cip#::ffff:};; esac; '
    'case "$cr_sip" in ::ffff:*.*) cr_sip=${cr_sip#::ffff:};; esac; '
    'case "$cr_cip$cr_cport$cr_sip$cr_sport" in *[!0-9a-fA-F.:]*) '
    "echo 'controlroom: unexpected SSH_CONNECTION; refusing to touch the network' >&2; exit 3;; esac"
)


# Each peer becomes a rule (tc: one `tc filter add` line of ~150 bytes; nft: a set element per direction) of
# ONE command, which must stay under MAX_COMMAND_BYTES: 500 IPv6 peers make ~75 KiB (tests/faults pin it).
MAX_PEERS = 500


def parse_peers(value: object) -> list[str]:
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


def parse_direction(value: object) -> str:
    if value not in ("both", "in", "out"):
        raise ValueError(f"expected one of both, in, out, got {value!r}")
    return str(value)


IFACE = Param("interface", checked_string(interface, "an interface name such as 'eth0'"),
              doc="network interface; defaults to the target's interface (eth0)")
PEERS = Param("peers", parse_peers, doc="IP addresses, networks or target names the fault applies to")
PEERS_REQUIRED = Param("peers", parse_peers, required=True, doc="IP addresses, networks or target names to cut off")
DIRECTION = Param("direction", parse_direction, default="both", doc="both | in | out (default both)")
PERCENT = Param("percent", parse_percent, required=True, doc="share of packets, e.g. 5%")


def device(spec: FaultSpec, target: Target) -> str:
    """The interface a fault acts on: its own `interface`, else the target's."""
    return arg(spec, IFACE) or interface(target.interface)


def _peer_host(peer: str, ctx: PlanContext) -> str:
    """A target name -> the host in its ssh destination (an alias -> its HostName); anything else as written."""
    if peer not in ctx.targets:
        return peer
    try:
        _, host, _ = parse_destination(ctx.targets[peer].ssh or "")
    except (TargetError, ValueError):
        return peer  # not a usable destination: the caller says the peer is not an address
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return config_hostname(host) or host
    return host


def resolve_peers(peers: list[str], ctx: PlanContext) -> tuple[list[str], list[str]]:
    """Peers -> (IPv4 list, IPv6 list); target names resolve to the address in their ssh destination."""
    v4: list[str] = []
    v6: list[str] = []
    for peer in peers:
        try:
            value = ip_address(_peer_host(peer, ctx))
        except ValueError:
            raise ValueError(f"peer {peer!r}: not an IP address or network, and not a target with an IP "
                             f"address; write the peer's IP") from None
        (v6 if ":" in value else v4).append(value)
    return v4, v6

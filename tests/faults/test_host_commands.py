"""Host fault plans as text: every value validated or quoted, every script valid POSIX sh, no root needed."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from controlroom.faults import net_nft, net_tc, stress, system
from controlroom.faults.catalogue import PlanContext, build_plan, catalogue, parse_params
from controlroom.faults.leash import safe_id
from controlroom.scenario.model import FaultSpec, Target

EXAMPLES: dict[str, dict[str, Any]] = {
    "latency": {"delay": "300ms", "jitter": "50ms", "peers": ["10.0.0.5", "fd00::5"]},
    "loss": {"percent": "5%"},
    "corrupt": {"percent": "1%", "peers": ["10.0.0.0/24"]},
    "duplicate": {"percent": "2%"},
    "bandwidth": {"rate": "1mbit", "burst": "32k", "latency": "400ms"},
    "partition": {"peers": ["api-1", "10.0.0.9"]},
    "blackhole": {},
    "packet-loss-nft": {"percent": "30%", "peers": ["10.0.0.9"]},
    "cpu-stress": {"workers": 2, "load": "80%"},
    "memory-stress": {"size": "64M"},
    "io-stress": {"hdd": 1},
    "disk-fill": {"path": "/var/tmp/controlroom-fill", "size": "1G"},
    "service-stop": {"unit": "nginx.service"},
    "command": {"inject": "touch /tmp/x", "revert": "rm -f /tmp/x", "verify": "[ ! -e /tmp/x ]"},
}
EVIL_ID = "step$(touch /tmp/pwned);`id`/0@h1"
FAULTS = [*net_tc.FAULTS, *net_nft.FAULTS, *stress.FAULTS, *system.FAULTS]  # the host faults
TARGETS = {"h1": Target("h1", "ssh", ssh="root@10.0.0.1"), "api-1": Target("api-1", "ssh", ssh="chaos@10.0.0.11:22")}


def plan(ftype: str, params: dict[str, Any] | None = None, fault_id: str = "s/0@h1", sudo: bool = False) -> Any:
    target = Target("h1", "ssh", ssh="root@10.0.0.1", sudo=sudo)
    ft = catalogue()[ftype]
    parsed, problems = parse_params(ft, EXAMPLES[ftype] if params is None else params)
    assert problems == []
    return build_plan(FaultSpec(ftype, "h1", parsed), target, PlanContext(fault_id, 60.0, TARGETS))


def scripts(p: Any) -> list[str]:
    assert p.leash is not None
    actions = [*p.inject, *p.revert, *p.verify, *p.clobber_check, p.leash.arm(90), p.leash.renewal(10),
               p.leash.disarm, *(r.check for r in p.requires)]
    return [a.script for a in actions]


def test_every_host_fault_is_in_the_catalogue_with_an_example() -> None:
    assert sorted(ft.name for ft in FAULTS) == sorted(EXAMPLES)
    for ft in FAULTS:
        assert ft.target_kinds == {"ssh", "local"}


@pytest.mark.parametrize("ftype", sorted(EXAMPLES))
def test_every_fault_has_inject_revert_verify_leash_and_valid_sh(ftype: str) -> None:
    p = plan(ftype, fault_id=EVIL_ID)
    assert p.inject and p.revert and p.verify and p.leash is not None and p.requires
    for script in scripts(p):
        check = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True, check=False)
        assert check.returncode == 0, f"{ftype}: {check.stderr}\n{script}"
        if ftype != "command":
            assert "touch /tmp/pwned" not in script and "`id`" not in script


@pytest.mark.parametrize("ftype", sorted(EXAMPLES))
def test_a_renewal_never_restarts_a_guard_that_fired(ftype: str) -> None:
    # Found merging issue 9: a plan wrapper rebuilt the Leash without its `renew`, so every heartbeat re-armed
    # (resurrected) a guard that had already fired and reverted the fault, and the room never heard of it.
    p = plan(ftype)
    assert p.leash is not None and p.leash.renew is not None and p.leash.gone_status
    renewal = p.leash.renewal(10).script
    assert "setsid" not in renewal and renewal != p.leash.arm(10).script


def test_claim_scripts_are_valid_sh_and_carry_no_unsafe_text() -> None:
    from controlroom.engine.heartbeat import batch
    from controlroom.faults.claim import HostClaim

    claim = HostClaim("s$(touch /tmp/pwned)", 12, "eve;`id`@box name", "2026-01-01T00:00:00Z")
    renewal = plan("partition").leash.renewal(10)
    for action in (claim.take(10), claim.release(), batch([claim.take(10), renewal])):
        assert action is not None
        check = subprocess.run(["sh", "-n", "-c", action.script], capture_output=True, text=True, check=False)
        assert check.returncode == 0, f"{check.stderr}\n{action.script}"
        assert "touch /tmp/pwned" not in action.script and "`id`" not in action.script and "box name" not in action.script


@pytest.mark.parametrize(("ftype", "params"), [
    ("partition", {"peers": ["10.0.0.1; touch /tmp/pwned"]}),
    ("partition", {"peers": ["10.0.0.1 }; flush ruleset; {"]}),
    ("partition", {"peers": ["$(reboot)"]}),
    ("latency", {"delay": "300ms; reboot"}),
    ("latency", {"delay": "300ms", "interface": "eth0;reboot"}),
    ("bandwidth", {"rate": "1mbit`reboot`"}),
    ("disk-fill", {"path": "/tmp/$(reboot)", "size": "1G"}),
    ("disk-fill", {"path": "/tmp/../etc/passwd", "size": "1G"}),
    ("service-stop", {"unit": "nginx;reboot"}),
    ("service-stop", {"unit": "--now"}),
    ("io-stress", {"path": "/tmp/a b", "hdd": 1}),
])
def test_metacharacters_in_parameters_are_refused_before_any_shell(ftype: str, params: dict[str, Any]) -> None:
    _, problems = parse_params(catalogue()[ftype], params)
    assert problems, f"{params} was accepted"


def test_peer_names_that_are_not_ips_are_refused_when_planning() -> None:
    with pytest.raises(ValueError, match="write the peer's IP"):
        plan("partition", {"peers": ["no-such-target"]})


def test_partition_resolves_target_names_to_their_address() -> None:
    inject = plan("partition").inject[0].script
    assert "ip saddr { 10.0.0.11, 10.0.0.9 } drop" in inject
    assert "ip daddr { 10.0.0.11, 10.0.0.9 } drop" in inject


def test_network_faults_exempt_the_live_control_channel_read_from_ssh_connection() -> None:
    for ftype in ("partition", "blackhole", "packet-loss-nft", "bandwidth", "latency"):
        inject = plan(ftype).inject[0].script
        assert "SSH_CONNECTION" in inject, ftype
    nft = plan("partition").inject[0].script
    assert nft.index("$cr_in") < nft.index("drop")  # accepted before anything is dropped
    tc = plan("bandwidth").inject[0].script
    assert 'match ip dst "$cr_cip/32" match ip sport "$cr_sport" 0xffff flowid c0de:10' in tc


def test_missing_netem_message_is_exact() -> None:
    netem = [r for r in plan("latency").requires if r.name == "qdisc:netem"]
    assert netem[0].message == "h1: kernel has no sch_netem; latency cannot be injected"


def test_netem_probe_never_touches_the_hosts_own_interfaces() -> None:
    probe = next(r for r in plan("loss").requires if r.name == "qdisc:netem").check.script
    assert "unshare -n tc qdisc add dev lo root netem" in probe and "eth0" not in probe


def test_stress_has_its_own_timeout_as_a_second_leash() -> None:
    inject = plan("cpu-stress").inject[0].script
    assert "--timeout 90s" in inject  # duration 60 s + grace 30 s
    assert "--cpu 2 --cpu-load 80" in inject


def test_sudo_targets_run_every_action_with_sudo_and_check_it() -> None:
    p = plan("partition", sudo=True)
    assert all(a.sudo for a in (*p.inject, *p.revert, *p.verify, p.leash.arm(5), p.leash.disarm))
    assert any(r.name == "sudo" for r in p.requires)


def test_packet_loss_nft_refuses_a_percent_that_rounds_to_zero() -> None:
    with pytest.raises(ValueError, match="rounds to 0"):
        plan("packet-loss-nft", {"percent": "0.2%"})


def test_fault_ids_become_safe_and_distinct_file_names() -> None:
    a, b = safe_id("s/0@h1"), safe_id("s_0@h1")
    assert a != b
    assert all(c.isalnum() or c in "_.-" for c in safe_id(EVIL_ID))


PEER_FAULTS = [ft.name for ft in FAULTS if "peers" in {p.name for p in ft.params}]


@pytest.mark.parametrize("ftype", PEER_FAULTS)
def test_the_most_peers_a_fault_takes_still_fit_in_one_command(ftype: str) -> None:
    from controlroom.faults.net import MAX_PEERS
    from controlroom.faults.shell import MAX_COMMAND_BYTES
    from controlroom.targets.ssh import SshExecutor

    # The longest kind of peer: full IPv6 addresses (each a tc filter line, or an nft set element per direction).
    peers = [f"fd00:{i:x}:ffff:ffff:ffff:ffff:ffff:{i:x}" for i in range(MAX_PEERS)]
    params = {**EXAMPLES[ftype], "peers": peers}
    p = plan(ftype, params, sudo=True)
    ex = SshExecutor("h1", "chaos@10.0.0.1")
    ex._remote_user = "chaos"  # the sudo prefix is part of the command line too
    longest = max(len(ex.command(a).encode()) for a in [*p.inject, *p.revert, *p.verify])
    assert longest <= MAX_COMMAND_BYTES, f"{ftype}: {longest} bytes with {MAX_PEERS} peers"
    ft = catalogue()[ftype]
    _, problems = parse_params(ft, {**params, "peers": [*peers, "10.0.0.1"]})
    assert problems == [("peers", problems[0][1])] and f"at most {MAX_PEERS}" in problems[0][1]

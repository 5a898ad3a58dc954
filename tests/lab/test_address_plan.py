"""The lab's address plan at fleet size (pure: no root, nothing created): which subnet holds N hosts, and a size
the subnet or a Linux bridge cannot hold refused in one line before anything is made."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from controlroom.lab import cli
from controlroom.lab.netns import MAX_HOSTS, LabConfig, LabError, neighbour_limits, subnet_for


@pytest.mark.parametrize(("n", "subnet"), [(1, "10.77.0.0/24"), (244, "10.77.0.0/24"), (245, "10.77.0.0/23"),
                                           (500, "10.77.0.0/23"), (501, "10.77.0.0/22"), (1000, "10.77.0.0/22")])
def test_the_default_subnet_is_the_smallest_that_holds_n_hosts(n: int, subnet: str) -> None:
    assert subnet_for(n) == subnet
    assert LabConfig(subnet=subnet).max_hosts >= n


def test_every_host_of_a_500_host_lab_has_its_own_address_inside_the_subnet_off_the_bridge_and_broadcast() -> None:
    cfg = LabConfig(prefix="cb", subnet=subnet_for(500))
    net = cfg.network
    ips = [ipaddress.IPv4Address(cfg.host_ip(i)) for i in range(1, 501)]
    assert len(set(ips)) == 500
    assert all(ip in net for ip in ips)
    assert cfg.bridge_ip not in {str(ip) for ip in ips}
    assert net.broadcast_address not in ips and net.network_address not in ips
    assert str(ips[-1]) == "10.77.1.254"  # the last host is the address below broadcast: the /23 is full


def test_a_base_address_is_rounded_to_the_wider_subnet() -> None:
    assert subnet_for(300, ipaddress.IPv4Address("10.75.1.0")) == "10.75.0.0/23"


def test_max_hosts_is_the_subnet_capacity_and_never_above_what_a_bridge_takes() -> None:
    assert LabConfig(subnet="10.77.0.0/24").max_hosts == 244
    assert LabConfig(subnet="10.77.0.0/23").max_hosts == 500
    assert LabConfig(subnet="10.77.0.0/20").max_hosts == MAX_HOSTS


@pytest.mark.parametrize(("subnet", "n", "said"), [
    ("10.77.0.0/24", 245, "subnet 10.77.0.0/24 holds at most 244 hosts; use --subnet 10.77.0.0/23"),
    ("10.77.0.0/23", 501, "subnet 10.77.0.0/23 holds at most 500 hosts; use --subnet 10.77.0.0/22"),
    ("10.77.0.0/16", MAX_HOSTS + 1, f"a lab holds at most {MAX_HOSTS} hosts"),
    ("10.77.0.0/24", 0, "at least 1 host"),
])
def test_a_size_the_subnet_cannot_hold_is_refused_with_the_subnet_to_use(subnet: str, n: int, said: str) -> None:
    with pytest.raises(LabError, match=said.replace(".", r"\.").replace("/", "/")):
        LabConfig(subnet=subnet).check_size(n)


def test_cli_refuses_a_bad_size_in_one_line_exit_2_before_creating_anything(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--dir", str(tmp_path), "up", "--hosts", "300", "--subnet", "10.77.0.0/24"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "use --subnet 10.77.0.0/23" in err
    assert cli.main(["--dir", str(tmp_path), "up", "--hosts", str(MAX_HOSTS + 1)]) == 2
    assert f"at most {MAX_HOSTS} hosts" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no state file, no host directory


def test_the_arp_table_is_raised_for_a_fleet_and_never_lowered() -> None:
    # The table is shared by every namespace: 500 hosts make ~1,000 entries, the default hard limit is 1,024.
    assert neighbour_limits(3, 512, 1024) is None  # the test labs leave the machine alone
    assert neighbour_limits(500, 512, 1024) == (1256, 2512)
    assert neighbour_limits(128, 512, 1024) is None  # up to 128 hosts: the defaults hold
    assert neighbour_limits(500, 4096, 8192) is None
    assert neighbour_limits(1000, 3000, 1024) == (3000, 4512)

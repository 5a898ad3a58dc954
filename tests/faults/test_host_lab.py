"""Every host fault injected on a real lab host over SSH, its effect seen from another host, reverted, verified.

Clean means: no `inet controlroom` table, the default root qdisc, no leash or
stress files, no stress-ng process — checked on the host itself after each fault.
"""
# ruff: noqa: ASYNC221, ASYNC240  (tests look at the host synchronously on purpose)

from __future__ import annotations

import asyncio
import shlex
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from controlroom.engine.preflight_host import preflight_host, preflight_hosts
from controlroom.faults.catalogue import PlanContext, build_plan, catalogue, parse_params
from controlroom.faults.plan import FaultPlan
from controlroom.lab.netns import Lab
from controlroom.scenario.model import FaultSpec, Target
from controlroom.targets.base import Shell
from controlroom.targets.ssh import SshExecutor
from tests.deps import not_applicable
from tests.lab.fixtures import assert_clean, host_state, lab_fixture, needs_lab  # noqa: F401

pytestmark = [pytest.mark.root, needs_lab]


@pytest.fixture
async def h1(lab: Lab) -> AsyncIterator[SshExecutor]:
    ex = SshExecutor("h1", "h1", config=[str(lab.config.ssh_config)])
    yield ex
    await ex.close()


def make_plan(lab: Lab, ftype: str, params: dict[str, Any], duration: float = 20.0, target: str = "h1",
              fault_id: str | None = None) -> FaultPlan:
    parsed, problems = parse_params(catalogue()[ftype], params)
    assert problems == []
    targets = {h.name: Target(h.name, "ssh", ssh=f"root@{h.ip}") for h in lab.hosts}
    fid = fault_id or f"t-{uuid.uuid4().hex[:6]}/0@{target}"
    return build_plan(FaultSpec(ftype, target, parsed), targets[target], PlanContext(fid, duration, targets))


async def inject(ex: SshExecutor, plan: FaultPlan, leash: float = 60.0) -> None:
    for req in plan.requires:
        assert (await ex.run(req.check)).ok, req.message
    for action in plan.clobber_check:
        res = await ex.run(action)
        assert res.ok, res.detail
    assert plan.leash is not None
    assert (await ex.run(plan.leash.arm(leash))).ok
    for action in plan.inject:
        res = await ex.run(action)
        assert res.ok, res.detail
    # Idempotent: injecting twice changes nothing.
    for action in plan.inject:
        assert (await ex.run(action)).ok


async def revert(ex: SshExecutor, plan: FaultPlan) -> None:
    for _ in range(2):  # reverting twice is harmless
        for action in plan.revert:
            res = await ex.run(action)
            assert res.ok, res.detail
    assert plan.leash is not None
    assert (await ex.run(plan.leash.disarm)).ok
    for action in plan.verify:
        res = await ex.run(action)
        assert res.ok, res.detail


def tcp_connects(lab: Lab, src: str, ip: str, port: int) -> bool:
    return lab.exec(src, f"nc -z -w 1 {ip} {port}").returncode == 0


def fetch_seconds(lab: Lab, src: str, url: str, timeout: float = 10.0) -> tuple[float, str]:
    code = ("import sys, time, urllib.request\nt = time.monotonic()\n"
            f"try:\n  body = urllib.request.urlopen({url!r}, timeout={timeout}).read()\n  out = str(len(body))\n"
            "except Exception as err:\n  out = type(err).__name__\n"
            "print(round(time.monotonic() - t, 3), out)")
    out = lab.exec(src, f"{sys.executable} -c {shlex.quote(code)}", timeout=timeout + 5).stdout.split()
    return float(out[0]), out[1]


async def test_partition_cuts_peers_but_not_the_control_channel(lab: Lab, h1: SshExecutor) -> None:
    ip1 = lab.host("h1").ip
    plan = make_plan(lab, "partition", {"peers": [lab.host("h3").ip]})
    await inject(h1, plan)
    try:
        assert not tcp_connects(lab, "h3", ip1, 22)
        assert tcp_connects(lab, "h2", ip1, 22)  # only the named peer is cut
        assert (await h1.run(Shell("true", timeout=5))).ok
    finally:
        await revert(h1, plan)
    assert tcp_connects(lab, "h3", ip1, 22)
    assert_clean(lab, "h1")


async def test_blackhole_drops_everything_except_the_control_channel(lab: Lab, h1: SshExecutor) -> None:
    plan = make_plan(lab, "blackhole", {})
    await inject(h1, plan)
    try:
        assert not tcp_connects(lab, "h2", lab.host("h1").ip, 22)
        assert (await h1.run(Shell("true", timeout=5))).ok
    finally:
        await revert(h1, plan)
    assert tcp_connects(lab, "h2", lab.host("h1").ip, 22)
    assert_clean(lab, "h1")


async def test_packet_loss_without_netem_drops_about_the_asked_share(lab: Lab, h1: SshExecutor) -> None:
    plan = make_plan(lab, "packet-loss-nft", {"percent": "40%", "direction": "out"})
    await inject(h1, plan)
    try:
        out = lab.exec("h3", f"ping -n -q -c 100 -i 0.005 -W 1 {lab.host('h1').ip}").stdout
        loss = float(out.split("% packet loss")[0].rsplit(" ", 1)[1])
        assert 15 <= loss <= 70, out
        assert (await h1.run(Shell("true", timeout=5))).ok
    finally:
        await revert(h1, plan)
    assert_clean(lab, "h1")


async def test_bandwidth_throttles_data_but_not_the_control_channel(lab: Lab, h1: SshExecutor) -> None:
    assert lab.state is not None
    blob = lab.state.service["front"] + "blob?bytes=150000"
    fast, size = fetch_seconds(lab, "h3", blob)
    assert size == "150000" and fast < 0.5
    plan = make_plan(lab, "bandwidth", {"rate": "1mbit", "burst": "32k"})
    await inject(h1, plan)
    try:
        slow, size = fetch_seconds(lab, "h3", blob)
        assert size == "150000" and slow > 0.9  # 1.2 Mbit at 1 Mbit/s
        started = time.monotonic()
        res = await h1.run(Shell("head -c 1000000 /dev/zero"))
        assert len(res.stdout) == 1000000 and time.monotonic() - started < 3.0  # 8 Mbit: 8 s if it were throttled
    finally:
        await revert(h1, plan)
    again, _ = fetch_seconds(lab, "h3", blob)
    assert again < 0.8
    assert_clean(lab, "h1")


async def test_cpu_memory_and_io_stress_show_load_and_are_gone_after_revert(lab: Lab, h1: SshExecutor) -> None:
    plans = [make_plan(lab, "cpu-stress", {}), make_plan(lab, "memory-stress", {"size": "64M"}),
             make_plan(lab, "io-stress", {})]
    for p in plans:
        await inject(h1, p)
    try:
        # Poll: on a busy machine the worker may need a few seconds of wall time for one second of CPU.
        deadline = time.monotonic() + 15
        while True:
            await asyncio.sleep(0.5)
            out = lab.exec("h1", "ps -eo comm=,times=,rss= | grep '^stress-ng-'").stdout
            rows = [line.split() for line in out.splitlines()]
            cpu = [r for r in rows if r[0] == "stress-ng-cpu"]
            vm = [r for r in rows if r[0] == "stress-ng-vm"]
            io = [r for r in rows if r[0] == "stress-ng-io"]
            if (cpu and int(cpu[0][1]) >= 1 and vm and max(int(r[2]) for r in vm) > 50_000) \
                    or time.monotonic() > deadline:
                break
        assert cpu and int(cpu[0][1]) >= 1, out  # a second of CPU time burnt
        assert vm and max(int(r[2]) for r in vm) > 50_000, out  # > 50 MB resident
        assert io, out
    finally:
        for p in plans:
            await revert(h1, p)
    assert_clean(lab, "h1")


async def test_disk_fill_allocates_and_keeps_the_free_space_floor(lab: Lab, h1: SshExecutor, tmp_path: Path) -> None:
    path = str(tmp_path / "controlroom-fill")  # a directory only root writes: /tmp itself is refused
    too_big = make_plan(lab, "disk-fill", {"path": path, "size": "1M", "keep_free": "100000G"})
    res = await h1.run(too_big.inject[0])
    assert not res.ok and "not enough free space" in res.stderr and not Path(path).exists()
    plan = make_plan(lab, "disk-fill", {"path": path, "size": "20M", "keep_free": "10M"})
    await inject(h1, plan)
    try:
        assert Path(path).stat().st_blocks * 512 >= 20 * 1024**2
    finally:
        await revert(h1, plan)
    assert not Path(path).exists()
    assert_clean(lab, "h1")


async def test_disk_fill_never_takes_over_an_existing_file(lab: Lab, h1: SshExecutor, tmp_path: Path) -> None:
    keep = tmp_path / "precious"
    keep.write_text("data")
    plan = make_plan(lab, "disk-fill", {"path": str(keep), "size": "1M", "keep_free": "1M"})
    assert not (await h1.run(plan.clobber_check[0])).ok
    assert not (await h1.run(plan.inject[0])).ok
    assert (await h1.run(plan.revert[0])).ok
    assert keep.read_text() == "data"


async def test_command_fault_runs_the_declared_commands(lab: Lab, h1: SshExecutor) -> None:
    flag = f"/tmp/controlroom-cmd-{uuid.uuid4().hex[:6]}"
    plan = make_plan(lab, "command", {"inject": f"touch {flag}", "revert": f"rm -f {flag}", "verify": f"[ ! -e {flag} ]"})
    await inject(h1, plan)
    assert Path(flag).exists()
    await revert(h1, plan)
    assert not Path(flag).exists()
    assert_clean(lab, "h1")


async def test_preflight_names_the_missing_netem_exactly(lab: Lab, h1: SshExecutor) -> None:
    if subprocess.run(["unshare", "-n", "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"],
                      capture_output=True, check=False).returncode == 0:
        pytest.skip(not_applicable("this kernel has sch_netem"))
    checks = await preflight_host(h1, [make_plan(lab, "latency", {"delay": "300ms"})])
    by_name = {c.name: c for c in checks}
    assert by_name["host key"].ok and by_name["reachable"].ok and by_name["tool:tc"].ok
    assert not by_name["qdisc:netem"].ok
    assert by_name["qdisc:netem"].detail == "h1: kernel has no sch_netem; latency cannot be injected"
    assert "c0de" not in host_state(lab, "h1")  # the probe left nothing behind


async def test_preflight_refuses_service_stop_without_systemd(lab: Lab, h1: SshExecutor) -> None:
    checks = await preflight_host(h1, [make_plan(lab, "service-stop", {"unit": "nginx.service"})])
    failed = [c for c in checks if not c.ok]
    assert [c.detail for c in failed] == ["h1: no systemd (systemctl missing or not running); "
                                          "service-stop cannot be injected"]


async def test_preflight_sees_a_leftover_table_and_suggests_recover(lab: Lab, h1: SshExecutor) -> None:
    lab.exec("h1", "nft add table inet controlroom")
    try:
        checks = await preflight_host(h1, [make_plan(lab, "partition", {"peers": [lab.host("h2").ip]})])
        clobber = [c for c in checks if c.name.startswith("nothing to clobber")]
        assert len(clobber) == 1 and not clobber[0].ok and "controlroom recover" in clobber[0].detail
        assert all(c.ok for c in checks if c not in clobber)
    finally:
        lab.exec("h1", "nft delete table inet controlroom")


async def test_preflight_reports_a_wrong_host_key_without_running_anything(lab: Lab, tmp_path: Path) -> None:
    (tmp_path / "kh").write_text("")
    ex = SshExecutor("h2", "h2", config=[str(lab.config.ssh_config)], known_hosts=str(tmp_path / "kh"))
    checks = await preflight_host(ex, [make_plan(lab, "partition", {"peers": [lab.host("h1").ip]}, target="h2")])
    assert [(c.name, c.ok) for c in checks] == [("host key", False)]
    assert "SHA256:" in checks[0].detail


async def test_pause_makes_a_request_through_the_front_time_out(lab: Lab) -> None:
    if "process-pause" not in catalogue():
        pytest.skip(not_applicable("process-pause is not registered"))
    assert lab.state is not None
    h2 = SshExecutor("h2", "h2", config=[str(lab.config.ssh_config)])
    plan = make_plan(lab, "process-pause", {"pidfile": lab.state.service["backend_pidfile"]}, target="h2")
    try:
        for action in plan.inject:
            assert (await h2.run(action)).ok
        try:
            _, body = fetch_seconds(lab, "h3", lab.state.service["backend"], timeout=1.0)
            assert body in ("TimeoutError", "URLError", "timeout"), body
        finally:
            for action in plan.revert:
                assert (await h2.run(action)).ok
        _, body = fetch_seconds(lab, "h3", lab.state.service["backend"], timeout=3.0)
        assert body == "11"  # "backend ok\n"
    finally:
        await h2.close()


async def test_leash_reverts_by_itself_after_the_client_vanishes(lab: Lab) -> None:
    """The control room disappears mid-fault (connection aborted, no revert sent): the host cleans up alone."""
    execs = {n: SshExecutor(n, n, config=[str(lab.config.ssh_config)]) for n in ("h1", "h2")}
    plans = [make_plan(lab, "partition", {"peers": [lab.host("h3").ip]}, target="h1"),
             make_plan(lab, "bandwidth", {"rate": "1mbit"}, target="h2")]
    for p in plans:
        await inject(execs[p.target], p, leash=2.0)
    assert "controlroom" in host_state(lab, "h1") and "c0de" in host_state(lab, "h2")
    for ex in execs.values():
        ex.abort()
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        if "controlroom" not in host_state(lab, "h1").replace("/run/controlroom", "") \
                and "c0de" not in host_state(lab, "h2"):
            break
        await asyncio.sleep(0.25)
    assert_clean(lab, "h1")
    assert_clean(lab, "h2")
    assert tcp_connects(lab, "h3", lab.host("h1").ip, 22)


async def test_renewing_the_leash_keeps_the_fault_in(lab: Lab, h1: SshExecutor) -> None:
    plan = make_plan(lab, "partition", {"peers": [lab.host("h3").ip]})
    await inject(h1, plan, leash=3.0)
    try:
        for _ in range(4):
            await asyncio.sleep(1.0)
            assert plan.leash is not None
            assert (await h1.run(plan.leash.arm(3.0))).ok
        assert "table inet controlroom" in host_state(lab, "h1")  # 4 s later, still in thanks to renewals
    finally:
        await revert(h1, plan)
    assert_clean(lab, "h1")


async def test_metacharacters_in_ids_and_names_stay_inert_on_a_real_host(lab: Lab, tmp_path: Path) -> None:
    pwned = Path("/tmp/pwned")
    pwned.unlink(missing_ok=True)
    evil = "x;touch /tmp/pwned;$(touch /tmp/pwned)`touch /tmp/pwned`"
    ex = SshExecutor("h1", "h1", config=[str(lab.config.ssh_config)])
    try:
        for ftype, params in (("partition", {"peers": [lab.host("h3").ip]}), ("cpu-stress", {}),
                              ("disk-fill", {"path": f"{tmp_path}/cr-{uuid.uuid4().hex[:6]}", "size": "1M",
                                             "keep_free": "1M"})):
            plan = make_plan(lab, ftype, params, fault_id=f"{evil}/0@h1")
            await inject(ex, plan)
            await revert(ex, plan)
        assert not pwned.exists()
    finally:
        await ex.close()
    assert_clean(lab, "h1")


async def test_partition_from_the_control_room_itself_keeps_ssh_and_reconnects(lab: Lab, h1: SshExecutor) -> None:
    """Cutting h1 from the control room's own address: the service is cut, SSH (even a new connection) is not."""
    plan = make_plan(lab, "partition", {"peers": [lab.config.bridge_ip]})
    await inject(h1, plan)
    try:
        with pytest.raises(OSError):
            socket.create_connection((lab.host("h1").ip, 8080), timeout=1).close()
        h1.abort()  # the link drops; the next command dials a new connection through the partition
        res = await h1.run(Shell("echo back", timeout=10))
        assert res.ok and res.stdout == "back\n" and h1.connects == 2
    finally:
        await revert(h1, plan)
    socket.create_connection((lab.host("h1").ip, 8080), timeout=2).close()
    assert_clean(lab, "h1")


async def test_preflight_of_every_host_runs_in_parallel_and_reports_progress(lab: Lab) -> None:
    execs = {h.name: SshExecutor(h.name, h.name, config=[str(lab.config.ssh_config)]) for h in lab.hosts}
    plans = [make_plan(lab, "partition", {"peers": ["10.0.0.9"]}, target=h.name) for h in lab.hosts]
    seen: list[str] = []
    try:
        checks = await preflight_hosts(execs, plans, on_check=lambda c: seen.append(f"{c.target}:{c.name}"))
    finally:
        await asyncio.gather(*(ex.close() for ex in execs.values()))
    assert all(c.ok for c in checks), [c.detail for c in checks if not c.ok]
    assert sorted(seen) == sorted(f"{c.target}:{c.name}" for c in checks)  # every check announced as it finished
    assert [c.target for c in checks] == sorted(c.target for c in checks)  # the result is grouped by host
    for h in lab.hosts:
        names = [c.name for c in checks if c.target == h.name]
        assert names == ["host key", "reachable", "tool:setsid", "tool:nft", "nft:usable",
                         "nothing to clobber (partition)"]


async def test_a_partition_with_the_most_peers_allowed_is_injected_and_reverted(lab: Lab, h1: SshExecutor) -> None:
    from controlroom.faults.net import MAX_PEERS

    h3 = lab.host("h3").ip
    peers = [h3, *(f"10.99.{i // 250}.{i % 250 + 1}" for i in range(MAX_PEERS - 1))]
    plan = make_plan(lab, "partition", {"peers": peers})
    await inject(h1, plan)
    try:
        assert not tcp_connects(lab, "h3", lab.host("h1").ip, 22)
        assert (await h1.run(Shell("true", timeout=5))).ok
    finally:
        await revert(h1, plan)
    assert_clean(lab, "h1")


async def test_a_command_too_long_for_one_exec_is_refused_and_the_connection_kept(lab: Lab, h1: SshExecutor) -> None:
    assert (await h1.run(Shell("true", timeout=5))).ok
    conn = h1._conn
    # Sent, 300 KiB would make sshd reset the connection (and every fault on it with it).
    res = await h1.run(Shell(": " + "#" * (300 * 1024) + "\ntrue", timeout=5))
    assert not res.ok and "KiB one command can carry; not sent" in res.error, res.error
    assert h1._conn is conn and (await h1.run(Shell("echo still here", timeout=5))).stdout.strip() == "still here"

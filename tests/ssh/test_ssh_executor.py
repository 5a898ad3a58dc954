"""The SSH executor against real sshd hosts in the lab: reuse, no pty, timeouts, host keys, reconnects."""
# ruff: noqa: ASYNC220, ASYNC221, ASYNC240  (tests look at the host synchronously on purpose)

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from controlroom.errors import TargetError
from controlroom.faults.shell import sh
from controlroom.lab.netns import Lab
from controlroom.targets.base import Shell
from controlroom.targets.ssh import HostKeyMismatch, SshExecutor, fan_out, parse_destination
from tests.lab.fixtures import needs_lab

lab_only = [pytest.mark.root, needs_lab]


def executor(lab: Lab, host: str, **kw: object) -> SshExecutor:
    return SshExecutor(host, host, config=[str(lab.config.ssh_config)], **kw)  # type: ignore[arg-type]


def test_destinations_parse_user_host_and_port() -> None:
    assert parse_destination("chaos@10.0.0.21") == ("chaos", "10.0.0.21", None)
    assert parse_destination("chaos@db-1:2222") == ("chaos", "db-1", 2222)
    assert parse_destination("[fd00::1]:2200") == (None, "fd00::1", 2200)
    assert parse_destination("h1") == (None, "h1", None)


def test_sudo_wraps_the_quoted_script_and_keeps_the_control_peer_variable() -> None:
    ex = SshExecutor("db-1", "chaos@db-1", config=[])
    ex._remote_user = "chaos"
    script = "echo 'a b'; touch /tmp/x"
    words = shlex.split(ex.command(Shell(script, sudo=True)))
    assert words == ["sudo", "-n", "env", "SSH_CONNECTION=$SSH_CONNECTION", "sh", "-c", script]
    ex._remote_user = "root"
    assert shlex.split(ex.command(Shell(script, sudo=True))) == ["sh", "-c", script]


class TestInLab:
    pytestmark = lab_only

    async def test_one_connection_is_reused_and_commands_get_no_pty(self, lab: Lab) -> None:
        ex = executor(lab, "h1")
        try:
            for _ in range(5):
                res = await ex.run(Shell("tty; echo err >&2; exit 3", ok_codes=(3,)))
                assert res.ok and res.status == 3
                assert res.stdout.strip() == "not a tty" and res.stderr.strip() == "err"
            binary = await ex.run(Shell("printf 'a\\377b'"))  # not UTF-8: replaced, never an exception
            assert binary.ok and binary.stdout == "a\ufffdb"
            assert ex.connects == 1
            peer = ex.control_peer
            assert peer is not None and peer[2] == lab.host("h1").ip and peer[3] == 22
        finally:
            await ex.close()

    async def test_every_command_has_a_timeout_and_the_connection_survives_it(self, lab: Lab) -> None:
        ex = executor(lab, "h2")
        try:
            res = await ex.run(Shell("sleep 5", timeout=0.3))
            assert not res.ok and "timed out" in res.error and res.elapsed < 2
            assert (await ex.run(Shell("echo still"))).stdout == "still\n"
            assert ex.connects == 1
        finally:
            await ex.close()

    async def test_a_wrong_host_key_is_refused_with_the_offered_fingerprint(self, lab: Lab, tmp_path: Path) -> None:
        h1, h2 = lab.host("h1"), lab.host("h2")
        wrong = (Path(h1.dir) / "ssh_host_ed25519_key.pub").read_text().split()[:2]
        known = tmp_path / "known_hosts"
        known.write_text(f"h2,{h2.ip} {' '.join(wrong)}\n")
        real = subprocess.run(["ssh-keygen", "-lf", str(Path(h2.dir) / "ssh_host_ed25519_key.pub")],
                              capture_output=True, text=True, check=True).stdout.split()[1]
        ex = executor(lab, "h2", known_hosts=str(known))
        with pytest.raises(HostKeyMismatch) as info:
            await ex.connect()
        message = str(info.value)
        assert "\n" not in message and real in message and "not trusted" in message
        res = await ex.run(Shell("true"))
        assert not res.ok and real in res.error and not ex.connected

    async def test_a_config_that_switches_host_key_checking_off_is_refused(self, lab: Lab, tmp_path: Path) -> None:
        cfg = tmp_path / "config"
        cfg.write_text(f"Host loose\n  HostName {lab.host('h1').ip}\n  User root\n"
                       f"  IdentityFile {lab.config.client_key}\n  UserKnownHostsFile none\n")
        ex = SshExecutor("loose", "loose", config=[str(cfg)])
        with pytest.raises(TargetError, match="disables host-key checking"):
            await ex.connect()

    async def test_proxyjump_from_the_openssh_config_is_honoured(self, lab: Lab, tmp_path: Path) -> None:
        cfg = tmp_path / "config"
        cfg.write_text(lab.config.ssh_config.read_text()
                       + f"\nHost via-h1\n  HostName {lab.host('h3').ip}\n  ProxyJump h1\n  User root\n"
                         f"  IdentityFile {lab.config.client_key}\n  UserKnownHostsFile {lab.config.known_hosts}\n")
        known = lab.config.known_hosts.read_text()
        # The jumped-to host is checked under its own name, like OpenSSH does.
        (tmp_path / "kh").write_text(known + known.replace("h3,", "via-h1,"))
        cfg.write_text(cfg.read_text().replace(f"UserKnownHostsFile {lab.config.known_hosts}\n",
                                               f"UserKnownHostsFile {tmp_path / 'kh'}\n"))
        ex = SshExecutor("via", "via-h1", config=[str(cfg)])
        try:
            res = await ex.run(Shell("hostname; echo $SSH_CONNECTION"))
            assert res.ok, res.detail
            name, conn = res.stdout.split("\n")[:2]
            assert name == "h3" and conn.split()[0] == lab.host("h1").ip  # the connection came from the jump host
        finally:
            await ex.close()

    async def test_a_lost_connection_fails_the_action_then_reconnects(self, lab: Lab) -> None:
        ex = executor(lab, "h3")
        try:
            running = asyncio.ensure_future(ex.run(Shell("sleep 10", timeout=20)))
            await asyncio.sleep(0.3)
            # Kill this connection's sshd processes on the host (the awk itself is excluded by name).
            lab.exec("h3", "for p in $(ps -eo pid=,args= | awk '/sshd: root/ && !/awk/ {print $1}'); do kill -9 $p; done")
            res = await asyncio.wait_for(running, 5)
            assert not res.ok and res.error
            again = await ex.run(Shell("echo back"))
            assert again.ok and again.stdout == "back\n" and ex.connects == 2
            await asyncio.sleep(0.2)  # the dead connection's late callbacks must not drop the new one
            assert (await ex.run(Shell("true"))).ok and ex.connects == 2
        finally:
            await ex.close()

    async def test_fan_out_runs_on_every_host_at_once(self, lab: Lab) -> None:
        execs = [executor(lab, h.name) for h in lab.hosts]
        try:
            for ex in execs:
                await ex.connect()
            started = time.monotonic()
            results = await fan_out(execs, Shell("sleep 1; hostname"))
            assert {name: r.stdout.strip() for name, r in results.items()} == {h.name: h.name for h in lab.hosts}
            assert time.monotonic() - started < 2.5  # parallel, not 3 x 1 s
        finally:
            await asyncio.gather(*(e.close() for e in execs))

    async def test_quoted_metacharacters_reach_the_host_as_plain_text(self, lab: Lab) -> None:
        marker = Path("/tmp/controlroom-pwned-ssh")
        marker.unlink(missing_ok=True)
        ex = executor(lab, "h1")
        try:
            evil = f"a'; touch {marker}; echo '$(touch {marker})`touch {marker}`"
            res = await ex.run(Shell(sh("printf", "%s", evil), sudo=True))
            assert res.stdout == evil
            assert not marker.exists()
        finally:
            await ex.close()


@pytest.mark.root
@needs_lab
async def test_keys_from_an_ssh_agent_are_used(lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            await asyncio.sleep(0.02)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(lab.config.client_key)], env=env, check=True, capture_output=True)
        cfg = tmp_path / "config"  # no IdentityFile: the only way in is the agent's key
        cfg.write_text(f"Host agented\n  HostName {lab.host('h2').ip}\n  User root\n"
                       f"  UserKnownHostsFile {lab.config.known_hosts}\n")
        (tmp_path / "kh").write_text(lab.config.known_hosts.read_text().replace("h2,", "agented,h2,"))
        cfg.write_text(cfg.read_text().replace(str(lab.config.known_hosts), str(tmp_path / "kh")))
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh keys to fall back on
        ex = SshExecutor("agented", "agented", config=[str(cfg)])
        try:
            res = await ex.run(Shell("hostname"))
            assert res.ok and res.stdout == "h2\n", res.detail
        finally:
            await ex.close()
    finally:
        agent.terminate()
        agent.wait()

"""The SSH executor reads its OpenSSH config and known_hosts once, not at every connect (issue 18: a fleet's files
have a line per host, so reading them per connect cost O(hosts) each) — and a file that changed is read again, so
the cache never keeps a key or a host name the files no longer say."""

from __future__ import annotations

import os
from pathlib import Path

import asyncssh
import pytest

from controlroom.lab.netns import Lab
from controlroom.targets.base import Shell
from controlroom.targets.ssh import HostKeyMismatch, SshExecutor
from tests.lab.fixtures import needs_lab

pytestmark = [pytest.mark.root, needs_lab]


def _lab_files(lab: Lab, tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the lab's ssh config and known_hosts, so a test can change them."""
    known = tmp_path / "known_hosts"
    known.write_text(lab.config.known_hosts.read_text())
    cfg = tmp_path / "config"
    cfg.write_text(lab.config.ssh_config.read_text().replace(str(lab.config.known_hosts), str(known)))
    return cfg, known


def _touch_later(path: Path) -> None:
    # Same-second rewrites on a coarse clock must still look changed.
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


async def test_the_config_is_parsed_once_for_every_reconnect(lab: Lab, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, _ = _lab_files(lab, tmp_path)
    parsed: list[Path] = []
    real = asyncssh.config.SSHConfig.parse

    def counting(self: asyncssh.config.SSHConfig, path: Path) -> None:
        parsed.append(path)
        real(self, path)

    monkeypatch.setattr(asyncssh.config.SSHConfig, "parse", counting)
    ex = SshExecutor("h1", "h1", config=[str(cfg)])
    try:
        for _ in range(3):
            assert (await ex.run(Shell("true"))).ok
            ex.abort()  # the next command reconnects
        assert ex.connects == 3
        assert parsed == [cfg]  # before: twice per connect (our options, then asyncssh's own copy of them)
    finally:
        await ex.close()


async def test_a_changed_config_is_read_again_at_the_next_connect(lab: Lab, tmp_path: Path) -> None:
    cfg, _ = _lab_files(lab, tmp_path)
    ex = SshExecutor("h1", "h1", config=[str(cfg)])
    try:
        assert (await ex.run(Shell("hostname"))).stdout.strip() == "h1"
        ex.abort()
        # The alias now names h2's address (and h2's key is in known_hosts under that address).
        cfg.write_text(cfg.read_text().replace(f"HostName {lab.host('h1').ip}\n", f"HostName {lab.host('h2').ip}\n"))
        _touch_later(cfg)
        assert (await ex.run(Shell("hostname"))).stdout.strip() == "h2"
    finally:
        await ex.close()


async def test_a_key_removed_from_known_hosts_is_refused_at_the_next_connect(lab: Lab, tmp_path: Path) -> None:
    cfg, known = _lab_files(lab, tmp_path)
    ex = SshExecutor("h2", "h2", config=[str(cfg)])
    try:
        assert (await ex.run(Shell("true"))).ok
        ex.abort()
        # h2's entry now holds h1's key: what a rebuilt host (or an attacker's) looks like. The cached read must not
        # let the old key through.
        wrong = (Path(lab.host("h1").dir) / "ssh_host_ed25519_key.pub").read_text().split()[:2]
        known.write_text("".join(line if not line.startswith("h2,") else f"h2,{lab.host('h2').ip} {' '.join(wrong)}\n"
                                 for line in known.read_text().splitlines(keepends=True)))
        _touch_later(known)
        with pytest.raises(HostKeyMismatch):
            await ex.connect()
        # A second executor (a fleet shares one read of the file) is refused too.
        with pytest.raises(HostKeyMismatch):
            await SshExecutor("h2", "h2", config=[str(cfg)]).connect()
    finally:
        await ex.close()


async def test_executors_of_a_fleet_share_one_read_of_known_hosts(lab: Lab, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, known = _lab_files(lab, tmp_path)
    reads: list[object] = []
    real = asyncssh.read_known_hosts

    def counting(names: object) -> asyncssh.SSHKnownHosts:
        reads.append(names)
        return real(names)  # type: ignore[arg-type]

    monkeypatch.setattr(asyncssh, "read_known_hosts", counting)
    monkeypatch.setattr(asyncssh.known_hosts, "read_known_hosts", counting)  # asyncssh's own read at connect
    execs = [SshExecutor(h.name, h.name, config=[str(cfg)]) for h in lab.hosts]
    try:
        for ex in execs:
            assert (await ex.run(Shell("true"))).ok
        assert reads == [[str(known)]]  # before: the whole file read at every connect of every host
    finally:
        for ex in execs:
            await ex.close()

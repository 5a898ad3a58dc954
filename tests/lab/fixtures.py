"""A small lab for the tests (3 hosts), brought up once per test session and always torn down.

It uses its own prefix, bridge, subnet and state directory, so it never touches
a lab the user started with `controlroom lab up` — nor the lab of another test
run on the same machine: each run takes a free numbered slot under a lock. Several
test packages import the fixture; one shared instance serves them all.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from controlroom.lab.netns import Lab, LabConfig
from tests.deps import skip_reason

SLOTS = 64


def _claim_slot() -> tuple[LabConfig, int]:
    """The first slot whose lock is free: (its config, the open lock fd, kept for the whole run)."""
    for slot in range(SLOTS):
        fd = os.open(f"/tmp/controlroom-labtest-{slot}.lock", os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return LabConfig(state_dir=Path(f"/tmp/controlroom-labtest-{slot}"), prefix=f"ct{slot}",
                         bridge=f"crtest{slot}", subnet=f"10.78.{slot}.0/24"), fd
    raise RuntimeError(f"all {SLOTS} test lab slots are taken")


def lab_skip_reason() -> str | None:
    return skip_reason("sshd", "nft", "tc", "stress-ng", "unshare", "nsenter", "ssh-keygen", "setsid",
                       root="network namespaces, bridges and sshd")


needs_lab = pytest.mark.skipif(lab_skip_reason() is not None, reason=lab_skip_reason() or "")

_shared: dict[str, object] = {}


def _teardown() -> None:
    lab = _shared.pop("lab", None)
    if isinstance(lab, Lab):
        lab.down()


def shared_lab() -> Lab:
    if "lab" not in _shared:
        config, lock_fd = _claim_slot()
        _shared["lock"] = lock_fd
        lab = Lab(config)
        if lab.is_up:  # left by a crashed earlier run that held this slot
            lab.down()
        atexit.register(_teardown)
        lab.up(3)
        _shared["lab"] = lab
    lab = _shared["lab"]
    assert isinstance(lab, Lab)
    return lab


@pytest.fixture(scope="session", name="lab")
def lab_fixture() -> Iterator[Lab]:
    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)
    yield shared_lab()
    _teardown()


@contextlib.contextmanager
def own_lab(n: int) -> Iterator[Lab]:
    """A lab of `n` hosts in a numbered slot of its own (the shared `lab` has 3 hosts), always brought down.
    A slot's subnet is a /24: up to `LabConfig.max_hosts` hosts."""
    config, lock_fd = _claim_slot()
    lab = Lab(config)
    try:
        if lab.is_up:  # left by a crashed earlier run that held this slot
            lab.down()
        lab.up(n, service=False, wait=60.0)
        yield lab
    finally:
        try:
            lab.down()
        finally:
            os.close(lock_fd)


def host_state(lab: Lab, host: str) -> str:
    """What a fault could leave on a host: nft tables, root qdisc, controlroom run files, stress-ng."""
    cmd = ("nft list tables; tc qdisc show dev eth0 root; ls /run/controlroom 2>/dev/null; "
           "ps -eo comm= | grep '^stress-ng' || true")
    return lab.exec(host, cmd).stdout


def assert_clean(lab: Lab, host: str) -> None:
    state = host_state(lab, host)
    assert "controlroom" not in state.replace("/run/controlroom", ""), state
    assert "c0de" not in state and "stress-ng" not in state, state
    files = lab.exec(host, "ls /run/controlroom 2>/dev/null | grep -v '^diskfill' || true").stdout.split()
    assert [f for f in files if f.startswith(("leash-", "stress-"))] == [], files


def run_in(lab: Lab, host: str, cmd: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return lab.exec(host, cmd, timeout=timeout)

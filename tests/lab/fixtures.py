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
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
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


def lab_scenario(lab: Lab, tmp_path: Path, name: str, hypothesis: str, targets: Sequence[str], steps: str, *,
                 every: str = "1s", probe_timeout: str = "3s", steady_state: bool = True, max_duration: str = "2m",
                 leash: float | None = None, tail: str = "") -> Path:
    """`tmp_path/NAME.yaml`: a lab scenario whose room probes the demo service on h1 (`front`), wants it
    answering half its probes before any fault (unless `steady_state` is off), and may touch only `targets`.

    `steps` is the YAML under `steps:` and `tail` any further top-level keys (`stop_when`, `unobserved`).
    """
    front = lab.host("h1").ip
    lines = ["version: 1", f"name: {name}", f"hypothesis: {hypothesis}", "environment: lab", "targets:",
             *(f"  {t}: {{ssh: {t}}}" for t in targets),
             "observe:", f"  every: {every}", "  metrics:",
             f'    front: {{probe: "http://{front}:8080/", timeout: {probe_timeout}}}']
    if steady_state:
        lines += ["steady_state:", "  window: 1s", "  require: [front.success_rate >= 50%]"]
    lines += ["blast_radius:", f"  max_targets: {len(targets)}", f"  max_duration: {max_duration}",
              "  allowed_environments: [lab]"]
    if leash is not None:
        lines.append(f"  leash: {leash:g}s")
    scenario = tmp_path / f"{name}.yaml"
    scenario.write_text("\n".join(lines) + "\nsteps:\n" + steps + tail)
    return scenario


def lab_env(lab: Lab, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a `controlroom` child that reaches the lab's hosts by name over its ssh config and
    keeps its journals and state under `tmp_path` (the test's own runtime dir comes from os.environ)."""
    return {**os.environ, "CONTROLROOM_SSH_CONFIG": str(lab.config.ssh_config), "XDG_DATA_HOME": str(tmp_path),
            **extra}


def journal_events(journal: Path) -> list[dict[str, object]]:
    """The events of a journal, its header line left out ([] before it exists). A line still being written
    by a live room (no newline yet) is not read: the next read has it whole."""
    if not journal.exists():
        return []
    text = journal.read_text()
    lines = text.splitlines()[1:]
    if lines and not text.endswith("\n"):
        lines.pop()
    return [json.loads(line) for line in lines if line.strip()]


def wait_for_event(events: Callable[[], list[dict[str, object]]], kind: str, seconds: float,
                   proc: subprocess.Popen[str], count: int = 1, every: float = 0.05) -> list[dict[str, object]]:
    """Polls `events()` until `count` events of type `kind` are in, and returns those; fails once `seconds`
    pass, or at once if `proc` (the process that should write them) ended, with what it printed."""
    deadline = time.monotonic() + seconds
    while True:
        seen = [e for e in events() if e["type"] == kind]
        if len(seen) >= count:
            return seen
        ended = proc.poll() is not None
        if ended or time.monotonic() > deadline:
            out = proc.stdout.read() if ended and proc.stdout else ""
            raise AssertionError(f"never saw {count} {kind} within {seconds:g}s "
                                 f"({'the process ended' if ended else 'still running'}): {out}")
        time.sleep(every)


class HeadlessRun:
    """`controlroom run --headless --yes SCENARIO` against the lab in a subprocess, with its journal
    (beside the scenario) and its output as text (stderr folded into stdout unless `split_stderr`)."""

    def __init__(self, lab: Lab, tmp_path: Path, scenario: Path, journal: Path | None = None, *,
                 split_stderr: bool = False, **env: str) -> None:
        self.journal = journal or scenario.with_suffix(".jsonl")
        self.env = lab_env(lab, tmp_path, **env)
        self.proc = subprocess.Popen([sys.executable, "-m", "controlroom", "run", "--headless", "--yes", "--journal",
                                      str(self.journal), str(scenario)], env=self.env, text=True,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE if split_stderr else subprocess.STDOUT)

    def events(self) -> list[dict[str, object]]:
        return journal_events(self.journal)

    def wait_for(self, kind: str, seconds: float, count: int = 1) -> list[dict[str, object]]:
        return wait_for_event(self.events, kind, seconds, self.proc, count)

    def finish(self, seconds: float) -> str:
        """Waits for the room to end by itself and returns what it printed (stdout)."""
        out, _ = self.proc.communicate(timeout=seconds)
        return out

    def kill(self) -> None:
        """SIGKILL if it still runs; always reaped and its pipes closed (for `finally:`)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe:
                pipe.close()

    def recover(self, *flags: str) -> subprocess.CompletedProcess[str]:
        """`controlroom recover [FLAGS] JOURNAL` of this run, in its environment; asserted to exit 0."""
        rec = subprocess.run([sys.executable, "-m", "controlroom", "recover", *flags, str(self.journal)],
                             env=self.env, capture_output=True, text=True, timeout=60, check=False)
        assert rec.returncode == 0, rec.stdout + rec.stderr
        return rec

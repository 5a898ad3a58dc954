"""End to end in the lab: the journal's filesystem fills up (a tiny tmpfs) while a partition is active.

The room must stop and roll back — the revert goes out although nothing more can
be written — and end with one line on stderr and exit 3, never a traceback. A
journal that cannot be written at the start refuses the session (exit 2) before
anything is injected.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controlroom.lab.netns import Lab
from tests.lab.fixtures import assert_clean, host_state, needs_lab

pytestmark = [pytest.mark.root, needs_lab]

SCENARIO = """\
version: 1
name: lab-journal-full
hypothesis: a full journal disk stops the session and rolls it back
environment: lab
targets:
  h1: {{ssh: h1}}
observe:
  every: 250ms
  metrics:
    front: {{probe: "http://{front}:8080/", timeout: 1s}}
steady_state:
  window: 1s
  require: [front.success_rate >= 50%]
blast_radius:
  max_targets: 1
  max_duration: 2m
  allowed_environments: [lab]
steps:
  - id: cut
    title: partition h1 from h3
    fault: {{type: partition, target: h1, peers: [{h3}]}}
    duration: 60s
    confirm: false
"""


@pytest.fixture
def tiny_fs(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", request.param, "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _run(lab: Lab, tmp_path: Path, journal: Path) -> subprocess.Popen[str]:
    scenario = tmp_path / "full.yaml"
    scenario.write_text(SCENARIO.format(front=lab.host("h1").ip, h3=lab.host("h3").ip))
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env = {**os.environ, "CONTROLROOM_SSH_CONFIG": str(lab.config.ssh_config), "XDG_DATA_HOME": str(tmp_path),
           "CONTROLROOM_RUNTIME_DIR": os.environ["CONTROLROOM_RUNTIME_DIR"], "TMPDIR": str(tmp_path / "tmp")}
    return subprocess.Popen([sys.executable, "-m", "controlroom", "run", "--headless", "--yes", "--journal",
                             str(journal), str(scenario)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("tiny_fs", ["size=2m"], indirect=True)
def test_a_journal_disk_that_fills_mid_fault_rolls_back_and_exits_with_one_line(
        lab: Lab, tmp_path: Path, tiny_fs: Path) -> None:
    journal = tiny_fs / "j.jsonl"
    proc = _run(lab, tmp_path, journal)
    try:
        deadline = time.monotonic() + 40
        while '"fault-injected"' not in (journal.read_text() if journal.exists() else ""):
            assert time.monotonic() < deadline and proc.poll() is None, "the partition was never injected"
            time.sleep(0.1)
        assert "inet controlroom" in host_state(lab, "h1")
        # Fill the filesystem: the journal's next page cannot be allocated (ENOSPC).
        subprocess.run(["dd", "if=/dev/zero", f"of={tiny_fs / 'fill'}", "bs=64k"], capture_output=True, check=False)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert_clean(lab, "h1")
    assert "inet controlroom" not in host_state(lab, "h1")
    assert proc.returncode == 3, out + err
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "the journal cannot be written (No space left on device)" in lines[0]
    assert "every fault was reverted and verified clean" in lines[0]
    fallback = Path(lines[0].rsplit(" are in ", 1)[1])
    assert fallback.parent == tmp_path / "tmp"
    kept = fallback.read_text()
    assert '"source":"journal"' in kept and '"fault-reverted"' in kept and '"session-ended"' in kept


@pytest.mark.parametrize(("tiny_fs", "why"), [("size=512k", "KiB free"), ("size=2m,ro", "Read-only file system")],
                         indirect=["tiny_fs"], ids=["nearly-full", "read-only"])
def test_a_journal_that_cannot_be_written_at_the_start_refuses_before_injecting(
        lab: Lab, tmp_path: Path, tiny_fs: Path, why: str) -> None:
    journal = tiny_fs / "j.jsonl"
    proc = _run(lab, tmp_path, journal)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, out + err
    assert "Traceback" not in out + err
    assert len(err.strip().splitlines()) == 1 and why in err, err
    assert "injecting" not in out
    assert "inet controlroom" not in host_state(lab, "h1")
    assert not journal.exists()

"""End to end in the lab: the journal's filesystem fills up (a tiny tmpfs) while a partition is active.

The room must stop and roll back — the revert goes out although nothing more can
be written — and end with one line on stderr and exit 3, never a traceback. A
journal that cannot be written at the start refuses the session (exit 2) before
anything is injected.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from controlroom.lab.netns import Lab
from tests.lab.fixtures import HeadlessRun, assert_clean, host_state, lab_scenario, needs_lab

pytestmark = [pytest.mark.root, needs_lab]

STEPS = """\
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


def _run(lab: Lab, tmp_path: Path, journal: Path) -> HeadlessRun:
    """The run, its journal on the tiny filesystem, its stderr apart, its fallback file under tmp_path/tmp."""
    scenario = lab_scenario(lab, tmp_path, "lab-journal-full", "a full journal disk stops the session and rolls it back",
                            ["h1"], STEPS.format(h3=lab.host("h3").ip), every="250ms", probe_timeout="1s")
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return HeadlessRun(lab, tmp_path, scenario, journal, split_stderr=True, TMPDIR=str(tmp_path / "tmp"))


@pytest.mark.parametrize("tiny_fs", ["size=2m"], indirect=True)
def test_a_journal_disk_that_fills_mid_fault_rolls_back_and_exits_with_one_line(
        lab: Lab, tmp_path: Path, tiny_fs: Path) -> None:
    journal = tiny_fs / "j.jsonl"
    run = _run(lab, tmp_path, journal)
    proc = run.proc
    try:
        run.wait_for("fault-injected", 40)  # the partition
        assert "inet controlroom" in host_state(lab, "h1")
        # Fill the filesystem: the journal's next page cannot be allocated (ENOSPC).
        subprocess.run(["dd", "if=/dev/zero", f"of={tiny_fs / 'fill'}", "bs=64k"], capture_output=True, check=False)
        out, err = proc.communicate(timeout=60)
    finally:
        run.kill()
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
    proc = _run(lab, tmp_path, journal).proc
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, out + err
    assert "Traceback" not in out + err
    assert len(err.strip().splitlines()) == 1 and why in err, err
    assert "injecting" not in out
    assert "inet controlroom" not in host_state(lab, "h1")
    assert not journal.exists()

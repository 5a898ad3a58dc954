"""Two labs on one machine: a second `lab up` with names or a subnet already in use is refused before it
touches anything (before, its clean-up deleted the running lab's namespaces and bridge); and a reader that
stops reading `lab` output gets no traceback. Each test brings up its own small lab in a spare test slot."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from controlroom.lab import cli
from controlroom.lab.netns import Lab, LabConfig, LabError
from tests.lab.fixtures import _claim_slot, needs_lab

pytestmark = [pytest.mark.root, needs_lab]


@pytest.fixture
def running() -> Iterator[Lab]:
    """A one-host lab of our own, in a slot nobody else uses."""
    config, fd = _claim_slot()
    lab = Lab(config)
    if lab.is_up:
        lab.down()
    lab.up(1, service=False)
    try:
        yield lab
    finally:
        lab.down()
        os.close(fd)


def _intact(lab: Lab) -> None:
    assert [(r["alive"], r["ssh"]) for r in Lab(LabConfig(state_dir=lab.config.state_dir)).status()] == [(True, True)]
    assert lab.exec("h1", "hostname").stdout.strip() == "h1"


@pytest.mark.parametrize("clash", ["all names", "bridge", "namespaces", "subnet"])
def test_a_second_lab_with_names_in_use_is_refused_before_touching_anything(
        running: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str], clash: str) -> None:
    cfg = running.config
    names = {"--prefix": cfg.prefix, "--bridge": cfg.bridge, "--subnet": cfg.subnet}
    free = {"--prefix": "crx", "--bridge": "crx0", "--subnet": "10.75.250.0/24"}
    chosen = {"all names": names, "bridge": {**free, "--bridge": cfg.bridge},
              "namespaces": {**free, "--prefix": cfg.prefix}, "subnet": {**free, "--subnet": cfg.subnet}}[clash]
    other = tmp_path / "other"
    argv = ["--dir", str(other), "up", "--hosts", "1", "--no-service", *(x for kv in chosen.items() for x in kv)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists: another lab is up" in err, err
    assert not (other / "state.json").exists()
    _intact(running)


def test_the_api_refuses_too_and_the_running_lab_keeps_its_hosts(running: Lab, tmp_path: Path) -> None:
    cfg = running.config
    second = Lab(LabConfig(state_dir=tmp_path / "other", prefix=cfg.prefix, bridge=cfg.bridge, subnet=cfg.subnet))
    with pytest.raises(LabError, match=f"bridge {cfg.bridge} already exists"):
        second.up(1, service=False)
    _intact(running)


def _cli_with_a_gone_reader(argv: list[str], unbuffered: bool) -> subprocess.CompletedProcess[bytes]:
    """Run `python -m controlroom ARGV` with stdout a pipe nobody reads any more (`| head -1` at its harshest)."""
    read, write = os.pipe()
    os.close(read)
    env = {**os.environ, "PYTHONUNBUFFERED": "1" if unbuffered else ""}
    try:
        return subprocess.run([sys.executable, "-m", "controlroom", *argv], stdout=write, stderr=subprocess.PIPE,
                              env=env, timeout=60, check=False)
    finally:
        os.close(write)


@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
def test_lab_status_into_a_closed_pipe_gives_no_traceback(running: Lab, unbuffered: bool) -> None:
    proc = _cli_with_a_gone_reader(["lab", "--dir", str(running.config.state_dir), "status"], unbuffered)
    assert b"Traceback" not in proc.stderr and b"BrokenPipe" not in proc.stderr, proc.stderr.decode()
    assert proc.returncode == 1 and proc.stderr == b""


def test_lab_up_into_a_closed_pipe_leaves_the_lab_fully_up_without_a_traceback(tmp_path: Path) -> None:
    config, fd = _claim_slot()
    argv = ["lab", "--dir", str(config.state_dir), "up", "--hosts", "1", "--no-service",
            "--prefix", config.prefix, "--bridge", config.bridge, "--subnet", config.subnet]
    try:
        if Lab(config).is_up:
            Lab(config).down()
        proc = _cli_with_a_gone_reader(argv, unbuffered=True)
        assert b"Traceback" not in proc.stderr and proc.stderr == b"", proc.stderr.decode()
        assert proc.returncode == 1
        # The lab was up before the first line was printed; the reader going away does not undo it.
        lab = Lab(LabConfig(state_dir=config.state_dir))
        assert lab.is_up and lab.config.prefix == config.prefix
        _intact(lab)
    finally:
        Lab(LabConfig(state_dir=config.state_dir)).down()
        os.close(fd)

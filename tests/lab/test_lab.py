"""The lab: hosts with their own sshd and namespaces, the sample service, and a `down` that survives crashes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from controlroom.lab import cli
from controlroom.lab.netns import Lab, LabConfig, LabError
from tests.lab.fixtures import needs_lab

pytestmark = [pytest.mark.root, needs_lab]


def test_each_host_has_its_own_hostname_and_pid_namespace(lab: Lab) -> None:
    for h in lab.hosts:
        out = lab.exec(h, "hostname; cat /proc/1/comm; ip -4 -o addr show dev eth0").stdout.split("\n")
        assert out[0] == h.name
        assert out[1] == "sshd"  # pid 1 of the host's own PID namespace
        assert f"{h.ip}/24" in out[2]


def test_sample_service_front_on_h1_calls_backend_on_h2(lab: Lab) -> None:
    assert lab.state is not None
    front = lab.state.service["front"]
    code = f"import urllib.request; print(urllib.request.urlopen({front!r}, timeout=5).read().decode())"
    out = lab.exec("h3", f"{sys.executable} -c {code!r}").stdout
    assert out.strip() == "front ok; backend ok"


def test_client_files_let_openssh_reach_every_alias_with_host_key_checking(lab: Lab) -> None:
    cfg = lab.config
    for h in lab.hosts:
        proc = subprocess.run(["ssh", "-F", str(cfg.ssh_config), "-o", "BatchMode=yes",
                               "-o", "StrictHostKeyChecking=yes", h.name, "hostname"],
                              capture_output=True, text=True, timeout=10, check=False)
        assert proc.stdout.strip() == h.name, proc.stderr


def test_up_refuses_when_a_lab_is_already_up(lab: Lab) -> None:
    with pytest.raises(LabError, match="already up"):
        Lab(lab.config).up(1)


def test_down_removes_everything_even_from_a_fresh_process_after_a_crash(tmp_path: Path) -> None:
    cfg = LabConfig(state_dir=tmp_path / "lab", prefix="crc", bridge="crcrash0", subnet="10.76.0.0/24")
    Lab(cfg).up(2, service=False)
    # The Lab object that made it is gone (as after a crash): a new one reads the state file.
    Lab(cfg).down()
    assert not cfg.state_file.exists()
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert "crc-h1" not in names and "crc-h2" not in names
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert "crcrash0" not in links and "crcv1" not in links


def test_cli_up_without_root_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert cli.main(["--dir", str(tmp_path), "up", "--hosts", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs root" in err


def test_cli_status_reports_a_lab_that_is_not_up(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--dir", str(tmp_path), "status"]) == 1
    assert "not up" in capsys.readouterr().out

"""Suite-wide policy: tests that need the lab are marked `lab`, and CI never passes by skipping.

* Every test that uses the `lab` fixture or is marked `root` (root, network namespaces, sshd) gets the
  `lab` marker,
  so `pytest -m "not lab"` runs the fast set on its own (docs/testing.md says what only the lab
  tests guard).
* A skip is fine on a laptop (a missing system package, not root: tests/deps.py gives the reason);
  with `CI=true` every skip fails the run, with the list printed at the end — except the ones a
  test declares not applicable to this machine (`tests.deps.not_applicable`).
* Every test runs with a runtime directory and a data directory of its own (CONTROLROOM_RUNTIME_DIR,
  XDG_DATA_HOME): sessions the suite starts, kills or crashes never show up in the user's
  `controlroom status` or `history`, and no test reads the user's journals.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deps import in_ci, is_dependency_skip

_dependency_skips: list[tuple[str, str]] = []
_dependency_reports: list[pytest.TestReport] = []


@pytest.fixture(autouse=True)
def _own_runtime_and_data_dirs(tmp_path_factory: pytest.TempPathFactory,
                               monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    base = tmp_path_factory.mktemp("controlroom-home")
    base.chmod(0o700)
    # The runtime dir holds the control socket, whose path the kernel caps at 107 bytes: a short directory of
    # its own in /tmp, not under pytest's (deep, longer still with xdist) temp tree.
    run = Path(tempfile.mkdtemp(prefix="crt-", dir="/tmp"))
    monkeypatch.setenv("CONTROLROOM_RUNTIME_DIR", str(run / "run"))
    monkeypatch.setenv("XDG_DATA_HOME", str(base / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(base / "config"))  # never the user's hooks file
    yield
    shutil.rmtree(run, ignore_errors=True)


# Under pytest-xdist (`make test` runs `-n 4`), tests that measure real time against real services run one at
# a time on one worker per group, so they never compete with each other for the 2 CPUs: the lab (sshd, nft,
# guards with second-scale deadlines), the real Prometheus, the real terminal, and `serve` with its spectator
# processes and headless Chromium. Tests that run real sessions
# on a `local` target share this machine's host state (/run/controlroom: its one host claim, run markers), as
# two rooms on one host would: they run one at a time too.
XDIST_GROUPS = (("lab", "lab"), ("prom_lab", "prometheus"), ("tests/prometheus/", "prometheus"),
                ("tests/tui/test_tmux.py", "terminal"), ("tests/serve/", "spectators"),
                ("tests/tui/test_lost_terminal.py", "local-host"), ("tests/cli/test_inflight_local.py", "local-host"),
                ("tests/targets/test_local_faults.py", "local-host"), ("tests/security/test_files.py", "local-host"))


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook turns the xdist_group markers into scheduling groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if "lab" in fixtures or item.get_closest_marker("root"):
            item.add_marker(pytest.mark.lab)
        for key, group in XDIST_GROUPS:
            if (key in fixtures if "/" not in key else item.nodeid.startswith(key)) or (
                    key == "lab" and item.get_closest_marker("lab")):
                item.add_marker(pytest.mark.xdist_group(group))
                break


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        if is_dependency_skip(reason):
            _dependency_skips.append((report.nodeid, reason))
            _dependency_reports.append(report)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if in_ci() and _dependency_skips and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not _dependency_skips:
        return
    tr = terminalreporter
    # The last line of the run ("… 3 skipped, 3 skipped that CI=true fails on …") says it too.
    tr.stats["skipped that CI=true fails on"] = list(_dependency_reports)
    reasons = sorted({r for _, r in _dependency_skips})
    if in_ci():
        tr.section("CI FAILED: tests were skipped", sep="=", red=True, bold=True)
        tr.line("CI=true: every test must run. Install what is missing (scripts/system-deps) and run again.")
    else:
        tr.section("skipped tests (CI=true would fail on these)", sep="=", yellow=True)
    for reason in reasons:
        count = sum(1 for _, r in _dependency_skips if r == reason)
        tr.line(f"  {count:3d} test(s): {reason}")

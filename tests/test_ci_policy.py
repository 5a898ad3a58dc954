"""CI cannot pass by skipping: with CI=true a skip (a missing system dependency, say) fails the run; locally it is
a skip with its reason, counted on the run's last line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST = """
from tests.deps import require


def test_needs_a_tool_nobody_has():
    require("controlroom-no-such-tool")


def test_plain():
    pass
"""


def _run(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_dep.py").write_text(TEST)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--rootdir", str(ROOT),
                           "-c", str(ROOT / "pyproject.toml"), "--confcutdir", str(ROOT),
                           str(tmp_path / "test_dep.py"), "-p", "tests.conftest"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


@pytest.mark.parametrize("ci", ["true", "1"])
def test_with_ci_a_missing_dependency_fails_the_run_with_the_list(tmp_path: Path, ci: str) -> None:
    res = _run(tmp_path, ci)
    assert res.returncode == 1, res.stdout
    assert "CI FAILED: tests were skipped" in res.stdout
    assert "controlroom-no-such-tool" in res.stdout


def test_locally_it_skips_with_its_reason_and_the_last_line_counts_it(tmp_path: Path) -> None:
    res = _run(tmp_path, None)
    assert res.returncode == 0, res.stdout
    last = res.stdout.strip().splitlines()[-1]
    assert "1 passed" in last and "1 skipped" in last and "1 skipped that CI=true fails on" in last, last

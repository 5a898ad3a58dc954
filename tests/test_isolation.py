"""The suite never touches the user's runtime or data directory: `status` and `history` stay theirs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from controlroom.paths import journal_dir, runtime_dir


def _own_run_dir() -> Path:
    # tests/conftest.py: a short private directory per test in /tmp (the control socket's path is capped).
    run = runtime_dir()
    assert run.parent.name.startswith("crt-") and run.parent.parent == Path("/tmp"), run
    return run


def test_every_test_has_its_own_runtime_and_data_directories(tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    base = Path(str(tmp_path_factory.getbasetemp()))
    _own_run_dir()
    assert base in journal_dir().parents
    assert os.environ["CONTROLROOM_RUNTIME_DIR"] != os.environ.get("XDG_RUNTIME_DIR")


def test_a_child_controlroom_inherits_them(tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    out = subprocess.run([sys.executable, "-c", "from controlroom.paths import runtime_dir, journal_dir;"
                          "print(runtime_dir()); print(journal_dir())"], capture_output=True, text=True, check=True)
    run, journals = out.stdout.splitlines()
    assert run == str(_own_run_dir())
    assert journals.startswith(str(tmp_path_factory.getbasetemp()))

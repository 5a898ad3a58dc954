"""§6: disk-fill on a real lab host over SSH never writes through a symlink another user planted.

Today a dangling symlink at the fill path makes root's `fallocate` create 20 MiB wherever it points, and the
revert then removes only the link and says clean.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controlroom.lab.netns import Lab
from controlroom.targets.ssh import SshExecutor
from tests.faults.test_host_lab import make_plan
from tests.lab.fixtures import assert_clean, lab_fixture, needs_lab  # noqa: F401
from tests.security.conftest import User, needs_root

pytestmark = [pytest.mark.root, needs_lab, needs_root]


@pytest.fixture
async def h1(lab: Lab) -> AsyncIterator[SshExecutor]:
    ex = SshExecutor("h1", "h1", config=[str(lab.config.ssh_config)])
    yield ex
    await ex.close()


async def test_a_dangling_symlink_planted_in_a_shared_dir_is_refused(
        lab: Lab, h1: SshExecutor, other_user: User, shared_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "etc-something"  # where the other user wants root to write (root-only directory)
    fill = shared_dir / "fill"
    assert other_user.run("ln", "-s", str(elsewhere), str(fill)).returncode == 0
    plan = make_plan(lab, "disk-fill", {"path": str(fill), "size": "20M", "keep_free": "1M"})
    res = await h1.run(plan.inject[0])  # the inject itself refuses, were pre-flight skipped
    await h1.run(plan.revert[0])
    assert not elsewhere.exists() and fill.is_symlink()
    assert not res.ok and "writable by other users" in res.stderr, res
    failed = [r.name for r in plan.requires if not (await h1.run(r.check)).ok]
    assert failed == ["safe directory"]  # and pre-flight says so before anything is injected
    assert_clean(lab, "h1")


async def test_a_dangling_symlink_at_the_path_is_never_followed(lab: Lab, h1: SshExecutor, tmp_path: Path) -> None:
    """Even in a directory only root writes (say, left by an earlier compromise), the name is created
    exclusively: O_EXCL fails on any existing entry, a dangling symlink included."""
    elsewhere = tmp_path / "elsewhere"
    fill = tmp_path / "fill"
    fill.symlink_to(elsewhere)
    plan = make_plan(lab, "disk-fill", {"path": str(fill), "size": "20M", "keep_free": "1M"})
    assert not (await h1.run(plan.clobber_check[0])).ok
    res = await h1.run(plan.inject[0])
    assert not res.ok and "already exists" in res.stderr, res
    assert (await h1.run(plan.revert[0])).ok and (await h1.run(plan.verify[0])).ok
    assert not elsewhere.exists() and fill.is_symlink()
    assert_clean(lab, "h1")


async def test_the_revert_removes_exactly_the_file_it_made(lab: Lab, h1: SshExecutor, tmp_path: Path) -> None:
    fill = tmp_path / "fill"
    plan = make_plan(lab, "disk-fill", {"path": str(fill), "size": "20M", "keep_free": "1M"})
    assert plan.leash is not None
    assert (await h1.run(plan.leash.arm(30))).ok
    res = await h1.run(plan.inject[0])
    assert res.ok, res
    made = fill.stat()
    assert made.st_blocks * 512 >= 20 * 1024**2
    assert not (await h1.run(plan.verify[0])).ok  # injected: not clean
    # Someone (root, the only one who can write here) puts another file at the name: not ours to delete.
    fill.unlink()
    fill.write_text("someone else's\n")
    assert (await h1.run(plan.revert[0])).ok
    assert fill.read_text() == "someone else's\n"
    assert (await h1.run(plan.verify[0])).ok
    assert (await h1.run(plan.leash.disarm)).ok
    # And the normal case: inject, revert, the very file is gone.
    os.unlink(fill)
    assert (await h1.run(plan.inject[0])).ok and fill.exists()
    assert (await h1.run(plan.revert[0])).ok and not fill.exists()
    assert (await h1.run(plan.verify[0])).ok
    assert_clean(lab, "h1")

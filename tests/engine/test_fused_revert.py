"""The one-round-trip revert, run by a real shell: the leash is disarmed only when the fault is verified gone."""

from __future__ import annotations

from pathlib import Path

from controlroom.engine.revert import fused_revert
from controlroom.faults.plan import FaultPlan, Leash
from controlroom.faults.shell import sh
from controlroom.scenario.model import FaultSpec
from controlroom.targets.base import HttpRequest, Shell
from controlroom.targets.local import LocalExecutor


def _plan(tmp: Path, revert: str) -> FaultPlan:
    flag, disarmed = tmp / "fault flag", tmp / "disarmed"
    return FaultPlan(
        fault_id="s/0@h", spec=FaultSpec("x", "h"), target="h", summary="flag",
        inject=(Shell(sh("touch", flag)),), revert=(Shell(revert), Shell("false")),
        verify=(Shell("! test -e " + sh(flag)),),
        leash=Leash(arm=lambda s: Shell("true"), disarm=Shell(sh("touch", disarmed))),
    )


async def test_a_verified_revert_disarms_the_leash_in_the_same_command(tmp_path: Path) -> None:
    (tmp_path / "fault flag").touch()
    plan = _plan(tmp_path, sh("rm", "-f", tmp_path / "fault flag"))
    action = fused_revert(plan)
    assert action is not None
    result = await LocalExecutor("h").run(action)
    assert result.ok  # a failing revert action (`false`) does not stop the others or the verify
    assert not (tmp_path / "fault flag").exists() and (tmp_path / "disarmed").exists()


async def test_an_unverified_revert_keeps_the_leash_armed(tmp_path: Path) -> None:
    (tmp_path / "fault flag").touch()
    action = fused_revert(_plan(tmp_path, "true"))  # a revert that does not remove the fault
    assert action is not None
    result = await LocalExecutor("h").run(action)
    assert not result.ok
    assert not (tmp_path / "disarmed").exists()


def test_plans_with_http_actions_are_not_fused(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "true")
    mixed = FaultPlan(**{**plan.__dict__, "verify": (HttpRequest("GET", "http://127.0.0.1:1/"),)})
    assert fused_revert(mixed) is None

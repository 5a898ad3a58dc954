"""Unattended-safe: which scenarios may be scheduled, each failing rule one located line."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlroom.cli import main
from controlroom.scenario import load_scenario
from controlroom.schedule import unattended_problems

SAFE = """\
version: 1
name: sched
hypothesis: the shop holds
environment: staging
targets:
  here: {local: true}
observe:
  metrics:
    shop: {probe: "http://127.0.0.1:18555/checkout"}
steady_state:
  require: [shop.success_rate >= 0.95]
blast_radius: {max_targets: 1, max_duration: 1m, allowed_environments: [staging, prod]}
stop_when:
  conditions: [shop.success_rate < 0.5]
steps:
  - id: kill
    fault: {type: process-kill, target: here, pidfile: /run/shop.pid, restart_check: 5s}
    confirm: false
  - id: watch
    duration: 5s
    confirm: false
"""


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return load_scenario(path)


def test_a_safe_scenario_has_no_problem(tmp_path: Path) -> None:
    assert unattended_problems(_load(tmp_path, SAFE)) == []  # type: ignore[arg-type]


def test_a_step_without_an_explicit_confirm_false_is_refused_at_the_step(tmp_path: Path) -> None:
    text = SAFE.replace("    duration: 5s\n    confirm: false\n", "    duration: 5s\n")
    [p] = unattended_problems(_load(tmp_path, text))  # type: ignore[arg-type]
    assert (p.line, p.col) == (19, 5) and "step watch: confirm is not written" in p.message


def test_confirm_true_is_refused_at_its_value(tmp_path: Path) -> None:
    text = SAFE.replace("restart_check: 5s}\n    confirm: false", "restart_check: 5s}\n    confirm: true")
    [p] = unattended_problems(_load(tmp_path, text))  # type: ignore[arg-type]
    assert (p.line, p.col) == (18, 14) and "step kill: confirm: true" in p.message


def test_no_stop_condition_and_an_environment_outside_env_are_refused(tmp_path: Path) -> None:
    text = SAFE.replace("stop_when:\n  conditions: [shop.success_rate < 0.5]\n", "")
    sc = _load(tmp_path, text)
    problems = unattended_problems(sc, ("prod",))  # type: ignore[arg-type]
    assert [(p.line, p.col, p.message.split(" ")[0]) for p in problems] == [
        (1, 1, "stop_when.conditions"), (4, 1, "environment")]
    assert unattended_problems(sc, ("staging",))[0].message.startswith("stop_when")  # type: ignore[arg-type]


def test_allow_unleashed_is_refused_at_its_key(tmp_path: Path) -> None:
    text = SAFE.replace("allowed_environments: [staging, prod]}",
                        "allowed_environments: [staging, prod], allow_unleashed: [toxiproxy]}")
    [p] = unattended_problems(_load(tmp_path, text))  # type: ignore[arg-type]
    assert p.line == 12 and "allow_unleashed" in p.message


def test_schedule_refuses_with_one_line_per_rule_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SAFE.replace("    confirm: false\n", "").replace("stop_when:\n  conditions: [shop.success_rate < 0.5]\n", ""))
    assert main(["schedule", str(path), "--every", "2h", "--max-runs", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith(f"{path}:") for line in err)


@pytest.mark.parametrize(("flag", "value"), [("--every", "2 hours"), ("--window", "Mon-Fri 10:00-16:00 Nowhere/X"),
                                             ("--jitter", "abc")])
def test_bad_timing_flags_are_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str,
                                              value: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SAFE)
    argv = ["schedule", str(path), "--every", "2h", flag, value]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and flag in err[0]

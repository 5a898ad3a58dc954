"""The command surface: every user error is one located line and exit 2, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.cli.conftest import controlroom, shop_scenario

REPO = Path(__file__).resolve().parents[2]


def test_help_lists_every_command(env: dict[str, str]) -> None:
    out = controlroom("--help", env=env).stdout
    for cmd in ("demo", "run", "validate", "plan", "watch", "replay", "report", "stop", "recover", "list",
                "status", "lab", "history"):
        assert f"    {cmd}" in out


def test_validate_accepts_the_shipped_scenarios(env: dict[str, str]) -> None:
    files = sorted(str(p) for p in (REPO / "scenarios").glob("*.yaml"))
    result = controlroom("validate", *files, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok: ") == len(files)


def test_validate_reports_located_problems_and_exit_2(tmp_path: Path, env: dict[str, str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: x\nhypothesis: h\nenvironment: prod\ntargets: {}\nsteps:\n  - id: a\n"
                   "    title: t\n    fault: {type: no-such-fault, target: nowhere}\n    duration: 5\n")
    result = controlroom("validate", str(bad), env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) >= 2 and all(line.startswith(f"{bad}:") for line in lines)
    assert any("no-such-fault" in line for line in lines)


@pytest.mark.parametrize("args", [
    ["run", "/nonexistent/scenario.yaml", "--headless", "--yes"],
    ["plan", "/nonexistent/scenario.yaml"],
    ["recover", "/nonexistent/journal.jsonl"],
    ["report", "/nonexistent/journal.jsonl"],
    ["stop"],
    ["list", "/nonexistent"],
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], env: dict[str, str]) -> None:
    result = controlroom(*args, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_torn_journal_still_recovers(tmp_path: Path, env: dict[str, str]) -> None:
    journal = tmp_path / "torn.jsonl"
    journal.write_text('{"format":"controlroom-journal","version":1,"scenario_text":"x"}\n{"t":"x","mono":0,"ty')
    result = controlroom("recover", str(journal), env=env)
    assert "skipped a torn last line" in result.stdout
    assert "Traceback" not in result.stderr


def test_plan_prints_every_command_and_executes_nothing(shop: str, tmp_path: Path, env: dict[str, str]) -> None:
    from tests.cli.conftest import admin_faults

    result = controlroom("plan", "-v", str(shop_scenario(tmp_path, shop)), env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for label in ("inject ", "revert ", "verify ", "leash ", "renew "):
        assert label in out
    assert "# leash: a 10s heartbeat window, renewed every 3.33s" in out
    assert "'ttl_s': 10.0, 'renew': True" in out  # the HTTP fault's renewal: the window, not the step
    assert f"POST {shop}/admin/faults" in out and f"DELETE {shop}/admin/faults" in out
    assert admin_faults(shop)["latency_ms"] == 0


def test_plan_without_v_is_one_line_per_step_and_target(env: dict[str, str]) -> None:
    result = controlroom("plan", str(REPO / "scenarios" / "lab-partition.yaml"), env=env)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line and not line.startswith("#")]
    assert lines[0].startswith("step 1 baseline:") and "observe only" in lines[0]
    assert lines[1].startswith("step 2 ")
    assert lines[2].startswith("  h1 (ssh h1): partition h1") and "leashed, reverted and verified" in lines[2]
    assert "plan -v" in lines[-1]
    assert "inject " not in result.stdout and "sudo -n" not in result.stdout  # the commands are for -v
    verbose = controlroom("plan", "-v", str(REPO / "scenarios" / "lab-partition.yaml"), env=env)
    assert "    inject " in verbose.stdout and "    revert " in verbose.stdout


def test_plan_groups_a_fleet_step_into_one_line_named_by_range_and_v_lists_every_host(env: dict[str, str]) -> None:
    result = controlroom("plan", str(REPO / "scenarios" / "fleet-zone-dark.yaml"), env=env)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("  ")]
    assert lines == ["  h[101:200] (100 × ssh h[101:200]): blackhole all traffic on h[101:200] eth0 except the control "
                     "channel — leashed, reverted and verified"]
    verbose = controlroom("plan", "-v", str(REPO / "scenarios" / "fleet-zone-dark.yaml"), env=env)
    faults = [line for line in verbose.stdout.splitlines() if line.startswith("  fault ")]
    assert len(faults) == 100 and "[target h101 via ssh h101]" in faults[0] and "[target h200 via ssh h200]" in faults[-1]


def test_list_shows_the_scenarios_folder_and_what_each_needs(env: dict[str, str]) -> None:
    result = controlroom("list", str(REPO / "scenarios"), env=env)
    assert result.returncode == 0
    assert "demo.yaml" in result.stdout and "demo-checkout" in result.stdout
    rows = result.stdout.split("\n")
    needs = {rows[i].split()[0]: rows[i + 1] for i in range(0, len(rows) - 1, 2) if rows[i].strip()}
    assert "root and the lab (controlroom lab up)" in needs["lab-partition.yaml"]
    assert "Prometheus at http://127.0.0.1:9090" in needs["lab-prometheus.yaml"]
    assert "a service on 127.0.0.1:8089" in needs["demo.yaml"]
    assert "template" in needs["checkout-slow-db.yaml"] and "SSH to" in needs["checkout-slow-db.yaml"]


def test_a_template_validates_and_plans_but_run_refuses_it(env: dict[str, str]) -> None:
    template = str(REPO / "scenarios" / "checkout-slow-db.yaml")
    validated = controlroom("validate", template, env=env)
    assert validated.returncode == 0 and "template: its hosts and endpoints are placeholders" in validated.stdout
    planned = controlroom("plan", template, env=env)
    assert planned.returncode == 0 and "# TEMPLATE:" in planned.stdout
    for args in (["run", template], ["run", "--headless", "--yes", template]):
        refused = controlroom(*args, env=env, timeout=20)
        assert refused.returncode == 2
        assert refused.stderr.startswith(f"{template}:7:1: template: true: this scenario is a template, not run")
        assert "Traceback" not in refused.stderr
        assert not list((Path(env["XDG_DATA_HOME"]) / "controlroom" / "journals").glob("*.jsonl")) \
            if "XDG_DATA_HOME" in env else True


def _register(run_dir: Path, session: str, scenario: str, journal: Path, *, alive: bool) -> None:
    """A registry entry as a running session writes it: this very process when `alive`, a dead pid otherwise."""
    import json as _json

    from controlroom.engine.liveness import start_time

    d = run_dir / "sessions"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    run_dir.chmod(0o700)
    pid = os.getpid() if alive else 2**22 + 7
    doc = {"session": session, "pid": pid, "pid_start": start_time(pid) if alive else 1, "uid": os.getuid(),
           "scenario": scenario, "journal": str(journal), "socket": str(d / f"{session}.sock")}
    (d / f"{session}.json").write_text(_json.dumps(doc))


def test_watch_without_an_argument_lists_the_running_sessions_when_there_are_several(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from controlroom.cli import main

    run = tmp_path / "run"
    monkeypatch.setenv("CONTROLROOM_RUNTIME_DIR", str(run))
    assert main(["watch"]) == 2
    assert "no running session on this machine" in capsys.readouterr().err
    _register(run, "aaaa11112222", "checkout", tmp_path / "a.jsonl", alive=True)
    _register(run, "bbbb33334444", "payments", tmp_path / "b.jsonl", alive=True)
    assert main(["watch"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "2 sessions are running: aaaa11112222 (checkout, pid" in err and "bbbb33334444 (payments, pid" in err
    assert "say which: controlroom watch SESSION" in err


def test_watch_without_an_argument_attaches_to_the_only_running_session(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import controlroom.app.entry as entry
    from controlroom.cli import main

    run = tmp_path / "run"
    monkeypatch.setenv("CONTROLROOM_RUNTIME_DIR", str(run))
    _register(run, "aaaa11112222", "checkout", tmp_path / "a.jsonl", alive=True)
    _register(run, "dead00000000", "old", tmp_path / "old.jsonl", alive=False)  # a crashed one is not "running"
    watched: list[str] = []
    monkeypatch.setattr(entry, "run_watch", lambda journal: watched.append(str(journal)) or 0)
    assert main(["watch"]) == 0
    assert watched == [str(tmp_path / "a.jsonl")]


def test_a_runtime_dir_too_long_for_the_control_socket_is_one_line_before_anything_runs(
        shop: str, tmp_path: Path, env: dict[str, str]) -> None:
    # Found under pytest-xdist: a deep runtime directory made the socket's bind fail mid-start, as an internal
    # error with a traceback. It is bad input, said before the journal exists.
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    env = {**env, "CONTROLROOM_RUNTIME_DIR": str(deep)}
    journal = tmp_path / "j.jsonl"
    proc = controlroom("run", str(shop_scenario(tmp_path, shop)), "--headless", "--yes", "--journal", str(journal),
                       env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "too long for the control socket" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not journal.exists()


def test_a_hooks_file_others_may_write_is_refused_in_one_line_before_anything_runs(
        shop: str, tmp_path: Path, env: dict[str, str]) -> None:
    # The user's hooks file runs commands on every scenario: writable by others, it is refused (exit 2).
    hooks = tmp_path / "cfg" / "controlroom" / "hooks.yaml"
    hooks.parent.mkdir(parents=True)
    hooks.write_text("hooks:\n  - name: log\n    on: [session-ended]\n    command: [logger, done]\n")
    hooks.chmod(0o666)
    env = {**env, "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    journal = tmp_path / "j.jsonl"
    proc = controlroom("run", str(shop_scenario(tmp_path, shop)), "--headless", "--yes", "--journal", str(journal),
                       env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and f"{hooks}: group or others may write it" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not journal.exists()

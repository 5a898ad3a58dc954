"""§6: journals, reports and pidfiles are not a way for another local user to act as the facilitator.

Each test has the other user (a throwaway account) do what an attacker on the same machine can: read a
live journal, plant a symlink where root writes a report, edit a journal `recover` will turn into shell,
write a pidfile naming someone else's process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import admin_faults, controlroom, shop_scenario
from tests.cli.test_stop_and_recover import _wait_for_line
from tests.security.conftest import User, needs_root

pytestmark = [pytest.mark.root, needs_root]

REPORT_FIXTURE = Path(__file__).parent.parent / "report" / "fixtures" / "held.jsonl"


def _env(tmp_path: Path, data_home: Path | None = None) -> dict[str, str]:
    e = dict(os.environ)
    e["XDG_DATA_HOME"] = str(data_home or tmp_path / "data")
    return e


def test_another_user_cannot_read_a_live_journal(other_user: User, shop: str, tmp_path: Path,
                                                  shared_dir: Path) -> None:
    """The journal names hosts, commands and what failed: it is the facilitator's alone, even mid-session."""
    data = shared_dir / "data"  # a data home the other user could reach, were the journal dir open
    data.mkdir(mode=0o755)
    env = _env(tmp_path, data)
    proc = subprocess.Popen(
        [sys.executable, "-m", "controlroom", "run", str(shop_scenario(tmp_path, shop)), "--headless", "--yes"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        lines = _wait_for_line(proc, "injected on shop")
        journal = Path(next(line for line in lines if line.startswith("journal: ")).split(": ", 1)[1].strip())
        assert journal.parent == data / "controlroom" / "journals"
        assert journal.stat().st_mode & 0o777 == 0o600 and journal.parent.stat().st_mode & 0o777 == 0o700
        read = other_user.run("cat", str(journal))
        assert read.returncode != 0 and "Permission denied" in read.stderr
        assert other_user.run("ls", str(journal.parent)).returncode != 0
        assert controlroom("stop", env=env).returncode == 0
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert admin_faults(shop)["latency_ms"] == 0


def test_a_planted_temp_symlink_does_not_redirect_roots_report(other_user: User, shared_dir: Path,
                                                              tmp_path: Path) -> None:
    victim = tmp_path / "victim.conf"  # any file root can write and the other user cannot
    victim.write_text("precious\n")
    out = shared_dir / "report.html"
    planted = other_user.run("ln", "-s", str(victim), str(shared_dir / ".report.html.tmp"))
    assert planted.returncode == 0, planted.stderr
    res = controlroom("report", str(REPORT_FIXTURE), "-o", str(out), env=_env(tmp_path))
    assert res.returncode == 0, res.stderr
    assert victim.read_text() == "precious\n"
    assert out.is_file() and not out.is_symlink() and "<html" in out.read_text()[:200].lower()
    assert [p.name for p in shared_dir.iterdir() if p.name.endswith(".tmp") and not p.is_symlink()] == []


# -- recover --------------------------------------------------------------------------------------

SCENARIO = """\
version: 1
name: local-command
hypothesis: a flag file is harmless
environment: test
targets:
  here: {{local: true}}
blast_radius: {{max_targets: 1, max_duration: 1m, allowed_environments: [test]}}
steps:
  - id: flag
    title: raise a flag
    fault: {{type: command, target: here, inject: "touch {flag}", revert: "{revert}", verify: "[ ! -e {flag} ]"}}
    duration: 10s
unobserved: true
"""


def crashed_journal(path: Path, flag: Path, revert: str | None = None) -> Path:
    """A journal as a session killed mid-step leaves it: the command fault announced, never reverted."""
    text = SCENARIO.format(flag=flag, revert=revert or f"rm -f {flag}")
    header = {"format": "controlroom-journal", "version": 1, "session": "cafe00000000", "scenario": "local-command",
              "hypothesis": "x", "environment": "test", "scenario_path": "s.yaml", "scenario_text": text,
              "started": "2024-01-01T00:00:00.000+00:00", "pid": 999999999}
    events = [
        {"t": "2024-01-01T00:00:00.100+00:00", "mono": 0.1, "type": "session-started", "session": "cafe00000000"},
        {"t": "2024-01-01T00:00:01.000+00:00", "mono": 1.0, "type": "fault-injecting", "step": "flag",
         "fault": "flag/0@here", "fault_type": "command", "target": "here", "summary": "command on here"},
    ]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        for doc in (header, *events):
            fh.write(json.dumps(doc) + "\n")
    flag.touch()  # the fault's effect, still in place
    return path


@pytest.fixture
def recover_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    yield _env(tmp_path)


def test_recover_refuses_a_journal_another_user_can_write(other_user: User, shared_dir: Path, tmp_path: Path,
                                                         recover_env: dict[str, str]) -> None:
    flag = tmp_path / "flag"
    pwned = tmp_path / "pwned"
    journal = crashed_journal(shared_dir / "j.jsonl", flag)
    os.chmod(journal, 0o666)  # a careless umask, or a shared folder
    edit = ("import sys; p = sys.argv[1]; s = open(p).read(); "
            f"s = s.replace('rm -f {flag}', 'touch {pwned}'); open(p, 'w').write(s)")
    assert other_user.python(edit, str(journal)).returncode == 0
    assert f"touch {pwned}" in journal.read_text()
    res = controlroom("recover", str(journal), env=recover_env)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "writable by others (mode 0666)" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not pwned.exists()


def test_recover_refuses_a_journal_owned_by_another_user(other_user: User, shared_dir: Path, tmp_path: Path,
                                                        recover_env: dict[str, str]) -> None:
    flag = tmp_path / "flag"
    theirs = shared_dir / "theirs"
    theirs.mkdir()
    journal = crashed_journal(theirs / "j.jsonl", flag)
    os.chown(journal, other_user.uid, other_user.gid)
    res = controlroom("recover", str(journal), env=recover_env)
    assert res.returncode == 2 and f"belongs to uid {other_user.uid}" in res.stderr, res.stdout + res.stderr
    assert flag.exists()
    os.chown(journal, 0, 0)
    os.chown(theirs, other_user.uid, other_user.gid)  # their directory: they could swap the file at any time
    res = controlroom("recover", str(journal), env=recover_env)
    assert res.returncode == 2 and f"directory {theirs} belongs to uid {other_user.uid}" in res.stderr, res.stderr
    assert flag.exists()


def test_recover_shows_command_reverts_and_runs_them_only_with_yes(tmp_path: Path,
                                                                   recover_env: dict[str, str]) -> None:
    flag = tmp_path / "flag"
    journal = crashed_journal(tmp_path / "j.jsonl", flag)
    res = controlroom("recover", str(journal), env=recover_env, stdin=subprocess.DEVNULL)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "flag/0@here on here (announced at journal line 3" in res.stdout
    assert f"rm -f {flag}" in res.stdout and f"[ ! -e {flag} ]" in res.stdout
    assert "run again with --yes" in res.stderr
    assert flag.exists()  # nothing ran
    res = controlroom("recover", str(journal), "--yes", env=recover_env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"rm -f {flag}" in res.stdout and "all clean" in res.stdout
    assert not flag.exists()


def test_a_session_refuses_to_journal_where_recover_would_refuse(other_user: User, shared_dir: Path,
                                                                tmp_path: Path) -> None:
    theirs = shared_dir / "theirs"
    theirs.mkdir()
    os.chown(theirs, other_user.uid, other_user.gid)
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO.format(flag=tmp_path / "flag", revert=f"rm -f {tmp_path / 'flag'}"))
    res = controlroom("run", str(scenario), "--headless", "--yes", "--journal", str(theirs / "j.jsonl"),
                      env=_env(tmp_path))
    assert res.returncode == 2 and f"directory {theirs} belongs to uid {other_user.uid}" in res.stderr, res.stderr
    assert not (theirs / "j.jsonl").exists() and not (tmp_path / "flag").exists()


# -- pidfiles -------------------------------------------------------------------------------------


def _state(pid: int) -> str:
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rfind(")") + 2:].split()[0]


def _plan(ftype: str, params: dict[str, object]):  # type: ignore[no-untyped-def]
    from controlroom.faults.catalogue import PlanContext, build_plan, catalogue, parse_params
    from controlroom.scenario.model import FaultSpec, Target

    parsed, problems = parse_params(catalogue()[ftype], params)
    assert problems == []
    target = Target("here", "local")
    return build_plan(FaultSpec(ftype, "here", parsed), target, PlanContext("p/0@here", 5.0, {"here": target}))


async def _run(action):  # type: ignore[no-untyped-def]
    from controlroom.targets.local import LocalExecutor

    ex = LocalExecutor("here")
    try:
        return await ex.run(action)
    finally:
        await ex.close()


@pytest.fixture
def roots_process() -> Iterator[subprocess.Popen[bytes]]:
    """A process of root's that the other user would like to see frozen or killed."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    os.kill(proc.pid, 18)  # SIGCONT, in case a broken check let the pause through
    proc.kill()
    proc.wait()


async def test_a_pidfile_another_user_wrote_is_refused(other_user: User, shared_dir: Path,
                                                       roots_process: subprocess.Popen[bytes]) -> None:
    pidfile = shared_dir / "shop.pid"
    wrote = other_user.run("sh", "-c", f"echo {roots_process.pid} > {pidfile}")
    assert wrote.returncode == 0, wrote.stderr
    for ftype in ("process-pause", "process-kill"):
        plan = _plan(ftype, {"pidfile": str(pidfile)})
        res = await _run(plan.inject[0])
        assert not res.ok and f"belongs to uid {other_user.uid}" in res.stderr, (ftype, res)
        assert not (await _run(plan.requires[0].check)).ok
    assert roots_process.poll() is None and _state(roots_process.pid) != "T"


async def test_a_pidfile_others_can_write_is_refused(shared_dir: Path, roots_process: subprocess.Popen[bytes]) -> None:
    pidfile = shared_dir / "shop.pid"
    pidfile.write_text(f"{roots_process.pid}\n")
    os.chmod(pidfile, 0o666)
    res = await _run(_plan("process-pause", {"pidfile": str(pidfile)}).inject[0])
    assert not res.ok and "writable by other users (mode 666)" in res.stderr, res
    assert _state(roots_process.pid) != "T"


async def test_the_process_must_run_as_the_faults_user(other_user: User, tmp_path: Path,
                                                       roots_process: subprocess.Popen[bytes]) -> None:
    pidfile = tmp_path / "shop.pid"
    pidfile.write_text(f"{roots_process.pid}\n")  # root's own pidfile, but the scenario says whose process it is
    plan = _plan("process-pause", {"pidfile": str(pidfile), "user": other_user.name})
    res = await _run(plan.inject[0])
    assert not res.ok and f"runs as uid 0, not {other_user.name}" in res.stderr, res
    assert _state(roots_process.pid) != "T"
    ok = _plan("process-pause", {"pidfile": str(pidfile), "user": "root"})
    assert (await _run(ok.inject[0])).ok and _state(roots_process.pid) == "T"
    assert (await _run(ok.revert[0])).ok and (await _run(ok.verify[0])).ok


# -- the fault state directory on a host ------------------------------------------------------------


def test_a_host_state_dir_someone_else_made_is_refused(other_user: User, shared_dir: Path) -> None:
    """Without write access to /run, a host's leash, stress and disk-fill files live in $TMPDIR/controlroom-UID:
    a directory someone else created first there (here root, for the throwaway user) is not used."""
    from controlroom.faults.leash import STATE_DIR

    planted = shared_dir / f"controlroom-{other_user.uid}"
    planted.mkdir(mode=0o777)
    os.chmod(planted, 0o777)
    env = {"PATH": os.environ["PATH"], "TMPDIR": str(shared_dir)}
    res = other_user.run("sh", "-c", f'{STATE_DIR}; echo "$crd"', env=env)
    assert res.returncode != 0 and "is not a directory only you can use" in res.stderr, res
    planted.rmdir()
    res = other_user.run("sh", "-c", f'{STATE_DIR}; echo "$crd"', env=env)
    assert res.returncode == 0 and res.stdout.strip() == str(planted), res
    assert planted.stat().st_uid == other_user.uid and planted.stat().st_mode & 0o777 == 0o700

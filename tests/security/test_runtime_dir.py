"""§5: the runtime directory, the registry and the control socket belong to the facilitator, or are refused.

Another local user can create /tmp/controlroom-UID before the facilitator does (when XDG_RUNTIME_DIR is
unset) and serve their own socket there; today `controlroom stop` then believes it and says "verified
clean" while the session and its fault are live.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.conftest import SYSTEM_PYTHON, User, needs_root, proc_start_time, with_private_tmp

pytestmark = [pytest.mark.root, needs_root]

# The other user's fake session: a socket that says every fault is reverted and verified clean.
FAKE_SERVER = r"""
import json, os, socket, sys
sock_path, registry = sys.argv[1], sys.argv[2]
for d in {os.path.dirname(sock_path), os.path.dirname(registry)} - {""}:
    os.makedirs(d, exist_ok=True)
for d in sys.argv[3:]:
    os.chmod(d, 0o777)
srv = socket.socket(socket.AF_UNIX)
srv.bind(sock_path)
os.chmod(sock_path, 0o777)
srv.listen(8)
if registry != "-":
    with open(registry, "w") as f:
        json.dump({"session": "evil00000000", "pid": os.getpid(), "scenario": "fake", "journal": "/nonexistent",
                   "socket": sock_path}, f)
print("ready", flush=True)
while True:
    conn, _ = srv.accept()
    try:
        conn.recv(1024)
        conn.sendall(b'stopping\n{"clean": true, "unconfirmed": []}\n')
    except OSError:
        pass
    conn.close()
"""

SCENARIO = """\
version: 1
name: refused-before-anything
hypothesis: nothing runs
environment: test
targets:
  shop: {http: "http://127.0.0.1:9/"}
observe:
  every: 500ms
  metrics:
    shop: {probe: "http://127.0.0.1:9/health", timeout: 300ms}
steady_state: {window: 1s, require: [shop.success_rate >= 0.9]}
blast_radius: {max_targets: 1, max_duration: 1m, allowed_environments: [test]}
steps:
  - id: slow
    title: slow
    fault: {type: http-latency, target: shop, delay: 100ms}
    duration: 5s
"""


def _start(argv: list[str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise AssertionError(f"the other user's fake session did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return proc


@pytest.fixture
def cleanup() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        p.kill()
        p.wait(timeout=5)


def _env_without_runtime_overrides() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("XDG_RUNTIME_DIR", "CONTROLROOM_RUNTIME_DIR", "TMPDIR")}
    return env


def test_stop_and_run_refuse_a_runtime_dir_another_user_created_first(
        other_user: User, tmp_path: Path, cleanup: list[subprocess.Popen[str]]) -> None:
    fake_tmp = tmp_path / "tmp"
    fake_tmp.mkdir()
    os.chmod(fake_tmp, 0o1777)
    rt = f"/tmp/controlroom-{os.getuid()}"
    # The other user gets there first: /tmp/controlroom-0 (mode 777), a sessions dir and a socket of theirs.
    cleanup.append(_start(with_private_tmp(fake_tmp, other_user.argv(
        SYSTEM_PYTHON, "-c", FAKE_SERVER, f"{rt}/sessions/evil00000000.sock", f"{rt}/sessions/evil00000000.json",
        rt, f"{rt}/sessions"))))
    env = _env_without_runtime_overrides()
    env["XDG_DATA_HOME"] = str(tmp_path / "data")

    stop = subprocess.run(with_private_tmp(fake_tmp, [sys.executable, "-m", "controlroom", "stop"]),
                          capture_output=True, text=True, env=env, timeout=60)
    assert "verified clean" not in stop.stdout
    assert stop.returncode == 2, stop.stdout + stop.stderr
    lines = stop.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stop.stderr
    assert f"runtime directory {rt} belongs to uid {other_user.uid} ({other_user.name})" in lines[0]

    (fake_tmp / "s.yaml").write_text(SCENARIO)  # seen as /tmp/s.yaml inside the namespace
    run = subprocess.run(with_private_tmp(fake_tmp, [sys.executable, "-m", "controlroom", "run", "/tmp/s.yaml",
                                                     "--headless", "--yes", "--journal", "/tmp/j.jsonl"]),
                         capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"runtime directory {rt} belongs to uid {other_user.uid}" in run.stderr
    assert not (fake_tmp / "j.jsonl").exists()  # refused before anything was written, let alone injected


def test_stop_does_not_believe_a_socket_served_by_another_uid(
        other_user: User, tmp_path: Path, shared_dir: Path, cleanup: list[subprocess.Popen[str]]) -> None:
    """The registry (here planted by the test, as if the directory check had been bypassed) names a socket
    another user serves: SO_PEERCRED shows their uid, so the answer is never read and their pid never signalled."""
    sock = shared_dir / "evil.sock"
    server = _start(other_user.argv(SYSTEM_PYTHON, "-c", FAKE_SERVER, str(sock), "-"))
    cleanup.append(server)
    sessions = tmp_path / "run" / "sessions"
    sessions.mkdir(parents=True, mode=0o700)
    os.chmod(tmp_path / "run", 0o700)
    (sessions / "evil00000000.json").write_text(json.dumps({
        "session": "evil00000000", "pid": server.pid, "pid_start": proc_start_time(server.pid), "scenario": "fake",
        "journal": str(tmp_path / "j.jsonl"), "socket": str(sock)}))
    env = dict(os.environ, CONTROLROOM_RUNTIME_DIR=str(tmp_path / "run"))
    stop = subprocess.run([sys.executable, "-m", "controlroom", "stop"], capture_output=True, text=True, env=env,
                          timeout=60)
    assert "verified clean" not in stop.stdout
    assert stop.returncode == 2, stop.stdout + stop.stderr
    assert f"served by uid {other_user.uid}" in stop.stderr and "not signalling it" in stop.stderr
    assert server.poll() is None  # and nothing was sent to their process


def test_private_dir_refuses_what_another_user_could_have_planted(other_user: User, tmp_path: Path) -> None:
    from controlroom.errors import UnsafePathError
    from controlroom.paths import private_dir

    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, other_user.uid, other_user.gid)
    with pytest.raises(UnsafePathError, match=f"belongs to uid {other_user.uid}"):
        private_dir(theirs, "runtime directory")

    open_to_all = tmp_path / "open"
    open_to_all.mkdir()
    os.chmod(open_to_all, 0o777)
    with pytest.raises(UnsafePathError, match="writable by others"):
        private_dir(open_to_all, "runtime directory")

    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(UnsafePathError, match="is a symlink"):
        private_dir(link, "runtime directory")


def test_private_dir_creates_0700_and_tightens_an_old_0755_dir_of_ours(tmp_path: Path) -> None:
    from controlroom.paths import private_dir

    fresh = tmp_path / "a" / "b"
    assert private_dir(fresh, "runtime directory") == fresh
    assert fresh.stat().st_mode & 0o777 == 0o700
    old = tmp_path / "old"
    old.mkdir()
    os.chmod(old, 0o755)  # what earlier versions made: ours, and nobody else could write in it
    private_dir(old, "runtime directory")
    assert old.stat().st_mode & 0o777 == 0o700


def test_the_registry_and_socket_are_private(tmp_path: Path) -> None:
    """A live session's registry is 0600 (written through a temp file) and its socket 0600, in a 0700 dir."""
    env = dict(os.environ, CONTROLROOM_RUNTIME_DIR=str(tmp_path / "run"), XDG_DATA_HOME=str(tmp_path / "data"))
    code = (
        "import asyncio, json, os, sys\n"
        "from pathlib import Path\n"
        "from controlroom.engine.control import ControlServer\n"
        "async def stop(by): return []\n"
        "async def main():\n"
        "    c = ControlServer('abc123', 'n', Path('j'), stop=stop, state=lambda: 'loaded'); await c.start()\n"
        "    d = c.path.parent\n"
        "    print(json.dumps({p.name: oct(p.stat().st_mode & 0o777) for p in (d, d.parent, c.path, c.registry)}))\n"
        "    print(json.dumps(json.loads(c.registry.read_text())))\n"
        "    await c.close()\n"
        "asyncio.run(main())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=30)
    assert out.returncode == 0, out.stderr
    modes, registry = (json.loads(line) for line in out.stdout.splitlines())
    assert modes == {"sessions": "0o700", "run": "0o700", "abc123.sock": "0o600", "abc123.json": "0o600"}
    assert isinstance(registry["pid_start"], int) and registry["uid"] == os.getuid()


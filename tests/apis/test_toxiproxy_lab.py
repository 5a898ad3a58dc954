"""In the lab (root): Toxiproxy on a lab host, the room killed mid-step, the SSH-armed leash removes the toxic.

The stand-in runs inside h2 (API on every address, so the room reaches it over the bridge); the scenario names
`ssh: h2`, so the host leash is armed there and its guard deletes the toxic through the API on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from controlroom.lab.netns import Lab
from tests.lab.fixtures import lab_fixture, needs_lab  # noqa: F401  (the session-scoped `lab` fixture)

pytestmark = [pytest.mark.root, needs_lab]

SCENARIO = """\
version: 1
name: toxi-lab
hypothesis: a toxic never outlives the room by more than its leash
environment: lab
unobserved: true
targets:
  proxy: {{toxiproxy: {{api: "http://{ip}:{port}", proxies: [shop], ssh: h2}}}}
blast_radius: {{allowed_environments: [lab]}}
steps:
  - id: slow
    confirm: false
    fault: {{type: toxiproxy-latency, target: proxy, latency: 300ms}}
    duration: 2m
"""


def test_a_killed_room_leaves_a_toxic_that_the_ssh_armed_guard_removes_within_the_leash(lab: Lab,
                                                                                       tmp_path: Path) -> None:
    h2 = lab.host("h2")
    port = 18474
    pidfile = tmp_path / "toxi.pid"
    lab.spawn("h2", ["sh", "-c", f"echo $$ > {pidfile}; exec {sys.executable} -m controlroom.lab.toxiproxy --host 0.0.0.0 "
                     f"--port {port} --proxy shop=127.0.0.1:20000=127.0.0.1:9"], tmp_path / "toxi.log")
    api = f"http://{h2.ip}:{port}"
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{api}/version", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        scenario, journal = tmp_path / "t.yaml", tmp_path / "t.jsonl"
        scenario.write_text(SCENARIO.format(ip=h2.ip, port=port))
        env = {**os.environ, "CONTROLROOM_SSH_CONFIG": str(lab.config.ssh_config), "XDG_DATA_HOME": str(tmp_path)}
        proc = subprocess.Popen([sys.executable, "-m", "controlroom", "run", "--headless", "--yes", "--journal",
                                 str(journal), str(scenario)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and proc.poll() is None:
                if journal.exists() and '"fault-injected"' in journal.read_text():
                    break
                time.sleep(0.1)
            else:
                out = proc.stdout.read().decode() if proc.poll() is not None and proc.stdout else ""
                pytest.fail(f"the session did not inject: {out}")
            # While the room lives its heartbeat renews the guard over SSH: the toxic outlives the 10 s leash.
            time.sleep(13)
            assert proc.poll() is None
            assert len(httpx.get(f"{api}/proxies/shop/toxics").json()) == 1
            assert '"leash-renewed"' in journal.read_text()
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            if proc.stdout:
                proc.stdout.close()
        killed = time.monotonic()
        names = [t["name"] for t in httpx.get(f"{api}/proxies/shop/toxics").json()]
        assert len(names) == 1 and names[0].startswith("cr-")
        while time.monotonic() < killed + 10 + 3:  # the 10 s leash, the guard's 1 s polling, slack
            if httpx.get(f"{api}/proxies/shop/toxics").json() == []:
                break
            time.sleep(0.5)
        assert httpx.get(f"{api}/proxies/shop/toxics").json() == []
        gone = time.monotonic() - killed
        assert gone > 3  # the guard fired (the room renewed until its death), not something at once
        # recover afterwards: the toxic is gone, its leash disarmed: all clean.
        r = subprocess.run([sys.executable, "-m", "controlroom", "recover", str(journal)], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        events = [json.loads(x) for x in journal.read_text().splitlines()[1:]]
        assert any(e.get("type") == "fault-injecting" and e.get("leash_s") for e in events)
    finally:
        if pidfile.exists():
            lab.exec("h2", f"kill {pidfile.read_text().strip()}")

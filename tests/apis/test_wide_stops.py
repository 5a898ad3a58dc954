"""The facilitator's wide stops: `recover --toxiproxy-reset` and `gremlin-halt`, only when asked, verified."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx

from controlroom.lab.gremlin import GremlinProcess
from controlroom.lab.toxiproxy import ProxySpec, ToxiproxyProcess

TOXI = """\
version: 1
name: t
hypothesis: h
environment: test
unobserved: true
targets:
  p: {{toxiproxy: {{api: "{api}", proxies: [shop]}}}}
blast_radius: {{allowed_environments: [test], allow_unleashed: [toxiproxy]}}
steps:
  - id: slow
    confirm: false
    fault: {{type: toxiproxy-latency, target: p, latency: 10ms}}
    duration: 1s
"""

GREM = """\
version: 1
name: g
hypothesis: h
environment: test
unobserved: true
targets:
  web: {{gremlin: {{api: "{api}", team: team-1, key_env: GK, hosts: [web-1]{extra}}}}}
blast_radius: {{allowed_environments: [test]}}
steps:
  - id: burn
    confirm: false
    fault: {{type: gremlin-cpu, target: web}}
    duration: 1s
"""


async def _cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "controlroom", *args,
                                                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT, env=env or dict(os.environ))
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return int(proc.returncode or 0), out.decode()


async def test_recover_resets_toxiproxy_only_when_asked(tmp_path: Path) -> None:
    server = ToxiproxyProcess(proxies=[ProxySpec("shop", "127.0.0.1:0", "127.0.0.1:9")])
    api = await server.start()
    try:
        path, journal = tmp_path / "t.yaml", tmp_path / "t.jsonl"
        path.write_text(TOXI.format(api=api))
        code, out = await _cli("run", "--headless", "--yes", "--journal", str(journal), str(path))
        assert code == 0, out
        async with httpx.AsyncClient(trust_env=False) as c:
            await c.post(f"{api}/proxies/shop/toxics", json={"name": "theirs", "type": "latency",
                                                              "attributes": {"latency": 5}})
            code, out = await _cli("recover", str(journal))
            assert code == 0 and len((await c.get(f"{api}/proxies/shop/toxics")).json()) == 1, out  # untouched
            code, out = await _cli("recover", str(journal), "--toxiproxy-reset")  # no terminal, no --yes: refused
            assert code == 2 and "--yes" in out and len((await c.get(f"{api}/proxies/shop/toxics")).json()) == 1
            code, out = await _cli("recover", str(journal), "--toxiproxy-reset", "--yes")
            assert code == 0 and "verified" in out, out
            assert (await c.get(f"{api}/proxies/shop/toxics")).json() == []
    finally:
        await server.stop()


async def test_gremlin_halt_halts_the_team_and_all_teams_needs_the_scenarios_consent(tmp_path: Path) -> None:
    server = GremlinProcess("k-1", team="team-1", clients=["web-1"], stage_seconds=0.0)
    api = await server.start()
    env = {**os.environ, "GK": "k-1"}
    try:
        async with httpx.AsyncClient(base_url=api, headers={"Authorization": "Key k-1"}, trust_env=False) as c:
            r = await c.post("/attacks/new", json={"command": {"type": "cpu", "args": ["-l", "300"]},
                                                   "target": {"type": "Exact", "hosts": {"ids": ["web-1"]}}})
            assert r.status_code == 201
            path = tmp_path / "g.yaml"
            path.write_text(GREM.format(api=api, extra=""))
            code, out = await _cli("gremlin-halt", str(path), "--all-teams", "--yes", env=env)
            assert code == 2 and "allow_platform_halt" in out
            assert len((await c.get("/attacks/active")).json()) == 1
            code, out = await _cli("gremlin-halt", str(path), "--yes", env=env)
            assert code == 0 and "verified" in out, out
            assert (await c.get("/attacks/active")).json() == []
            path.write_text(GREM.format(api=api, extra=", allow_platform_halt: true"))
            code, out = await _cli("gremlin-halt", str(path), "--all-teams", "--yes", env=env)
            assert code == 0, out
    finally:
        await server.stop()

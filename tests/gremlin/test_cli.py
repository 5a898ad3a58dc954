"""`python -m controlroom.lab.gremlin` serves the API for a team, its key taken from the environment."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import httpx

from controlroom.lab.gremlin import GremlinProcess


async def test_process_serves_the_team_and_ends_attacks_at_their_length() -> None:
    process = GremlinProcess("k-cli-1", team="team-cli", clients=["web-1:service=shop", "db-1"], speed=30.0)
    url = await process.start()
    try:
        async with httpx.AsyncClient(base_url=url, trust_env=False,
                                     headers={"Authorization": "Key k-cli-1"}) as api:
            active = sorted(c["identifier"] for c in (await api.get("/clients/active")).json())
            assert active == ["db-1", "web-1"]
            r = await api.post("/attacks/new", json={"command": {"type": "cpu", "args": ["-l", "6"]},
                                                     "target": {"type": "Random", "tags": {"service": "shop"},
                                                                "percent": 100}})
            assert r.status_code == 201
            guid = r.text
            for _ in range(50):  # 6 s of attack at speed 30: about 0.2 s of real time, plus the stages
                stage = (await api.get(f"/attacks/{guid}")).json()["stage"]
                if stage == "Successful":
                    break
                await asyncio.sleep(0.05)
            assert stage == "Successful"
        async with httpx.AsyncClient(base_url=url, trust_env=False) as anonymous:
            assert (await anonymous.get("/attacks/active")).status_code == 401
    finally:
        await process.stop()


def test_no_key_is_one_line_and_exit_2() -> None:
    env = {k: v for k, v in os.environ.items() if k != "GREMLIN_STAND_IN_KEY"}
    done = subprocess.run([sys.executable, "-m", "controlroom.lab.gremlin", "--port", "0"], capture_output=True,
                          text=True, timeout=30, env=env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "gremlin stand-in: give the API key to accept: --key KEY or $GREMLIN_STAND_IN_KEY"]

"""The facilitator's wide stops for API backends: never part of a plan, a rollback or a plain `recover`.

* `controlroom recover JOURNAL --toxiproxy-reset`: `POST /reset` on every Toxiproxy server of the journal's
  scenario. It removes EVERY toxic there, whoever made it, and re-enables every proxy: for a server the
  facilitator knows is theirs alone (a crashed session's toxics whose names were lost, say). Verified by
  `GET /proxies`: no toxic, every proxy enabled.
* `controlroom gremlin-halt SCENARIO`: `POST /halts` for a Gremlin target's team (every active attack of the
  team, not only this room's), or with `--all-teams` for the whole company, which the target must allow with
  `allow_platform_halt: true`. Verified by `GET /attacks/active` of the team: nothing active.

Both ask first (or take `--yes`), and print what they did and whether it was verified.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from controlroom.errors import ControlroomError
from controlroom.scenario.model import Scenario, Target
from controlroom.targets.apis import api_executor
from controlroom.targets.base import HttpRequest


def journal_scenario(path: str) -> Scenario:
    from controlroom.journal.reader import read_journal
    from controlroom.journal.trust import trusted_journal
    from controlroom.scenario import load_scenario_text

    journal = read_journal(trusted_journal(path))
    text = journal.header.get("scenario_text")
    if not text:
        raise ControlroomError(f"{path}:1: the journal header has no scenario")
    return load_scenario_text(text, journal.header.get("scenario_path") or path, to_revert=True)


async def _reset_one(target: Target) -> tuple[bool, str]:
    assert target.toxiproxy is not None
    api = target.toxiproxy.api
    ex = api_executor(target)
    try:
        reset = await ex.run(HttpRequest("POST", f"{api}/reset", ok_status=(204, 200)))
        if not reset.ok:
            return False, f"POST {api}/reset failed: {reset.detail}"
        check = await ex.run(HttpRequest("GET", f"{api}/proxies"))
        if not check.ok:
            return False, f"reset sent, but GET {api}/proxies failed: {check.detail}"
        proxies = json.loads(check.stdout or "{}")
        left = [f"{n} ({'disabled' if not p.get('enabled') else str(len(p.get('toxics') or [])) + ' toxics'})"
                for n, p in proxies.items() if p.get("toxics") or not p.get("enabled")]
        if left:
            return False, f"reset sent, but not clean: {', '.join(left)}"
        return True, f"{api}: every toxic removed, every proxy enabled (verified)"
    finally:
        await ex.close()


def toxiproxy_reset(scenario: Scenario, printer: Callable[[str], None]) -> int:
    servers: dict[str, Target] = {}
    for t in scenario.targets.values():
        if t.kind == "toxiproxy" and t.toxiproxy is not None:
            servers.setdefault(t.toxiproxy.api, t)
    if not servers:
        raise ControlroomError("the scenario has no toxiproxy target: nothing to reset")

    async def all_() -> list[tuple[bool, str]]:
        return list(await asyncio.gather(*(_reset_one(t) for t in servers.values())))

    results = asyncio.run(all_())
    for _, line in results:
        printer(f"  toxiproxy reset: {line}")
    return 0 if all(ok for ok, _ in results) else 1


async def _halt(target: Target, all_teams: bool, reason: str) -> tuple[bool, str]:
    assert target.gremlin is not None
    ref = target.gremlin
    ex = api_executor(target)
    scope = "" if all_teams else f"?teamId={ref.team}"
    try:
        halt = await ex.run(HttpRequest("POST", f"{ref.api}/halts{scope}", json={"reason": reason,
                                                                              "reference": "controlroom"},
                                        ok_status=(202, 200, 204), timeout=15.0))
        if not halt.ok:
            return False, f"POST {ref.api}/halts failed: {halt.detail}"
        for _ in range(50):  # halting takes the service a moment: up to ~10 s
            active = await ex.run(HttpRequest("GET", f"{ref.api}/attacks/active?teamId={ref.team}", timeout=10.0))
            if active.ok and json.loads(active.stdout or "[]") == []:
                what = "every team of the company" if all_teams else f"team {ref.team}"
                return True, f"halted {what}; no active attack left on team {ref.team} (verified)"
            await asyncio.sleep(0.2)
        return False, f"halt sent, but team {ref.team} still has active attacks: {active.detail[:200]}"
    finally:
        await ex.close()


def gremlin_halt(scenario: Scenario, target_name: str | None, all_teams: bool, reason: str,
                 printer: Callable[[str], None]) -> int:
    targets = [t for t in scenario.targets.values() if t.kind == "gremlin" and t.gremlin is not None
               and (target_name is None or t.name == target_name)]
    if not targets:
        raise ControlroomError(f"no gremlin target {target_name or ''} in the scenario".replace("  ", " "))
    if all_teams:
        refused = [t.name for t in targets if t.gremlin is not None and not t.gremlin.allow_platform_halt]
        if refused:
            raise ControlroomError(f"target {refused[0]!r} does not allow a platform-wide halt: add "
                                   "`allow_platform_halt: true` to its gremlin: mapping, or halt its team only")
    teams = {(t.gremlin.api, t.gremlin.team): t for t in targets if t.gremlin is not None}

    async def all_() -> list[tuple[bool, str]]:
        return list(await asyncio.gather(*(_halt(t, all_teams, reason) for t in teams.values())))

    results = asyncio.run(all_())
    for _, line in results:
        printer(f"  gremlin halt: {line}")
    return 0 if all(ok for ok, _ in results) else 1

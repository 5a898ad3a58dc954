"""The Gremlin stand-in refuses what Gremlin refuses: no key, a wrong key, another team, a missing privilege."""

from __future__ import annotations

import httpx

from controlroom.lab.gremlin import GremlinStandIn
from tests.gremlin.conftest import COMPANY_TOKEN, KEY, OTHER_KEY, OTHER_TEAM, READ_ONLY, TEAM, cpu


async def _bare(gremlin: GremlinStandIn, method: str, path: str, headers: dict[str, str] | None = None,
                **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gremlin.url, trust_env=False) as client:
        return await client.request(method, path, headers=headers or {}, **kwargs)  # type: ignore[arg-type]


async def test_no_or_malformed_authorization_is_401(gremlin: GremlinStandIn) -> None:
    for headers in ({}, {"Authorization": KEY}, {"Authorization": "Key"}, {"Authorization": f"Token {KEY}"}):
        r = await _bare(gremlin, "GET", "/attacks/active", headers)
        assert r.status_code == 401, headers
        assert "Authorization header missing or malformed" in r.text
    r = await _bare(gremlin, "POST", "/attacks/new", {}, json=cpu())
    assert r.status_code == 401
    assert gremlin.attacks == {}  # nothing was created


async def test_a_wrong_key_is_401_and_creates_nothing(gremlin: GremlinStandIn) -> None:
    r = await _bare(gremlin, "POST", "/attacks/new", {"Authorization": "Key not-the-key"}, json=cpu())
    assert r.status_code == 401
    r = await _bare(gremlin, "DELETE", "/attacks", {"Authorization": "Key not-the-key"})
    assert r.status_code == 401
    assert gremlin.attacks == {}


async def test_a_key_is_only_good_with_its_own_scheme(gremlin: GremlinStandIn) -> None:
    assert (await _bare(gremlin, "GET", "/clients", {"Authorization": f"Bearer {KEY}"})).status_code == 401
    assert (await _bare(gremlin, "GET", "/clients", {"Authorization": f"Key {COMPANY_TOKEN}"})).status_code == 401
    assert (await _bare(gremlin, "GET", "/clients", {"Authorization": f"Key {KEY}"})).status_code == 200


async def test_a_team_key_needs_no_team_id_and_cannot_reach_another_team(gremlin: GremlinStandIn) -> None:
    auth = {"Authorization": f"Key {KEY}"}
    assert (await _bare(gremlin, "GET", "/attacks/active", auth)).status_code == 200
    assert (await _bare(gremlin, "GET", "/attacks/active", auth, params={"teamId": TEAM})).status_code == 200
    r = await _bare(gremlin, "GET", "/attacks/active", auth, params={"teamId": OTHER_TEAM})
    assert r.status_code == 403 and "User requires privilege for target team" in r.text
    r = await _bare(gremlin, "POST", "/attacks/new", auth, params={"teamId": OTHER_TEAM}, json=cpu())
    assert r.status_code == 403 and gremlin.attacks == {}


async def test_a_company_session_must_name_the_team(gremlin: GremlinStandIn) -> None:
    auth = {"Authorization": f"Bearer {COMPANY_TOKEN}"}
    r = await _bare(gremlin, "GET", "/attacks/active", auth)
    assert r.status_code == 400 and "teamId" in r.text
    assert (await _bare(gremlin, "GET", "/attacks/active", auth, params={"teamId": TEAM})).status_code == 200
    r = await _bare(gremlin, "GET", "/attacks/active", auth, params={"teamId": "team-elsewhere"})
    assert r.status_code == 403
    r = await _bare(gremlin, "POST", "/attacks/new", auth, params={"teamId": TEAM}, json=cpu())
    assert r.status_code == 201 and gremlin.attack(r.text).team_id == TEAM


async def test_a_key_without_the_privilege_is_403(gremlin: GremlinStandIn) -> None:
    auth = {"Authorization": f"Key {READ_ONLY}"}
    assert (await _bare(gremlin, "GET", "/attacks/active", auth)).status_code == 200
    r = await _bare(gremlin, "POST", "/attacks/new", auth, json=cpu())
    assert r.status_code == 403 and "EXPERIMENTS_RUN" in r.text
    assert (await _bare(gremlin, "DELETE", "/attacks", auth)).status_code == 403
    r = await _bare(gremlin, "POST", "/halts", auth, json={"reason": "test"})
    assert r.status_code == 403 and "HALT_ALL" in r.text


async def test_another_teams_key_does_not_see_this_teams_attacks(gremlin: GremlinStandIn) -> None:
    r = await _bare(gremlin, "POST", "/attacks/new", {"Authorization": f"Key {KEY}"}, json=cpu())
    guid = r.text
    other = {"Authorization": f"Key {OTHER_KEY}"}
    assert (await _bare(gremlin, "GET", f"/attacks/{guid}", other)).status_code == 404
    assert (await _bare(gremlin, "DELETE", f"/attacks/{guid}", other)).status_code == 404
    assert (await _bare(gremlin, "GET", "/attacks/active", other)).json() == []


async def test_unknown_paths_are_404_and_wrong_methods_405(gremlin: GremlinStandIn) -> None:
    auth = {"Authorization": f"Key {KEY}"}
    assert (await _bare(gremlin, "GET", "/attacks/a/b/c", auth)).status_code == 404
    async with httpx.AsyncClient(base_url=gremlin.url.removesuffix("/v1"), trust_env=False) as client:
        assert (await client.get("/v2/attacks", headers=auth)).status_code == 404
    assert (await _bare(gremlin, "PUT", "/attacks/new", auth)).status_code == 405
    assert (await _bare(gremlin, "GET", "/halts", auth)).status_code == 405

"""The Gremlin executor: the team's API key joins each request here, and attack guids are remembered here.

Why the key is safe: a scenario names only where the key is read (`key_env:` or `key_file:`); the plan's
requests carry no credentials, and the executor adds `Authorization: Key ...` as it sends. Nothing the journal
records (plans' summaries, specs, results' details) contains it: an error names the variable or file, never
the value.

Why a revert finds its attack: `POST /attacks/new` answers the guid; the executor keeps it under the fault's
`ref` (the session-named fault) for the revert and verify, and the engine journals it with `fault-injected`,
so `recover` passes it back (`AttackRequest.guid`). A create the API refused (a 4xx) created nothing: its
revert and verify succeed as "never created". A create whose answer was lost may have created an attack the
room cannot name: that is not called clean; the attack ends by itself at its length (the service-side leash).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from controlroom.errors import TargetError
from controlroom.scenario.model import GremlinRef, Target
from controlroom.targets.api import ApiExecutor
from controlroom.targets.base import Action, ActionResult, HttpRequest

GUID_RE = re.compile(r"[A-Za-z0-9-]{1,64}")
REFUSED = (400, 401, 403, 404, 409, 422)  # the API answered and created nothing


@dataclass(frozen=True)
class AttackCreate(HttpRequest):
    """`POST /attacks/new`: on 201 the body is the guid, remembered under `ref`."""

    ref: str = ""


@dataclass(frozen=True)
class AttackRequest(HttpRequest):
    """A request about one attack; `{guid}` in the url is the attack's guid (known, or remembered under `ref`)."""

    ref: str = ""
    guid: str | None = None


def read_key(ref: GremlinRef, target: str) -> str:
    """The API key from the environment variable or file the scenario names. Errors never show the key."""
    if ref.key_env:
        key = os.environ.get(ref.key_env, "").strip()
        if not key:
            raise TargetError(f"target {target!r}: the Gremlin API key variable ${ref.key_env} is not set; export it")
        return key
    if ref.key_file:
        path = Path(ref.key_file).expanduser()
        try:
            key = path.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise TargetError(f"target {target!r}: cannot read the Gremlin API key file {path}: "
                              f"{err.strerror or err}") from None
        if not key:
            raise TargetError(f"target {target!r}: the Gremlin API key file {path} is empty")
        return key
    raise TargetError(f"target {target!r}: no Gremlin API key source (key_env: or key_file:)")


class GremlinExecutor(ApiExecutor):
    def __init__(self, target: Target) -> None:
        assert target.gremlin is not None
        self.ref = target.gremlin
        self._key: str | None = None
        super().__init__(target.name, headers=self._auth)
        self.guids: dict[str, str] = {}
        self.refused: set[str] = set()

    def _auth(self) -> dict[str, str]:
        if self._key is None:
            self._key = read_key(self.ref, self.target)
        return {"Authorization": f"Key {self._key}"}

    async def run(self, action: Action) -> ActionResult:
        try:
            if isinstance(action, AttackCreate):
                return await self._create(action)
            if isinstance(action, AttackRequest):
                return await self._about(action)
            return await super().run(action)
        except TargetError as err:  # the key cannot be read: a failed action that says why, never the key
            return ActionResult(ok=False, error=str(err))

    async def _create(self, action: AttackCreate) -> ActionResult:
        result = await self.request(action)
        if result.ok:
            guid = result.stdout.strip()
            if not GUID_RE.fullmatch(guid):
                return ActionResult(ok=False, status=result.status, elapsed=result.elapsed,
                                    error=f"the attack was created but its guid is not one: {guid[:60]!r}")
            self.guids[action.ref] = guid
            return ActionResult(ok=True, status=result.status, stdout=guid, elapsed=result.elapsed)
        if result.status in REFUSED:
            self.refused.add(action.ref)
        return result

    async def _about(self, action: AttackRequest) -> ActionResult:
        guid = action.guid or self.guids.get(action.ref)
        if guid is None:
            if action.ref in self.refused:
                return ActionResult(ok=True, status=0, stdout="never created (the API refused it)")
            return ActionResult(ok=False, error=f"no attack guid known for {action.ref}: if it was created, it "
                                                "ends by itself at its length (the service-side leash)")
        return await self.request(action, url=action.url.replace("{guid}", guid))

"""A Gremlin API stand-in: the endpoints a game day uses, on loopback, with attacks that end at their length.

Gremlin's service cannot be reached from the machines this project is built on, so the tests
(and a laptop rehearsal) talk to this one. It follows the documented v1 REST API (the
OpenAPI reference, gremlin.com/docs/api-reference, and the `gremlinapi` SDK and Walmart's
Concord Gremlin task, two clients that use it in production):

  auth      `Authorization: Key API_KEY` (team API key) or `Bearer TOKEN`; missing, malformed or
            unknown → 401. `?teamId=` optional with a team key (another team → 403), required with
            a company session token (missing → 400, a team outside the company → 403).
  POST   /v1/attacks/new            {"command": {"type", "args"}, "target": {"type": "Exact"|"Random", ...}}
                                    → 201, the attack guid as text/plain
  GET    /v1/attacks/active         [TaskResponse]        (/active/paged: {"pageSize","pageToken","items"})
  GET    /v1/attacks/completed      [TaskResponse]        (/completed/paged), GET /v1/attacks: all
  GET    /v1/attacks/{guid}         TaskResponse with `stage` and `stageLifecycle`; 404 if unknown
  DELETE /v1/attacks/{guid}         halt one, idempotent → 202 (also POST /v1/attacks/{guid}/halt)
  DELETE /v1/attacks                halt every active attack of the team → 202 (also POST /v1/attacks/halt)
  POST   /v1/halts                  halt every active attack of the company (all teams) → 202
  GET    /v1/clients                {"active": [...], "idle": [...], "inactive": [...]}; /clients/active: [...]
  GET    /v1/clients/{id}, PUT /v1/clients/{id}/activate, DELETE /v1/clients/{id} (revoke)
  GET    /v1/containers             containers of the active clients
  GET    /v1/agents (paged), /v1/agents/summary   the newer view of the same clients (Active/Idle/Deactivated)

Targets: `"hosts": {"ids": [...]}` (or the legacy `"exact": [...]`), `"hosts": {"multiSelectTags":
{"k": ["v"]}}` or `"tags": {"k": "v"}` or `"hosts": "all"`; containers alike with `"containers":
{"ids"|"multiSelectLabels"|"labels"}`; Random takes `"percent"` (1..100) or `"exact"` (a count).
Only ACTIVE clients are targets. No match → 400, unless `"continueOnEmptyTargets": true`, when
the attack is created and ends in stage TargetNotFound.

Stages (TaskResponse.stage, the service's own names): Pending → Distributed → Initializing →
Running → TearingDown → Successful; a halt goes Halt → HaltDistributed → UserHalted. The attack's
`-l/--length` is the service-side leash: Running ends by itself when it has passed. Stage
changes are computed from a clock the caller gives (`clock`, `speed`, `StageDelays`), so tests
move time by hand instead of sleeping.

Where it differs from the real service (chosen, or unknown there):
  * Nothing is attacked: clients are records; a shutdown (without -r) marks its hosts IDLE when it ends.
  * `-l/--length` is required here (400 without it); the real service runs 60 s. Pass
    `require_length=False` for the real default. The product must always send its leash.
  * Arguments are checked at create (400); the real service may accept some and fail the
    attack later (stage InvalidArgument).
  * Error bodies are one line of text (the real bodies are not documented: rely on the status).
  * DELETE /v1/attacks halts the team's attacks (the reference names the HALT_ALL privilege but no
    scope); POST /v1/halts the whole company's (its `teamId`, if given, narrows it to one team).
  * Halt answers carry the affected TaskResponses; TaskResponse has the fields a client needs
    (guid, stage, stageLifecycle, targets, executionSummaries, times), not every field.
  * No users/auth login, no scenarios, schedules, reports or Kubernetes attacks; one company.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

from controlroom.lab._gremlin_args import ArgsError, Command, parse_command
from controlroom.lab._http import HttpServer, Request, Response, text
from controlroom.lab._proc import (
    StandInError,
    StandInProcess,
    served_from_the_command_line,
    start_stand_in,
    until_stopped,
)

DEFAULT_PORT = 8475
COMPANY = "stand-in-company"
PRIVILEGES = frozenset({"EXPERIMENTS_READ", "EXPERIMENTS_RUN", "HALT_WRITE", "HALT_ALL", "CLIENTS_READ",
                        "CLIENTS_WRITE"})
AUTH_MISSING = ("Authorization header missing or malformed. Please provide proper credentials in the "
                "authorization header.")
ACTIVE_STAGES = ("Pending", "Distributed", "Initializing", "Running", "TearingDown")
HALTING_STAGES = ("Halt", "HaltDistributed")
COMPLETE_STAGES = ("Successful", "UserHalted")
ERROR_STAGES = ("TargetNotFound",)


@dataclass(frozen=True)
class ApiKey:
    """A credential: a team API key (`Key`), or a session token (`Bearer`); `team_id` None = company session."""

    secret: str
    team_id: str | None = None
    scheme: str = "Key"
    privileges: frozenset[str] = PRIVILEGES
    user: str = "gameday@example.com"


@dataclass
class Container:
    id: str
    name: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    image: str = "shop:latest"


@dataclass
class Client:
    """A Gremlin agent on a host ("client" in the API): ACTIVE, IDLE (no heartbeat) or REVOKED."""

    identifier: str
    team_id: str
    state: str = "ACTIVE"
    tags: dict[str, str] = field(default_factory=dict)
    containers: list[Container] = field(default_factory=list)

    def to_json(self, seen: str) -> dict[str, Any]:
        return {"identifier": self.identifier, "orgId": self.team_id, "companyId": COMPANY, "state": self.state,
                "tags": dict(self.tags), "lastSeen": seen, "targetType": "Host", "osType": "Linux",
                "containers": [{"id": c.id, "name": c.name or c.id, "image": c.image, "labels": dict(c.labels)}
                               for c in self.containers]}


@dataclass(frozen=True)
class StageDelays:
    """Seconds (of service time) spent in each passing stage; `instant()` for tests that only want the leash."""

    pending: float = 0.2
    distributed: float = 0.2
    initializing: float = 0.2
    teardown: float = 0.2
    halt: float = 0.2
    halt_distributed: float = 0.2

    @classmethod
    def instant(cls) -> StageDelays:
        return cls(0, 0, 0, 0, 0, 0)


@dataclass
class Attack:
    guid: str
    team_id: str
    command: Command
    target_doc: dict[str, Any]
    target_type: str  # Host | Container
    targets: list[str]  # client identifiers
    containers: dict[str, list[str]]
    created: float  # service seconds
    delays: StageDelays
    user: str
    halted: float | None = None
    halt_reason: str = ""
    effects_applied: bool = False

    @property
    def run_seconds(self) -> float:
        if self.command.type == "shutdown":
            return float(str(self.command.options.get("-d", "1"))) * 60.0  # -d: minutes before the shutdown
        return float(self.command.length or 0)

    def _times(self) -> tuple[float, float, float, float, float]:
        d = self.delays
        distributed = self.created + d.pending
        initializing = distributed + d.distributed
        running = initializing + d.initializing
        tearing = running + self.run_seconds
        return distributed, initializing, running, tearing, tearing + d.teardown

    def running_at(self) -> float | None:
        return self._times()[2] if self.targets else None

    def natural_end(self) -> float:
        """When the attack ends by itself: its length (the service-side leash) after it started running."""
        if not self.targets:
            return self.created + self.delays.pending
        return self._times()[-1]

    def stage(self, now: float) -> str:
        if not self.targets:
            return "Pending" if now < self.natural_end() else "TargetNotFound"
        if self.halted is not None and now >= self.halted:
            if now < self.halted + self.delays.halt:
                return "Halt"
            if now < self.halted + self.delays.halt + self.delays.halt_distributed:
                return "HaltDistributed"
            return "UserHalted"
        distributed, initializing, running, tearing, done = self._times()
        for start, name in ((done, "Successful"), (tearing, "TearingDown"), (running, "Running"),
                            (initializing, "Initializing"), (distributed, "Distributed")):
            if now >= start:
                return name
        return "Pending"

    def end(self, now: float) -> float | None:
        stage = self.stage(now)
        if stage == "UserHalted":
            assert self.halted is not None
            return self.halted + self.delays.halt + self.delays.halt_distributed
        if stage in ("Successful", "TargetNotFound"):
            return self.natural_end()
        return None

    def halt(self, now: float, reason: str = "") -> bool:
        """Ask the attack to stop; idempotent, and a finished attack stays as it finished."""
        if self.halted is not None or now >= self.natural_end():
            return False
        self.halted, self.halt_reason = now, reason
        return True


def lifecycle(stage: str) -> str:
    if stage in ACTIVE_STAGES:
        return "Active"
    if stage in HALTING_STAGES:
        return "Halting"
    return "Complete" if stage in COMPLETE_STAGES else "Error"


class GremlinError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class GremlinStandIn:
    """The stand-in service. `await start()` returns the port; the API lives under `url` (…/v1)."""

    def __init__(self, keys: list[ApiKey], clients: list[Client] | None = None, *, host: str = "127.0.0.1",
                 port: int = DEFAULT_PORT, clock: Callable[[], float] = time.monotonic, speed: float = 1.0,
                 delays: StageDelays | None = None, require_length: bool = True, seed: int | None = None) -> None:
        self.keys = {(k.scheme, k.secret): k for k in keys}
        self.clients = {c.identifier: c for c in clients or []}
        self.attacks: dict[str, Attack] = {}
        self.delays = delays or StageDelays()
        self.require_length = require_length
        self.host, self.port = host, port
        self._clock, self._speed = clock, speed
        self._origin = clock()
        self._wall_origin = datetime.now(UTC)
        self._rng = random.Random(seed)
        self._http = HttpServer(self.handle, host, port)

    # --- time -------------------------------------------------------------------------------------------------

    def now(self) -> float:
        """Service seconds since the stand-in was made (the caller's clock, times `speed`)."""
        return (self._clock() - self._origin) * self._speed

    def _iso(self, t: float | None) -> str | None:
        if t is None:
            return None
        wall = self._wall_origin + timedelta(seconds=t)
        return wall.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    # --- lifecycle and in-process helpers ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    async def start(self) -> int:
        self.port = await self._http.start()
        return self.port

    async def stop(self) -> None:
        await self._http.stop()

    def attack(self, guid: str) -> Attack:
        return self.attacks[guid]

    def stage(self, guid: str) -> str:
        return self.attacks[guid].stage(self.now())

    def set_client_state(self, identifier: str, state: str) -> None:
        if state not in ("ACTIVE", "IDLE", "REVOKED"):
            raise ValueError(f"client state {state!r}: ACTIVE, IDLE or REVOKED")
        self.clients[identifier].state = state

    def _settle(self) -> None:
        # Effects an attack has on its targets once it has run: a shutdown without reboot leaves its hosts
        # silent, and Gremlin shows a host that stopped heartbeating as IDLE.
        now = self.now()
        for attack in self.attacks.values():
            if (attack.command.type == "shutdown" and not attack.effects_applied
                    and attack.stage(now) == "Successful" and not attack.command.options.get("-r")):
                attack.effects_applied = True
                for identifier in attack.targets:
                    if identifier in self.clients:
                        self.clients[identifier].state = "IDLE"

    # --- HTTP -------------------------------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        parts = request.path.split("/")[1:]
        if len(parts) < 2 or parts[0] != "v1" or any(p == "" for p in parts):
            return text(404, "Not Found\n")
        route, args = _route(parts[1:])
        if route is None:
            return text(404, "Not Found\n")
        handler = getattr(self, f"_{route}_{request.method.lower()}", None)
        if request.method not in ("GET", "POST", "PUT", "DELETE") or handler is None:
            return text(405, "Method Not Allowed\n")
        try:
            key = self._authenticate(request)
            self._settle()
            return await handler(request, key, *args)
        except GremlinError as err:
            return text(err.status, err.message + "\n")

    def _authenticate(self, request: Request) -> ApiKey:
        header = request.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        if scheme not in ("Key", "Bearer") or not secret.strip():
            raise GremlinError(401, AUTH_MISSING)
        key = self.keys.get((scheme, secret.strip()))
        if key is None:
            raise GremlinError(401, "The credentials in the authorization header are not valid.")
        return key

    def _team(self, request: Request, key: ApiKey, privilege: str) -> str:
        team = request.param("teamId")
        if key.team_id is None:
            if not team:
                raise GremlinError(400, "teamId is required when using a company session token")
            if team not in self._teams():
                raise GremlinError(403, f"User requires privilege for target team: {privilege}")
        elif team and team != key.team_id:
            raise GremlinError(403, f"User requires privilege for target team: {privilege}")
        if privilege not in key.privileges:
            raise GremlinError(403, f"User requires privilege for target team: {privilege}")
        return team or str(key.team_id)

    def _teams(self) -> set[str]:
        return {c.team_id for c in self.clients.values()} | {k.team_id for k in self.keys.values() if k.team_id}

    def _find(self, team: str, guid: str) -> Attack:
        attack = self.attacks.get(guid)
        if attack is None or attack.team_id != team:
            raise GremlinError(404, f"No attack {guid} in team {team}")
        return attack

    # attacks

    async def _attacks_new_post(self, request: Request, key: ApiKey) -> Response:
        team = self._team(request, key, "EXPERIMENTS_RUN")
        try:
            doc = json.loads(request.body or b"null")
        except ValueError:
            raise GremlinError(400, "The request body is not JSON") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("target"), dict):
            raise GremlinError(400, "The body needs a command and a target object")
        try:
            command = parse_command(doc.get("command"), self.require_length)
        except ArgsError as err:
            raise GremlinError(400, str(err)) from None
        target_type, targets, containers = self._resolve(team, doc["target"], command)
        if not targets and doc.get("continueOnEmptyTargets") is not True:
            raise GremlinError(400, "No active targets match the target selection (set continueOnEmptyTargets "
                                    "to create the attack anyway)")
        guid = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        self.attacks[guid] = Attack(guid, team, command, doc["target"], target_type, targets, containers,
                                    self.now(), self.delays, key.user)
        return Response(201, guid.encode(), "text/plain")

    def _resolve(self, team: str, target: dict[str, Any], command: Command) -> tuple[str, list[str],
                                                                                      dict[str, list[str]]]:
        kind = target.get("type")
        if kind not in ("Exact", "Random"):
            raise GremlinError(400, f"target.type must be Exact or Random, got {kind!r}")
        active = [c for c in self.clients.values() if c.team_id == team and c.state == "ACTIVE"]
        if "containers" in target:
            if command.type == "time_travel":
                raise GremlinError(400, "time_travel cannot target containers")
            return self._resolve_containers(kind, target, active)
        hosts = target.get("hosts", "all")
        ids = hosts.get("ids") if isinstance(hosts, dict) else None
        if kind == "Exact":
            ids = ids if ids is not None else target.get("exact")
            if not _strings(ids):
                raise GremlinError(400, "An Exact target needs hosts.ids: a non-empty list of client identifiers")
            wanted = set(ids)
            return "Host", [c.identifier for c in active if c.identifier in wanted], {}
        if hosts != "all" and not isinstance(hosts, dict):
            raise GremlinError(400, "target.hosts must be \"all\" or an object (ids or multiSelectTags)")
        pool = active
        if ids is not None:
            if not _strings(ids):
                raise GremlinError(400, "hosts.ids must be a non-empty list of client identifiers")
            pool = [c for c in pool if c.identifier in set(ids)]
        selectors = [_multi(hosts.get("multiSelectTags") if isinstance(hosts, dict) else None, "multiSelectTags"),
                     _multi(target.get("multiSelectTags"), "multiSelectTags"), _single(target.get("tags"), "tags")]
        for selector in selectors:
            pool = [c for c in pool if _matches(c.tags, selector)]
        chosen = self._sample(pool, target)
        return "Host", [c.identifier for c in chosen], {}

    def _resolve_containers(self, kind: str, target: dict[str, Any], active: list[Client]) -> tuple[
            str, list[str], dict[str, list[str]]]:
        spec = target["containers"]
        pool = [(c, k) for c in active for k in c.containers]
        if kind == "Exact":
            ids = spec.get("ids") if isinstance(spec, dict) else None
            if not _strings(ids):
                raise GremlinError(400, "An Exact target needs containers.ids: a non-empty list of container ids")
            chosen = [(c, k) for c, k in pool if k.id in set(ids)]
        else:
            if spec != "all" and not isinstance(spec, dict):
                raise GremlinError(400, "target.containers must be \"all\" or an object (ids or multiSelectLabels)")
            if isinstance(spec, dict):
                if "ids" in spec:
                    if not _strings(spec["ids"]):
                        raise GremlinError(400, "containers.ids must be a non-empty list of container ids")
                    pool = [(c, k) for c, k in pool if k.id in set(spec["ids"])]
                for selector in (_multi(spec.get("multiSelectLabels"), "multiSelectLabels"),
                                 _single(spec.get("labels"), "labels")):
                    pool = [(c, k) for c, k in pool if _matches(k.labels, selector)]
            chosen = self._sample(pool, target)
        containers: dict[str, list[str]] = {}
        for client, container in chosen:
            containers.setdefault(client.identifier, []).append(container.id)
        return "Container", list(containers), containers

    def _sample(self, pool: list[Any], target: dict[str, Any]) -> list[Any]:
        exact, percent = target.get("exact"), target.get("percent")
        if exact is not None:
            if isinstance(exact, str) and exact.isdigit():
                exact = int(exact)
            if not isinstance(exact, int) or isinstance(exact, bool) or exact < 1:
                raise GremlinError(400, "target.exact must be a count of targets >= 1")
            count = exact
        elif percent is not None:
            if not isinstance(percent, int) or isinstance(percent, bool) or not 1 <= percent <= 100:
                raise GremlinError(400, "target.percent must be an integer 1..100")
            count = math.ceil(len(pool) * percent / 100)
        else:
            count = 1
        return self._rng.sample(pool, min(count, len(pool)))

    def _task(self, attack: Attack) -> dict[str, Any]:
        now = self.now()
        stage = attack.stage(now)
        running = attack.running_at()
        ran = running is not None and now >= running and (attack.halted is None or attack.halted > running)
        start = self._iso(running) if ran else None
        end = self._iso(attack.end(now))
        summaries = {t: {"stage": stage, "startTime": start, "endTime": end} for t in attack.targets}
        return {
            "guid": attack.guid, "orgId": attack.team_id, "owningTeamId": attack.team_id,
            "args": [attack.command.type, *attack.command.args], "stage": stage, "stageLifecycle": lifecycle(stage),
            "createSource": "Api", "kind": "Api", "createUser": attack.user,
            "infraCommand": {"type": attack.command.type, "commandType": attack.command.display,
                             "args": list(attack.command.args), "length": attack.command.length},
            "infraTarget": attack.target_doc, "targetType": attack.target_type, "targets": list(attack.targets),
            "targetContainers": dict(attack.containers), "totalClients": len(attack.targets),
            "executionSummaries": summaries, "executionStageSummary": {stage: len(attack.targets)} if attack.targets
            else {}, "startTime": start, "endTime": end, "createdAt": self._iso(attack.created),
            "updatedAt": self._iso(now), "annotations": {"haltReason": attack.halt_reason} if attack.halt_reason
            else {},
        }

    def _listed(self, team: str, request: Request, which: tuple[str, ...] | None) -> list[Attack]:
        now = self.now()
        attacks = [a for a in self.attacks.values() if a.team_id == team
                   and (which is None or lifecycle(a.stage(now)) in which)]
        source = (request.param("source") or "").lower()
        if source == "scenario":
            attacks = []  # every attack here is ad hoc
        attacks.sort(key=lambda a: a.created, reverse=True)
        return attacks

    async def _attacks_get(self, request: Request, key: ApiKey) -> Response:
        return self._list(request, key, None)

    async def _active_get(self, request: Request, key: ApiKey) -> Response:
        return self._list(request, key, ("Active", "Halting"))

    async def _completed_get(self, request: Request, key: ApiKey) -> Response:
        return self._list(request, key, ("Complete", "Error"))

    def _list(self, request: Request, key: ApiKey, which: tuple[str, ...] | None) -> Response:
        attacks = self._listed(self._team(request, key, "EXPERIMENTS_READ"), request, which)
        size = _page_size(request.param("pageSize"), len(attacks))
        return _json([self._task(a) for a in attacks[:size]])

    async def _active_paged_get(self, request: Request, key: ApiKey) -> Response:
        return self._paged(request, key, ("Active", "Halting"))

    async def _completed_paged_get(self, request: Request, key: ApiKey) -> Response:
        return self._paged(request, key, ("Complete", "Error"))

    def _paged(self, request: Request, key: ApiKey, which: tuple[str, ...]) -> Response:
        attacks = self._listed(self._team(request, key, "EXPERIMENTS_READ"), request, which)
        size = _page_size(request.param("pageSize"), 1000)
        token = request.param("pageToken") or ""
        match = re.fullmatch(r"offset-(\d+)", token)
        if token and not match:
            raise GremlinError(400, f"pageToken {token!r} is not one this service gave")
        offset = int(match.group(1)) if match else 0
        page = attacks[offset:offset + size]
        body: dict[str, Any] = {"pageSize": size, "items": [self._task(a) for a in page]}
        if offset + size < len(attacks):
            body["pageToken"] = f"offset-{offset + size}"
        return _json(body)

    async def _attack_get(self, request: Request, key: ApiKey, guid: str) -> Response:
        return _json(self._task(self._find(self._team(request, key, "EXPERIMENTS_READ"), guid)))

    async def _attack_delete(self, request: Request, key: ApiKey, guid: str) -> Response:
        attack = self._find(self._team(request, key, "HALT_WRITE"), guid)
        attack.halt(self.now(), _reason(request.body))
        return _json([self._task(attack)], 202)

    _attack_halt_post = _attack_delete

    async def _attacks_delete(self, request: Request, key: ApiKey) -> Response:
        team = self._team(request, key, "HALT_ALL")
        return self._halt_all([a for a in self.attacks.values() if a.team_id == team], _reason(request.body))

    _attacks_halt_post = _attacks_delete

    async def _halts_post(self, request: Request, key: ApiKey) -> Response:
        if "HALT_ALL" not in key.privileges:
            raise GremlinError(403, "User requires privilege: HALT_ALL")
        team = request.param("teamId")
        if team:
            self._team(request, key, "HALT_ALL")
        return self._halt_all([a for a in self.attacks.values() if not team or a.team_id == team],
                              _reason(request.body))

    def _halt_all(self, attacks: list[Attack], reason: str) -> Response:
        now = self.now()
        halted = [a for a in attacks if a.halt(now, reason)]
        return _json([self._task(a) for a in halted], 202)

    # clients

    async def _clients_get(self, request: Request, key: ApiKey) -> Response:
        team = self._team(request, key, "CLIENTS_READ")
        groups: dict[str, list[dict[str, Any]]] = {"active": [], "idle": [], "inactive": []}
        for client in self.clients.values():
            if client.team_id == team:
                group = {"ACTIVE": "active", "IDLE": "idle"}.get(client.state, "inactive")
                groups[group].append(self._client(client))
        return _json(groups)

    async def _clients_active_get(self, request: Request, key: ApiKey) -> Response:
        team = self._team(request, key, "CLIENTS_READ")
        return _json([self._client(c) for c in self.clients.values() if c.team_id == team and c.state == "ACTIVE"])

    def _client_of(self, team: str, identifier: str) -> Client:
        client = self.clients.get(identifier)
        if client is None or client.team_id != team:
            raise GremlinError(404, f"No client {identifier} in team {team}")
        return client

    async def _client_get(self, request: Request, key: ApiKey, identifier: str) -> Response:
        return _json(self._client(self._client_of(self._team(request, key, "CLIENTS_READ"), identifier)))

    async def _client_delete(self, request: Request, key: ApiKey, identifier: str) -> Response:
        client = self._client_of(self._team(request, key, "CLIENTS_WRITE"), identifier)
        client.state = "REVOKED"
        return _json(self._client(client))

    async def _client_activate_put(self, request: Request, key: ApiKey, identifier: str) -> Response:
        client = self._client_of(self._team(request, key, "CLIENTS_WRITE"), identifier)
        client.state = "ACTIVE"
        return _json(self._client(client))

    async def _containers_get(self, request: Request, key: ApiKey) -> Response:
        team = self._team(request, key, "CLIENTS_READ")
        return _json([{"identifier": k.id, "name": k.name or k.id, "image": k.image, "container_labels": k.labels,
                       "client_identifier": c.identifier}
                      for c in self.clients.values() if c.team_id == team and c.state == "ACTIVE"
                      for k in c.containers])

    async def _agents_get(self, request: Request, key: ApiKey) -> Response:
        # The newer, paged view of the same agents: status Active / Idle / Deactivated, tags as lists.
        team = self._team(request, key, "CLIENTS_READ")
        agents = [c for c in self.clients.values() if c.team_id == team]
        size = _page_size(request.param("pageSize"), 500)
        token = request.param("pageToken") or ""
        match = re.fullmatch(r"offset-(\d+)", token)
        if token and not match:
            raise GremlinError(400, f"pageToken {token!r} is not one this service gave")
        offset = int(match.group(1)) if match else 0
        items = [{"id": c.identifier, "type": "Infrastructure", "status": _AGENT_STATUS[c.state], "warningCount": 0,
                  "instanceCount": None, "tags": {k: [v] for k, v in c.tags.items()}}
                 for c in agents[offset:offset + size]]
        body: dict[str, Any] = {"pageSize": size, "items": items}
        if offset + size < len(agents):
            body["pageToken"] = f"offset-{offset + size}"
        return _json(body)

    async def _agents_summary_get(self, request: Request, key: ApiKey) -> Response:
        team = self._team(request, key, "CLIENTS_READ")
        states = [c.state for c in self.clients.values() if c.team_id == team]
        return _json({"active": states.count("ACTIVE"), "idle": states.count("IDLE"),
                      "deactivated": states.count("REVOKED"), "warnings": 0})

    def _client(self, client: Client) -> dict[str, Any]:
        return client.to_json(self._iso(self.now()) or "")


_AGENT_STATUS = {"ACTIVE": "Active", "IDLE": "Idle", "REVOKED": "Deactivated"}


def _route(parts: list[str]) -> tuple[str | None, list[str]]:
    match parts:
        case ["attacks"]:
            return "attacks", []
        case ["attacks", "new"]:
            return "attacks_new", []
        case ["attacks", "halt"]:
            return "attacks_halt", []
        case ["attacks", "active"]:
            return "active", []
        case ["attacks", "active", "paged"]:
            return "active_paged", []
        case ["attacks", "completed"]:
            return "completed", []
        case ["attacks", "completed", "paged"]:
            return "completed_paged", []
        case ["attacks", guid, "halt"]:
            return "attack_halt", [guid]
        case ["attacks", guid]:
            return "attack", [guid]
        case ["halts"]:
            return "halts", []
        case ["clients"]:
            return "clients", []
        case ["clients", "active"]:
            return "clients_active", []
        case ["clients", identifier, "activate"]:
            return "client_activate", [identifier]
        case ["clients", identifier]:
            return "client", [identifier]
        case ["containers"]:
            return "containers", []
        case ["agents"]:
            return "agents", []
        case ["agents", "summary"]:
            return "agents_summary", []
    return None, []


def _json(doc: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(doc).encode(), "application/json")


def _strings(value: Any) -> TypeGuard[list[str]]:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def _multi(value: Any, name: str) -> dict[str, list[str]]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, list) and all(isinstance(x, str) for x in v)
                                              for v in value.values()):
        raise GremlinError(400, f"{name} must map each key to a list of values")
    return value


def _single(value: Any, name: str) -> dict[str, list[str]]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise GremlinError(400, f"{name} must map each key to a value")
    return {k: [v] for k, v in value.items()}


def _matches(have: dict[str, str], selector: dict[str, list[str]]) -> bool:
    return all(have.get(k) in values for k, values in selector.items())


def _page_size(value: str | None, default: int) -> int:
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1:
        raise GremlinError(400, f"pageSize must be a positive integer, got {value!r}")
    return int(value)


def _reason(body: bytes) -> str:
    with contextlib.suppress(ValueError):
        doc = json.loads(body or b"null")
        if isinstance(doc, dict) and isinstance(doc.get("reason"), str):
            return str(doc["reason"])
    return ""


# --- command line and a process of its own --------------------------------------------------------------------

READY_RE = re.compile(r"gremlin stand-in on (http://\S+:(\d+)/v1)\b")


def parse_client(spec: str, team: str) -> Client:
    """`ID[:tag=value,tag=value]` → an ACTIVE client of `team`."""
    identifier, _, tags = spec.partition(":")
    pairs = [p for p in tags.split(",") if p]
    if not identifier or any("=" not in p for p in pairs):
        raise StandInError(f"--client {spec!r}: write ID or ID:tag=value,tag=value, e.g. web-1:service=shop")
    return Client(identifier, team, tags=dict(p.split("=", 1) for p in pairs))


async def _serve(args: argparse.Namespace) -> None:
    clients = [parse_client(c, args.team) for c in args.client]
    step = args.stage_seconds
    stand_in = GremlinStandIn([ApiKey(args.key, args.team)], clients, host=args.host, port=args.port,
                              speed=args.speed, require_length=not args.default_length,
                              delays=StageDelays(step, step, step, step, step, step))
    await stand_in.start()
    print(f"gremlin stand-in on {stand_in.url} (team {args.team}, clients: "
          f"{', '.join(stand_in.clients) or 'none'})", flush=True)
    try:
        await until_stopped()
    finally:
        await stand_in.stop()


class GremlinProcess(StandInProcess):
    """The stand-in in a process of its own (`python -m controlroom.lab.gremlin`), dying with its parent."""

    def __init__(self, key: str, team: str = "team-1", clients: list[str] | None = None, port: int = 0,
                 speed: float = 1.0, stage_seconds: float | None = None) -> None:
        self.key, self.team, self.clients, self.port, self.speed = key, team, clients or [], port, speed
        self.stage_seconds = stage_seconds
        self.url = ""

    async def start(self, timeout: float = 10.0) -> str:
        argv = [sys.executable, "-m", "controlroom.lab.gremlin", "--port", str(self.port), "--team", self.team,
                "--speed", str(self.speed)]
        for client in self.clients:
            argv += ["--client", client]
        if self.stage_seconds is not None:
            argv += ["--stage-seconds", str(self.stage_seconds)]
        env = {**os.environ, "GREMLIN_STAND_IN_KEY": self.key}  # not on the command line, where ps shows it
        self._proc, match = await start_stand_in("gremlin", argv, READY_RE, f"port {self.port}", timeout, env=env)
        self.url, self.port = match.group(1), int(match.group(2))
        return self.url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m controlroom.lab.gremlin",
                                     description="A Gremlin API stand-in on loopback (attacks are records).")
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any)")
    parser.add_argument("--team", default="team-1", help="the team id of the key and clients (default team-1)")
    parser.add_argument("--key", default=os.environ.get("GREMLIN_STAND_IN_KEY"),
                        help="the team API key to accept (default: $GREMLIN_STAND_IN_KEY)")
    parser.add_argument("--client", action="append", default=[], metavar="ID[:tag=value,...]",
                        help="an active client (host) of the team, e.g. web-1:service=shop (repeatable)")
    parser.add_argument("--speed", type=float, default=1.0, help="service seconds per real second (default 1)")
    parser.add_argument("--stage-seconds", type=float, default=StageDelays().pending,
                        help="service seconds each passing stage lasts (Pending, Distributed, ..., Halt; default 0.2)")
    parser.add_argument("--default-length", action="store_true",
                        help="run attacks without -l for 60 s, as the real service, instead of refusing them")
    args = parser.parse_args(argv)
    with served_from_the_command_line("gremlin stand-in", args.host, args.port):
        if not args.key:
            raise StandInError("give the API key to accept: --key KEY or $GREMLIN_STAND_IN_KEY")
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()

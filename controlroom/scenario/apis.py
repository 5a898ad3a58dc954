"""The `toxiproxy:` and `gremlin:` target mappings, and the blast-radius rule for faults without a leash.

Kept apart from `validate.py` so the two API backends add one branch there, not a screenful. Names that reach
a URL path (proxy names, team id) are checked against a strict pattern here, so a plan never builds a request
to a path the scenario author did not mean (`../reset`, `?x=`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from controlroom.scenario import checks
from controlroom.scenario.loader import Seq
from controlroom.scenario.model import GremlinRef, Target, ToxiproxyRef

if TYPE_CHECKING:
    from controlroom.scenario.loader import Map, Node
    from controlroom.scenario.validate import Validator

TOXIPROXY_KEYS = ("api", "proxies", "ssh", "sudo")
GREMLIN_KEYS = ("api", "team", "key_env", "key_file", "select", "hosts", "containers", "tags", "percent",
                "allow_platform_halt")
DEFAULT_TOXIPROXY_API = "http://127.0.0.1:8474"
DEFAULT_GREMLIN_API = "https://api.gremlin.com/v1"
API_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}")  # proxy names, ids: nothing a path treats specially
ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# Backends whose faults may be declared unleashed in `blast_radius.allow_unleashed`.
UNLEASHED_BACKENDS = ("toxiproxy",)


def _name(value: str, what: str) -> str | None:
    return None if API_NAME_RE.fullmatch(value) else (
        f"{what} {value!r} must be letters, digits and _ . : - (it becomes part of an API path)")


def toxiproxy(v: Validator, node: Node | None, where: str) -> ToxiproxyRef | None:
    m = v.mapping(node, where)
    if m is None:
        return None
    v.keys(m, TOXIPROXY_KEYS, where)
    api = _api(v, m, where, DEFAULT_TOXIPROXY_API, "Toxiproxy API URL")
    pnode = v.require(m, "proxies", where, "the proxy names faults act on, e.g. [shop]")
    proxies = [s for s, item in v.strings(pnode, f"{where}.proxies")
               if not _bad(v, item, s, f"{where}.proxies", "proxy name")]
    if isinstance(pnode, Seq) and not pnode.items:
        v.at(pnode, f"{where}.proxies: list at least one proxy")
    ssh = v.checked(m.get("ssh"), f"{where}.ssh", checks.check_ssh_destination) if m.get("ssh") is not None else None
    sudo = bool(v.boolean(m.get("sudo"), f"{where}.sudo"))
    return ToxiproxyRef(api=api.rstrip("/"), proxies=tuple(proxies), ssh=ssh, sudo=sudo)


def gremlin(v: Validator, node: Node | None, where: str) -> GremlinRef | None:
    m = v.mapping(node, where)
    if m is None:
        return None
    v.keys(m, GREMLIN_KEYS, where)
    api = _api(v, m, where, DEFAULT_GREMLIN_API, "Gremlin API URL")
    team = v.checked(v.require(m, "team", where, "the Gremlin team id"), f"{where}.team",
                     lambda s: _name(s, "team id"))
    key_env = v.checked(m.get("key_env"), f"{where}.key_env",
                        lambda s: None if ENV_RE.fullmatch(s) else f"key_env {s!r} must be an environment variable name")
    key_file = v.checked(m.get("key_file"), f"{where}.key_file", lambda s: checks.check_path(s, "path"))
    if ("key_env" in m.entries) == ("key_file" in m.entries):
        v.at(m, f"{where}: name where the API key is read with exactly one of key_env: (an environment variable) or "
                "key_file: (a file); the key itself is never written in a scenario")
    select = v.choice(m.get("select"), f"{where}.select", ("Exact", "Random")) or "Exact"
    hosts = [s for s, item in v.strings(m.get("hosts"), f"{where}.hosts") if not _bad(v, item, s, where, "host id")]
    containers = [s for s, item in v.strings(m.get("containers"), f"{where}.containers")
                  if not _bad(v, item, s, where, "container id")]
    tags = v.labels(m.get("tags"), f"{where}.tags")
    if hosts and containers:
        v.at(m, f"{where}: an attack targets hosts or containers, not both: keep one of hosts: / containers:")
    if not hosts and not containers and not tags:
        v.at(m, f"{where}: select what the attacks hit: hosts: [ids], containers: [ids] or tags: {{key: value}}")
    percent = v.integer(m.get("percent"), f"{where}.percent", 1) if m.get("percent") is not None else None
    if percent is not None and percent > 100:
        v.at(m.get("percent") or m, f"{where}.percent: {percent} is above 100")
    if percent is not None and select != "Random":
        v.at(m.get("percent") or m, f"{where}.percent: only a Random selection takes a percent (select: Random)")
    if select == "Random" and percent is None:
        v.at(m, f"{where}: a Random selection needs percent: (1..100)")
    if team is None:
        return None
    chosen: Literal["Exact", "Random"] = "Random" if select == "Random" else "Exact"
    return GremlinRef(api=api.rstrip("/"), team=team, key_env=key_env, key_file=key_file, select=chosen,
                      hosts=tuple(hosts), containers=tuple(containers), tags=tags,
                      kind="containers" if containers else "hosts", percent=percent,
                      allow_platform_halt=bool(v.boolean(m.get("allow_platform_halt"), f"{where}.allow_platform_halt")))


def _api(v: Validator, m: Map, where: str, default: str, what: str) -> str:
    """`api:`, checked as a URL (`what` names it in the message); `default` when it is absent, or refused (then
    the problem is reported and the scenario refused)."""
    if m.get("api") is None:
        return default
    return v.checked(m.get("api"), f"{where}.api", lambda s: checks.check_url(s, what)) or default


def _bad(v: Validator, item: Node, value: str, where: str, what: str) -> bool:
    message = _name(value, what)
    if message:
        v.at(item, f"{where}: {message}")
    return bool(message)


def unleashed_problem(target: Target, fault_type: str, allowed: tuple[str, ...]) -> str | None:
    """Why a fault may not run here, when it would have no leash at all and the scenario did not allow that.

    Safety rule: every fault is leashed. Toxiproxy has no TTL, so a toxic on a proxy whose host the room cannot
    reach by SSH outlives a dead room until someone deletes it. That is refused unless the blast radius names
    the backend in `allow_unleashed`.
    """
    if target.kind == "toxiproxy" and target.toxiproxy is not None and target.toxiproxy.ssh is None \
            and "toxiproxy" not in allowed:
        return (f"fault {fault_type!r} on {target.name!r} would have no leash (Toxiproxy has no TTL and the target "
                "names no ssh: host to arm a guard on): add `ssh:` to the target, or accept it with "
                "`blast_radius.allow_unleashed: [toxiproxy]`")
    return None

"""Executors for `toxiproxy` and `gremlin` targets (see `targets.api` for what they share)."""

from __future__ import annotations

from controlroom.errors import TargetError
from controlroom.scenario.model import Target
from controlroom.targets.api import ApiExecutor
from controlroom.targets.base import Action, Executor, HttpRequest


def api_executor(target: Target) -> Executor:
    if target.kind == "toxiproxy" and target.toxiproxy is not None:
        shell: Executor | None = None
        if target.toxiproxy.ssh:
            from controlroom.targets.ssh import SshExecutor

            # The leash guard runs on the Toxiproxy host: the same host-key rules as every ssh target.
            shell = SshExecutor(target.name, target.toxiproxy.ssh, known_hosts=target.known_hosts,
                                identity_file=target.identity_file)
        return ApiExecutor(target.name, shell=shell)
    if target.kind == "gremlin" and target.gremlin is not None:
        from controlroom.targets.gremlin import GremlinExecutor

        return GremlinExecutor(target)
    raise TargetError(f"target {target.name!r}: no API described for this {target.kind} target")


def api_reachability(target: Target) -> Action | None:
    """The pre-flight `reachable` check of an API target: its API answers (None: not an API target)."""
    if target.kind == "toxiproxy" and target.toxiproxy is not None:
        return HttpRequest("GET", f"{target.toxiproxy.api}/version", timeout=5.0)
    if target.kind == "gremlin" and target.gremlin is not None:
        # Any HTTP answer (a 401 too) proves the API is there; the key is checked by its own requirement.
        return HttpRequest("GET", f"{target.gremlin.api}/attacks/active", timeout=10.0, ok_status=tuple(range(100, 600)))
    return None

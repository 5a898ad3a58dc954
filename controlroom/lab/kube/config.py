"""How a simulated cluster is set up: address, credentials, what is installed, RBAC, and its delays."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

SIM_USER = "controlroom-sim-user"
SIM_CONTEXT = "controlroom-sim"
SIM_CLUSTER = "controlroom-sim"


@dataclass
class Timings:
    """Seconds. Defaults look like a small real cluster; `Timings.fast()` is for tests."""

    recreate_delay: float = 1.0   # a missing replica's new pod object appears this long after the loss is seen
    start_delay: float = 1.0      # a new pod: Pending -> Running
    ready_delay: float = 1.0      # Running -> Ready; also a restarted container back to ready
    termination: float = 0.0      # cap on a pod's graceful termination (0: gone as soon as it is deleted)
    inject_delay: float = 0.0     # Chaos Mesh stand-in: selection -> records Injected
    recover_delay: float = 0.0    # Chaos Mesh stand-in: Stop/delete -> records Not Injected
    litmus_scale: float = 1.0     # Litmus TOTAL_CHAOS_DURATION / CHAOS_INTERVAL (whole seconds) are multiplied by this

    @classmethod
    def fast(cls) -> Timings:
        return cls(recreate_delay=0.05, start_delay=0.05, ready_delay=0.05, termination=0.0, inject_delay=0.0,
                   recover_delay=0.0, litmus_scale=0.1)

    @classmethod
    def instant(cls) -> Timings:
        return cls(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.01)


@dataclass(frozen=True)
class Rule:
    """One row of the RBAC table: `*` matches anything; resources may name a subresource (`pods/status`)."""

    verbs: tuple[str, ...] = ("*",)
    resources: tuple[str, ...] = ("*",)
    groups: tuple[str, ...] = ("*",)
    namespaces: tuple[str, ...] = ("*",)  # "" (cluster scope) is matched by "*" only
    allow: bool = True

    def matches(self, verb: str, group: str, resource: str, namespace: str) -> bool:
        def hit(values: tuple[str, ...], value: str) -> bool:
            return "*" in values or value in values

        base = resource.split("/")[0]
        return (hit(self.verbs, verb) and hit(self.groups, group)
                and ("*" in self.resources or resource in self.resources or
                     (f"{base}/*" in self.resources and "/" in resource))
                and hit(self.namespaces, namespace))


class Rbac:
    """A test's RBAC table for the simulated user: deny rules first, then allow rules, then the default.

    Real RBAC has only allow rules (bound roles); a table with denials is the test's shorthand for
    "the role lacks this verb". What a client can observe is the same: SelfSubjectAccessReview answers
    allowed/not allowed, and the request itself gets 403 Forbidden.
    """

    def __init__(self, default_allow: bool = True):
        self.default_allow = default_allow
        self.rules: list[Rule] = []

    def deny(self, verbs: str | tuple[str, ...], resources: str | tuple[str, ...], groups: str | tuple[str, ...] = "*",
             namespaces: str | tuple[str, ...] = "*") -> Rbac:
        self.rules.append(Rule(_t(verbs), _t(resources), _t(groups), _t(namespaces), allow=False))
        return self

    def allow(self, verbs: str | tuple[str, ...], resources: str | tuple[str, ...], groups: str | tuple[str, ...] = "*",
              namespaces: str | tuple[str, ...] = "*") -> Rbac:
        self.rules.append(Rule(_t(verbs), _t(resources), _t(groups), _t(namespaces), allow=True))
        return self

    def clear(self) -> None:
        self.rules.clear()

    def allowed(self, verb: str, group: str, resource: str, namespace: str) -> bool:
        if any(not r.allow and r.matches(verb, group, resource, namespace) for r in self.rules):
            return False
        if any(r.allow and r.matches(verb, group, resource, namespace) for r in self.rules):
            return True
        return self.default_allow


def _t(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


@dataclass
class StandinConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    user: str = SIM_USER
    timings: Timings = field(default_factory=Timings)
    chaos_mesh_crds: bool = True
    chaos_mesh_controller: bool = True  # also its admission webhooks, as in a real install
    litmus_crds: bool = True
    litmus_operator: bool = True
    nodes: int = 3
    history_limit: int = 10_000  # watch events kept for resuming; older resourceVersions get 410 Expired
    # Chaos Mesh actions that make their target pods NotReady while injected (pod-failure always does)
    unready_actions: frozenset[str] = frozenset({"PodChaos/pod-failure"})
    kubernetes_version: tuple[int, int, int] = (1, 31, 4)
    seed: int | None = None  # the chaos stand-ins' random choices (mode one, random-max-percent...)
    tls: bool = True  # HTTPS with a throwaway CA, as a real API server (kubectl sends tokens over TLS only)

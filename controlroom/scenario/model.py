"""The scenario model: what a loaded, validated game-day scenario is, as plain frozen dataclasses.

Values are already parsed: durations are seconds (float), sizes bytes, rates
bits per second, percentages 0..100. Fault parameters stay in `FaultSpec.params`
keyed by name, parsed by the fault catalogue that also validates them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

TargetKind = Literal["ssh", "local", "http", "kubernetes", "toxiproxy", "gremlin"]
LostTelemetryPolicy = Literal["rollback", "pause", "warn"]


KUBE_MODES = ("one", "all", "fixed", "fixed-percent", "random-max-percent")  # Chaos Mesh's selection modes


@dataclass(frozen=True)
class KubernetesRef:
    """Pods on a cluster: the kubeconfig context, namespace(s), selectors and how many of the matches to hit."""

    context: str | None
    namespace: str  # the first of `namespaces`
    selector: str  # label selector, e.g. "app=checkout"
    namespaces: tuple[str, ...] = ()
    field_selector: str = ""
    mode: str = "all"  # one | all | fixed | fixed-percent | random-max-percent
    value: str = ""  # a count (fixed) or a percentage (the percent modes)
    kubeconfig: str | None = None  # a file; default: $KUBECONFIG or ~/.kube/config, as kubectl
    allow_namespaces: tuple[str, ...] = ()  # system namespaces (kube-system...) allowed by name

    @property
    def all_namespaces(self) -> tuple[str, ...]:
        return self.namespaces or (self.namespace,)


@dataclass(frozen=True)
class ToxiproxyRef:
    """A Toxiproxy server: its API, the proxies faults act on, and (optionally) the SSH host it runs on.

    With `ssh` the host leash is armed there (its guard deletes the toxics through the API on 127.0.0.1:port);
    without it a Toxiproxy fault has no leash at all (Toxiproxy has no TTL), which the scenario must allow.
    """

    api: str  # e.g. http://127.0.0.1:8474
    proxies: tuple[str, ...]
    ssh: str | None = None
    sudo: bool = False


@dataclass(frozen=True)
class GremlinRef:
    """A Gremlin team and the targets its attacks select. The API key is never here: only where to read it."""

    api: str  # e.g. https://api.gremlin.com/v1
    team: str
    key_env: str | None = None  # environment variable holding the team API key
    key_file: str | None = None  # file holding it
    select: Literal["Exact", "Random"] = "Exact"
    hosts: tuple[str, ...] = ()  # identifiers
    containers: tuple[str, ...] = ()  # container identifiers
    tags: dict[str, str] = field(default_factory=dict)  # host tags (or container labels with kind containers)
    kind: Literal["hosts", "containers"] = "hosts"
    percent: int | None = None  # Random: share of the matching targets
    allow_platform_halt: bool = False  # `controlroom gremlin-halt --all-teams` may halt every team's attacks


@dataclass(frozen=True)
class Target:
    """A place faults land on. Exactly one of ssh / local / http / kubernetes describes how to reach it."""

    name: str
    kind: TargetKind
    labels: dict[str, str] = field(default_factory=dict)
    ssh: str | None = None  # "user@host", "user@host:port" or an alias from ~/.ssh/config
    sudo: bool = False
    interface: str = "eth0"
    url: str | None = None  # http targets: base URL of the admin endpoint
    kubernetes: KubernetesRef | None = None
    toxiproxy: ToxiproxyRef | None = None
    gremlin: GremlinRef | None = None
    identity_file: str | None = None
    known_hosts: str | None = None


@dataclass(frozen=True)
class FaultSpec:
    """One fault as written in a step: its type, where, and its parsed parameters."""

    type: str
    target: str  # a target name, or a label selector "key=value" resolving to targets
    params: dict[str, Any] = field(default_factory=dict)
    optional: bool = False  # may be skipped when pre-flight finds the capability missing


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    brief: str = ""
    faults: tuple[FaultSpec, ...] = ()
    duration: float | None = None  # seconds the faults stay in; required when faults are present
    expect: str = ""
    confirm: bool = True
    abort_on_failure: bool = False
    phase: str | None = None


@dataclass(frozen=True)
class MetricSpec:
    """A named series from one source: the built-in HTTP prober, a PromQL query or a command."""

    name: str
    source: Literal["probe", "promql", "command", "kubernetes"]
    probe: str | None = None  # URL for the prober
    timeout: float = 2.0
    promql: str | None = None
    command: str | None = None
    on: str | None = None  # target the command runs on (kubernetes: the target whose pods are read); None = here


@dataclass(frozen=True)
class PrometheusConfig:
    url: str
    bearer_token_file: str | None = None
    basic_auth_user: str | None = None
    basic_auth_password_file: str | None = None
    ca_file: str | None = None
    insecure_skip_verify: bool = False
    timeout: float = 5.0


@dataclass(frozen=True)
class Observe:
    every: float = 1.0
    prometheus: PrometheusConfig | None = None
    metrics: dict[str, MetricSpec] = field(default_factory=dict)
    lost_telemetry: LostTelemetryPolicy = "rollback"
    lost_after: float = 5.0  # seconds without an answer before a source counts as lost


@dataclass(frozen=True)
class SteadyState:
    window: float = 10.0
    require: tuple[str, ...] = ()  # condition expressions, e.g. "success_rate >= 0.99"


@dataclass(frozen=True)
class BlastRadius:
    max_targets: int = 1
    max_duration: float = 300.0
    allowed_environments: tuple[str, ...] = ()
    leash: float = 10.0  # heartbeat window: a fault outlives a silent control room by at most this
    allow_unleashed: tuple[str, ...] = ()  # backends whose faults may run without any leash, e.g. ("toxiproxy",)
    max_pods: int | None = None  # Kubernetes: at most this many pods chosen by one fault (selector + mode)
    # SSH connections set up at once (targets/connect_limit.py); None: sized to the machine, or --max-connecting
    max_connecting: int | None = None


@dataclass(frozen=True)
class StopWhen:
    conditions: tuple[str, ...] = ()
    hold: float = 0.0  # the `for:` key: how long a condition must stay true


@dataclass(frozen=True)
class SuccessCriteria:
    """Judged at the end of a session. Each criterion is either machine-checkable (recovery_time, data_loss,
    custom conditions: validated, evaluated by the engine) or a human statement the facilitator judges."""

    recovery_time: float | None = None
    data_loss: str | None = None  # "<series> must not drop", e.g. "orders_rows must not drop"
    custom: tuple[str, ...] = ()  # conditions (SERIES OP NUMBER) evaluated on the last sample
    statements: tuple[str, ...] = ()  # "nobody was paged": ticked by the facilitator at the end, never guessed

    @property
    def declared(self) -> bool:
        return self.recovery_time is not None or bool(self.data_loss) or bool(self.custom) or bool(self.statements)


@dataclass(frozen=True)
class Phase:
    """A named group of steps (progressive chaos). `validation`: conditions that must hold at the end of the
    phase, judged on the last sample before its last fault step is reverted (the phase at full strength)."""

    name: str
    steps: tuple[str, ...]  # step ids, in order
    validation: tuple[str, ...] = ()
    abort_on_failure: bool = False  # a failed step or validation in this phase ends the session


HookFormat = Literal["json", "slack"]


@dataclass(frozen=True)
class Secret:
    """Where a hook's secret comes from — an environment variable or a file — never its value (docs/hooks.md)."""

    env: str | None = None
    file: str | None = None


@dataclass(frozen=True)
class Hook:
    """One event hook (docs/hooks.md): on these events, POST to `url` or run `command` with the event on stdin."""

    name: str
    on: tuple[str, ...]  # canonical hook events (aliases resolved at validation)
    url: str | Secret | None = None  # a webhook; a Secret when the URL itself is one (a Slack webhook)
    format: HookFormat = "json"
    headers: tuple[tuple[str, Secret], ...] = ()
    command: tuple[str, ...] = ()  # argv, no shell
    timeout: float = 5.0
    retries: int = 2
    page: bool = False  # also fires on rollback-unconfirmed: the room shows it paged
    source: str = "scenario"  # "scenario" or the user's hooks file


@dataclass(frozen=True)
class Scenario:
    name: str
    hypothesis: str
    environment: str
    targets: dict[str, Target]
    steps: tuple[Step, ...]
    observe: Observe = field(default_factory=Observe)
    steady_state: SteadyState = field(default_factory=SteadyState)
    blast_radius: BlastRadius = field(default_factory=BlastRadius)
    stop_when: StopWhen = field(default_factory=StopWhen)
    success_criteria: SuccessCriteria = field(default_factory=SuccessCriteria)
    checklist: tuple[str, ...] = ()
    phases: tuple[Phase, ...] = ()  # empty for a scenario written with `steps:`
    unobserved: bool = False  # declared: nothing judges the system; the outcome is "unobserved", never "held"
    template: bool = False  # an example for a real environment: validate and plan it; `run` refuses it
    template_line: int = 1  # where `template: true` is written, for the refusal's FILE:LINE:COL
    hooks: tuple[Hook, ...] = ()
    version: int = 1
    source_path: str = "<memory>"
    source_text: str = ""

    def resolve_targets(self, selector: str) -> list[Target]:
        """A target name, or `key=value` matching labels; the resolved list in name order."""
        if selector in self.targets:
            return [self.targets[selector]]
        if "=" in selector:
            key, _, value = selector.partition("=")
            return [t for _, t in sorted(self.targets.items()) if t.labels.get(key) == value]
        return []

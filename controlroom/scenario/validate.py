"""Scenario format v1: the located YAML tree -> a `Scenario`, with every problem found, not just the first.

Validation is where the safety rules that can be checked without touching a
host are enforced: the environment is allowed, each step's blast radius and
duration fit the scenario's own limits, every fault fits its target, every
condition reads a series that exists. The walk never stops at the first
problem; it keeps going with a default so a facilitator fixes a file in one go.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from controlroom.errors import Problem, ScenarioError
from controlroom.faults.catalogue import FaultType, catalogue, parse_params
from controlroom.metrics.conditions import Condition, parse_condition, probe_series
from controlroom.scenario import checks
from controlroom.scenario.loader import Map, Node, Scalar, Seq, describe, one_line
from controlroom.scenario.model import (
    BlastRadius,
    FaultSpec,
    KubernetesRef,
    LostTelemetryPolicy,
    MetricSpec,
    Observe,
    PrometheusConfig,
    Scenario,
    SteadyState,
    Step,
    StopWhen,
    SuccessCriteria,
    Target,
    TargetKind,
)
from controlroom.units import UnitError, format_duration, parse_duration

FORMAT_VERSION = 1

TOP_KEYS = (
    "version", "name", "hypothesis", "environment", "targets", "observe", "steady_state",
    "blast_radius", "stop_when", "steps", "phases", "success_criteria", "checklist",
)
TARGET_KEYS = ("ssh", "local", "http", "kubernetes", "labels", "sudo", "interface", "identity_file", "known_hosts")
TARGET_KINDS: tuple[TargetKind, ...] = ("ssh", "local", "http", "kubernetes")
KUBE_KEYS = ("context", "namespace", "selector")
OBSERVE_KEYS = ("every", "prometheus", "metrics", "lost_telemetry", "lost_after")
PROMETHEUS_KEYS = ("url", "bearer_token_file", "basic_auth", "ca_file", "insecure_skip_verify", "timeout")
BASIC_AUTH_KEYS = ("user", "password_file")
METRIC_KEYS = ("probe", "promql", "command", "timeout", "on")
METRIC_SOURCES = ("probe", "promql", "command")
STEADY_KEYS = ("window", "require")
BLAST_KEYS = ("max_targets", "max_duration", "allowed_environments")
STOP_KEYS = ("conditions", "for")
STEP_KEYS = ("id", "title", "brief", "fault", "faults", "duration", "expect", "confirm", "abort_on_failure")
FAULT_RESERVED = ("type", "target", "optional")
PHASE_KEYS = ("name", "steps")
SUCCESS_KEYS = ("recovery_time", "data_loss", "custom")
LOST_TELEMETRY: tuple[LostTelemetryPolicy, ...] = ("rollback", "pause", "warn")

# Documented defaults (docs/scenario-format.md).
DEFAULT_EVERY = 1.0
DEFAULT_WINDOW = 10.0
DEFAULT_HOLD = 0.0
DEFAULT_MAX_TARGETS = 1
DEFAULT_MAX_DURATION = 300.0
DEFAULT_LOST_AFTER = 5.0
DEFAULT_PROBE_TIMEOUT = 2.0
DEFAULT_PROMETHEUS_TIMEOUT = 5.0
DEFAULT_INTERFACE = "eth0"

T = TypeVar("T")


def suggest(word: str, choices: Iterable[str]) -> str:
    """"; did you mean 'steps'?" when something close exists, else the list of what is allowed."""
    options = sorted(set(choices))
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f" (allowed: {', '.join(options)})" if options else ""


def series_of(metrics: dict[str, MetricSpec]) -> list[str]:
    """Every series name the scenario's metrics produce (probe metrics fan out into several)."""
    names: list[str] = []
    for name, spec in metrics.items():
        names.extend(probe_series(name) if spec.source == "probe" else [name])
    return names


class Validator:
    """One walk over one scenario; `problems` collects everything wrong with it."""

    def __init__(self, file: str, problems: Sequence[Problem] = ()):
        self.file = file
        self.problems: list[Problem] = list(problems)

    # -- reporting ---------------------------------------------------------

    def at(self, node: Node, message: str) -> None:
        self.problems.append(Problem(self.file, max(node.line, 1), max(node.col, 1), one_line(message)))

    # -- shapes ------------------------------------------------------------

    def mapping(self, node: Node | None, where: str) -> Map | None:
        if node is None:
            return None
        if isinstance(node, Map):
            return node
        if isinstance(node, Scalar) and node.value is None:
            return Map(node.line, node.col)  # `observe:` with nothing under it: all defaults
        self.at(node, f"{where}: expected a mapping (keys and values), got {describe(node)}")
        return None

    def sequence(self, node: Node | None, where: str) -> Seq | None:
        if node is None:
            return None
        if isinstance(node, Seq):
            return node
        self.at(node, f"{where}: expected a list, got {describe(node)}")
        return None

    def keys(self, node: Map, allowed: Sequence[str], where: str) -> None:
        for name, (key, _) in node.entries.items():
            if name not in allowed:
                label = f"{where}: unknown key {name!r}" if where else f"unknown top-level key {name!r}"
                self.at(key, label + suggest(name, allowed))

    def require(self, node: Map, key: str, where: str, hint: str = "") -> Node | None:
        value = node.get(key)
        if value is None:
            label = f"{where}: missing required key {key!r}" if where else f"missing required key {key!r}"
            self.at(node, label + (f"; {hint}" if hint else ""))
        return value

    # -- scalars -----------------------------------------------------------

    def string(self, node: Node | None, where: str, *, empty_ok: bool = False) -> str | None:
        if node is None:
            return None
        if not isinstance(node, Scalar) or node.value is None:
            self.at(node, f"{where}: expected a string, got {describe(node)}")
            return None
        if not empty_ok and not node.raw.strip():
            self.at(node, f"{where}: must not be empty")
            return None
        return node.raw

    def checked(self, node: Node | None, where: str, check: Callable[[str], str | None]) -> str | None:
        value = self.string(node, where)
        if value is None or node is None:
            return None
        message = check(value)
        if message:
            self.at(node, f"{where}: {message}")
            return None
        return value

    def boolean(self, node: Node | None, where: str) -> bool | None:
        if node is None:
            return None
        if isinstance(node, Scalar) and isinstance(node.value, bool):
            return node.value
        self.at(node, f"{where}: expected true or false, got {describe(node)}")
        return None

    def integer(self, node: Node | None, where: str, minimum: int) -> int | None:
        if node is None:
            return None
        if not isinstance(node, Scalar) or isinstance(node.value, bool) or not isinstance(node.value, int):
            self.at(node, f"{where}: expected a whole number, got {describe(node)}")
            return None
        if node.value < minimum:
            self.at(node, f"{where}: must be at least {minimum}, got {node.value}")
            return None
        return node.value

    def duration(self, node: Node | None, where: str, *, positive: bool = True) -> float | None:
        if node is None:
            return None
        if not isinstance(node, Scalar) or node.value is None or isinstance(node.value, bool):
            self.at(node, f"{where}: expected a duration such as '5s' or '300ms', got {describe(node)}")
            return None
        if isinstance(node.value, (int, float)) and not node.quoted:
            hint = node.raw.lstrip("+")
            self.at(node, f"{where}: a duration needs a unit: write '{hint}s' or '{hint}ms', not {node.raw}")
            return None
        if node.raw.strip().startswith("-"):
            self.at(node, f"{where}: durations cannot be negative, got {node.raw!r}")
            return None
        try:
            seconds = parse_duration(node.raw)
        except UnitError as err:
            self.at(node, f"{where}: {err}")
            return None
        if positive and seconds <= 0:
            self.at(node, f"{where}: must be more than 0, got {node.raw!r}")
            return None
        return seconds

    def strings(self, node: Node | None, where: str) -> list[tuple[str, Node]]:
        seq = self.sequence(node, where)
        if seq is None:
            return []
        out: list[tuple[str, Node]] = []
        for i, item in enumerate(seq.items):
            value = self.string(item, f"{where}[{i}]")
            if value is not None:
                out.append((value, item))
        return out

    def choice(self, node: Node | None, where: str, options: Sequence[T]) -> T | None:
        value = self.string(node, where)
        if value is None or node is None:
            return None
        for option in options:
            if option == value:
                return option
        close = difflib.get_close_matches(value, [str(o) for o in options], n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        self.at(node, f"{where}: {value!r} is not one of {', '.join(map(str, options))}{hint}")
        return None

    # -- the scenario ------------------------------------------------------

    def scenario(self, root: Map, text: str) -> Scenario | None:
        self.keys(root, TOP_KEYS, "")
        self.version(root)
        name = self.checked(
            self.require(root, "name", "", "give the scenario a short name like 'checkout-survives-slow-db'"),
            "name", lambda v: checks.check_name(v, "scenario name", checks.LABEL_NAME_RE),
        )
        hypothesis_node = root.get("hypothesis")
        hypothesis = self.string(hypothesis_node, "hypothesis") if hypothesis_node is not None else ""
        environment_node = self.require(root, "environment", "", "say where this runs, e.g. 'environment: staging'")
        environment = self.checked(
            environment_node, "environment", lambda v: checks.check_name(v, "environment", checks.LABEL_NAME_RE)
        )
        blast = self.blast_radius(root)
        if environment is not None and environment_node is not None and blast.allowed_environments:
            if environment not in blast.allowed_environments:
                allowed = ", ".join(blast.allowed_environments)
                self.at(
                    environment_node,
                    f"environment {environment!r} is not in blast_radius.allowed_environments ({allowed}); "
                    "add it there only if this scenario may really run in it",
                )
        targets = self.targets(root)
        observe = self.observe(root, targets)
        known_series = series_of(observe.metrics)
        steady = self.steady_state(root, known_series)
        stop = self.stop_when(root, known_series)
        steps = self.steps(root, targets, blast)
        success = self.success_criteria(root)
        checklist = tuple(v for v, _ in self.strings(root.get("checklist"), "checklist"))
        if self.problems or name is None or environment is None or hypothesis is None:
            return None
        return Scenario(
            name=name,
            hypothesis=hypothesis,
            environment=environment,
            targets=targets,
            steps=tuple(steps),
            observe=observe,
            steady_state=steady,
            blast_radius=blast,
            stop_when=stop,
            success_criteria=success,
            checklist=checklist,
            version=FORMAT_VERSION,
            source_path=self.file,
            source_text=text,
        )

    def version(self, root: Map) -> None:
        node = root.get("version")
        if node is None:
            self.at(root, "missing required key 'version'; the first line of a scenario is 'version: 1'")
        elif not (isinstance(node, Scalar) and node.raw.strip() == str(FORMAT_VERSION) and not isinstance(node.value, bool)):
            self.at(node, f"version: this controlroom reads scenario format version 1, got {describe(node)}")

    # -- blast radius ------------------------------------------------------

    def blast_radius(self, root: Map) -> BlastRadius:
        node = self.mapping(
            self.require(root, "blast_radius", "", "it must at least list allowed_environments"), "blast_radius"
        )
        if node is None:
            return BlastRadius()
        self.keys(node, BLAST_KEYS, "blast_radius")
        max_targets = self.integer(node.get("max_targets"), "blast_radius.max_targets", 1)
        max_duration = self.duration(node.get("max_duration"), "blast_radius.max_duration")
        envs_node = self.require(
            node, "allowed_environments", "blast_radius", "list the environments this scenario may run in"
        )
        envs: list[str] = []
        for value, item in self.strings(envs_node, "blast_radius.allowed_environments"):
            message = checks.check_name(value, "environment", checks.LABEL_NAME_RE)
            if message:
                self.at(item, f"blast_radius.allowed_environments: {message}")
            else:
                envs.append(value)
        if isinstance(envs_node, Seq) and not envs_node.items:
            self.at(envs_node, "blast_radius.allowed_environments: list at least one environment")
        # A limit that did not parse is already reported; checking steps against a guess would only add noise.
        if max_targets is None:
            max_targets = sys.maxsize if "max_targets" in node.entries else DEFAULT_MAX_TARGETS
        if max_duration is None:
            max_duration = math.inf if "max_duration" in node.entries else DEFAULT_MAX_DURATION
        return BlastRadius(
            max_targets=max_targets,
            max_duration=max_duration,
            allowed_environments=tuple(envs),
        )

    # -- targets -----------------------------------------------------------

    def targets(self, root: Map) -> dict[str, Target]:
        node = self.mapping(root.get("targets"), "targets")
        if node is None:
            return {}
        out: dict[str, Target] = {}
        for name, (key, value) in node.entries.items():
            message = checks.check_name(name, "target name")
            if message:
                self.at(key, f"targets: {message}")
                continue
            target = self.target(name, value)
            if target is not None:
                out[name] = target
        return out

    def target(self, name: str, node: Node) -> Target | None:
        where = f"targets.{name}"
        m = self.mapping(node, where)
        if m is None:
            return None
        self.keys(m, TARGET_KEYS, where)
        present = [k for k in TARGET_KINDS if k in m.entries]
        if len(present) != 1:
            what = "none" if not present else " and ".join(present)
            self.at(m, f"{where}: give exactly one of ssh:, local: true, http: or kubernetes: (found {what})")
            return None
        kind = present[0]
        ssh = url = None
        kube: KubernetesRef | None = None
        if kind == "ssh":
            ssh = self.checked(m.get("ssh"), f"{where}.ssh", checks.check_ssh_destination)
        elif kind == "local":
            flag = self.boolean(m.get("local"), f"{where}.local")
            if flag is False:
                self.at(m.get("local") or m, f"{where}.local: 'local: false' describes no target; write 'local: true'")
        elif kind == "http":
            url = self.checked(m.get("http"), f"{where}.http", lambda v: checks.check_url(v, "http target URL"))
        else:
            kube = self.kubernetes(m.get("kubernetes"), f"{where}.kubernetes")
        for key in ("sudo", "interface"):
            if key in m.entries and kind not in ("ssh", "local"):
                self.at(m.entries[key][0], f"{where}.{key}: only applies to ssh and local targets, not {kind}")
        for key in ("identity_file", "known_hosts"):
            if key in m.entries and kind != "ssh":
                self.at(m.entries[key][0], f"{where}.{key}: only applies to ssh targets, not {kind}")
        sudo = self.boolean(m.get("sudo"), f"{where}.sudo")
        interface = self.checked(m.get("interface"), f"{where}.interface", _interface_problem)
        identity = self.checked(m.get("identity_file"), f"{where}.identity_file", lambda v: checks.check_path(v, "path"))
        known_hosts = self.checked(m.get("known_hosts"), f"{where}.known_hosts", lambda v: checks.check_path(v, "path"))
        labels = self.labels(m.get("labels"), f"{where}.labels")
        return Target(
            name=name,
            kind=kind,
            labels=labels,
            ssh=ssh,
            sudo=bool(sudo),
            interface=interface or DEFAULT_INTERFACE,
            url=url,
            kubernetes=kube,
            identity_file=identity,
            known_hosts=known_hosts,
        )

    def kubernetes(self, node: Node | None, where: str) -> KubernetesRef | None:
        m = self.mapping(node, where)
        if m is None:
            return None
        self.keys(m, KUBE_KEYS, where)
        context_node = m.get("context")
        context = self.checked(context_node, f"{where}.context", lambda v: checks.check_one_line(v, "context"))
        namespace = self.checked(
            self.require(m, "namespace", where), f"{where}.namespace",
            lambda v: None if checks.DNS_LABEL_RE.match(v) else
            f"namespace {v!r} must be lowercase letters, digits and - (at most 63)",
        )
        selector = self.checked(self.require(m, "selector", where), f"{where}.selector", checks.check_selector)
        if namespace is None or selector is None:
            return None
        return KubernetesRef(context=context, namespace=namespace, selector=selector)

    def labels(self, node: Node | None, where: str) -> dict[str, str]:
        m = self.mapping(node, where)
        if m is None:
            return {}
        out: dict[str, str] = {}
        for key, (key_node, value_node) in m.entries.items():
            if not checks.LABEL_KEY_RE.match(key):
                self.at(key_node, f"{where}: label key {key!r} must be letters, digits and _ . / - (starting and ending with a letter or digit)")
                continue
            value = self.string(value_node, f"{where}.{key}", empty_ok=True)
            if value is None:
                continue
            if not checks.LABEL_VALUE_RE.match(value):
                self.at(value_node, f"{where}.{key}: label value {value!r} must be letters, digits and _ . - (at most 63)")
                continue
            out[key] = value
        return out

    # -- observe -----------------------------------------------------------

    def observe(self, root: Map, targets: dict[str, Target]) -> Observe:
        m = self.mapping(root.get("observe"), "observe")
        if m is None:
            return Observe()
        self.keys(m, OBSERVE_KEYS, "observe")
        every = self.duration(m.get("every"), "observe.every")
        prometheus = self.prometheus(m.get("prometheus"))
        lost = self.choice(m.get("lost_telemetry"), "observe.lost_telemetry", LOST_TELEMETRY)
        lost_after = self.duration(m.get("lost_after"), "observe.lost_after")
        metrics: dict[str, MetricSpec] = {}
        metrics_node = self.mapping(m.get("metrics"), "observe.metrics")
        if metrics_node is not None:
            for name, (key, value) in metrics_node.entries.items():
                message = checks.check_name(name, "metric name")
                if message:
                    self.at(key, f"observe.metrics: {message}")
                    continue
                spec = self.metric(name, value, targets, has_prometheus="prometheus" in m.entries)
                if spec is not None:
                    metrics[name] = spec
        return Observe(
            every=DEFAULT_EVERY if every is None else every,
            prometheus=prometheus,
            metrics=metrics,
            lost_telemetry=lost or "rollback",
            lost_after=DEFAULT_LOST_AFTER if lost_after is None else lost_after,
        )

    def prometheus(self, node: Node | None) -> PrometheusConfig | None:
        where = "observe.prometheus"
        m = self.mapping(node, where)
        if m is None:
            return None
        self.keys(m, PROMETHEUS_KEYS, where)
        url = self.checked(self.require(m, "url", where), f"{where}.url", lambda v: checks.check_url(v, "Prometheus URL"))
        token = self.checked(m.get("bearer_token_file"), f"{where}.bearer_token_file", lambda v: checks.check_path(v, "path"))
        user = password = None
        auth = self.mapping(m.get("basic_auth"), f"{where}.basic_auth")
        if auth is not None:
            self.keys(auth, BASIC_AUTH_KEYS, f"{where}.basic_auth")
            user = self.checked(self.require(auth, "user", f"{where}.basic_auth"), f"{where}.basic_auth.user",
                                lambda v: checks.check_one_line(v, "user"))
            password = self.checked(
                self.require(auth, "password_file", f"{where}.basic_auth", "the password is read from a file, never written in the scenario"),
                f"{where}.basic_auth.password_file", lambda v: checks.check_path(v, "path"),
            )
            if "bearer_token_file" in m.entries:
                self.at(auth, f"{where}: use either bearer_token_file or basic_auth, not both")
        ca_file = self.checked(m.get("ca_file"), f"{where}.ca_file", lambda v: checks.check_path(v, "path"))
        insecure = self.boolean(m.get("insecure_skip_verify"), f"{where}.insecure_skip_verify")
        timeout = self.duration(m.get("timeout"), f"{where}.timeout")
        if url is None:
            return None
        return PrometheusConfig(
            url=url,
            bearer_token_file=token,
            basic_auth_user=user,
            basic_auth_password_file=password,
            ca_file=ca_file,
            insecure_skip_verify=bool(insecure),
            timeout=DEFAULT_PROMETHEUS_TIMEOUT if timeout is None else timeout,
        )

    def metric(self, name: str, node: Node, targets: dict[str, Target], has_prometheus: bool) -> MetricSpec | None:
        where = f"observe.metrics.{name}"
        m = self.mapping(node, where)
        if m is None:
            return None
        self.keys(m, METRIC_KEYS, where)
        present = [k for k in METRIC_SOURCES if k in m.entries]
        if len(present) != 1:
            what = "none" if not present else " and ".join(present)
            self.at(m, f"{where}: give exactly one of probe: URL, promql: QUERY or command: COMMAND (found {what})")
            return None
        source = present[0]
        timeout = self.duration(m.get("timeout"), f"{where}.timeout")
        probe = promql = command = on = None
        if source == "probe":
            probe = self.checked(m.get("probe"), f"{where}.probe", lambda v: checks.check_url(v, "probe URL"))
        elif source == "promql":
            promql = self.string(m.get("promql"), f"{where}.promql")
            if not has_prometheus:
                self.at(m.entries["promql"][0], f"{where}: a promql metric needs observe.prometheus.url")
        else:
            command = self.string(m.get("command"), f"{where}.command")
        if "on" in m.entries:
            on_key, on_node = m.entries["on"]
            if source != "command":
                self.at(on_key, f"{where}.on: only command metrics run on a target")
            else:
                on = self.string(on_node, f"{where}.on")
                if on is not None and on not in targets:
                    self.at(on_node, f"{where}.on: unknown target {on!r}{suggest(on, targets)}")
                    on = None
                elif on is not None and targets[on].kind not in ("ssh", "local"):
                    self.at(on_node, f"{where}.on: commands run on ssh or local targets, {on!r} is {targets[on].kind}")
                    on = None
        if probe is None and promql is None and command is None:
            return None
        return MetricSpec(
            name=name,
            source=source,  # type: ignore[arg-type]  # one of METRIC_SOURCES
            probe=probe,
            timeout=DEFAULT_PROBE_TIMEOUT if timeout is None else timeout,
            promql=promql,
            command=command,
            on=on,
        )

    # -- conditions --------------------------------------------------------

    def conditions(self, node: Node | None, where: str, series: list[str]) -> tuple[str, ...]:
        out: list[str] = []
        for i, (text, item) in enumerate(self.strings(node, where)):
            cond = self.condition(text, item, f"{where}[{i}]", series)
            if cond is not None:
                out.append(text.strip())
        return tuple(out)

    def condition(self, text: str, node: Node, where: str, series: list[str]) -> Condition | None:
        try:
            cond = parse_condition(text)
        except ValueError as err:
            self.at(node, f"{where}: {err}")
            return None
        if cond.series not in series:
            known = ", ".join(series) if series else "none: add metrics under observe.metrics"
            close = [s for s in series if s.endswith("." + cond.series)]
            close = close or difflib.get_close_matches(cond.series, series, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self.at(node, f"{where}: condition {text!r} reads unknown series {cond.series!r}{hint} (series: {known})")
            return None
        return cond

    def steady_state(self, root: Map, series: list[str]) -> SteadyState:
        m = self.mapping(root.get("steady_state"), "steady_state")
        if m is None:
            return SteadyState()
        self.keys(m, STEADY_KEYS, "steady_state")
        window = self.duration(m.get("window"), "steady_state.window", positive=False)
        require = self.conditions(m.get("require"), "steady_state.require", series)
        return SteadyState(window=DEFAULT_WINDOW if window is None else window, require=require)

    def stop_when(self, root: Map, series: list[str]) -> StopWhen:
        m = self.mapping(root.get("stop_when"), "stop_when")
        if m is None:
            return StopWhen()
        self.keys(m, STOP_KEYS, "stop_when")
        hold = self.duration(m.get("for"), "stop_when.for", positive=False)
        conditions = self.conditions(m.get("conditions"), "stop_when.conditions", series)
        return StopWhen(conditions=conditions, hold=DEFAULT_HOLD if hold is None else hold)

    def success_criteria(self, root: Map) -> SuccessCriteria:
        m = self.mapping(root.get("success_criteria"), "success_criteria")
        if m is None:
            return SuccessCriteria()
        self.keys(m, SUCCESS_KEYS, "success_criteria")
        recovery = self.duration(m.get("recovery_time"), "success_criteria.recovery_time")
        data_loss = self.string(m.get("data_loss"), "success_criteria.data_loss")
        custom = tuple(v for v, _ in self.strings(m.get("custom"), "success_criteria.custom"))
        return SuccessCriteria(recovery_time=recovery, data_loss=data_loss, custom=custom)

    # -- steps and phases --------------------------------------------------

    def steps(self, root: Map, targets: dict[str, Target], blast: BlastRadius) -> list[Step]:
        steps_node, phases_node = root.get("steps"), root.get("phases")
        if steps_node is not None and phases_node is not None:
            self.at(root.entries["phases"][0], "give either steps: or phases:, not both; put every step inside a phase")
            return []
        if steps_node is None and phases_node is None:
            self.at(root, "missing required key 'steps' (or 'phases'); a scenario needs at least one step")
            return []
        seen: dict[str, Node] = {}
        resolver = Scenario(name="", hypothesis="", environment="", targets=targets, steps=())
        out: list[Step] = []
        if steps_node is not None:
            seq = self.sequence(steps_node, "steps")
            if seq is not None and not seq.items:
                self.at(seq, "steps: list at least one step")
            for i, item in enumerate(seq.items if seq else []):
                step = self.step(item, f"steps[{i}]", None, seen, resolver, blast)
                if step is not None:
                    out.append(step)
            return out
        phases = self.sequence(phases_node, "phases")
        if phases is not None and not phases.items:
            self.at(phases, "phases: list at least one phase")
        phase_names: dict[str, Node] = {}
        for p, phase_item in enumerate(phases.items if phases else []):
            where = f"phases[{p}]"
            m = self.mapping(phase_item, where)
            if m is None:
                continue
            self.keys(m, PHASE_KEYS, where)
            name_node = self.require(m, "name", where)
            name = self.checked(name_node, f"{where}.name", lambda v: checks.check_one_line(v, "phase name"))
            if name is not None and name_node is not None:
                if name in phase_names:
                    self.at(name_node, f"{where}.name: phase {name!r} appears twice (first at line {phase_names[name].line})")
                phase_names[name] = name_node
            phase_steps = self.sequence(self.require(m, "steps", where), f"{where}.steps")
            if phase_steps is not None and not phase_steps.items:
                self.at(phase_steps, f"{where}.steps: list at least one step")
            for i, item in enumerate(phase_steps.items if phase_steps else []):
                step = self.step(item, f"{where}.steps[{i}]", name, seen, resolver, blast)
                if step is not None:
                    out.append(step)
        return out

    def step(
        self, node: Node, where: str, phase: str | None, seen: dict[str, Node], resolver: Scenario, blast: BlastRadius,
    ) -> Step | None:
        m = self.mapping(node, where)
        if m is None:
            return None
        id_node = self.require(m, "id", where, "give each step a short id like 'slow-db'")
        step_id = self.checked(id_node, f"{where}.id", checks.check_step_id)
        if step_id is not None and id_node is not None:
            where = f"steps.{step_id}"
            if step_id in seen:
                self.at(id_node, f"{where}: duplicate step id (first at line {seen[step_id].line}); ids must be unique")
            else:
                seen[step_id] = id_node
        self.keys(m, STEP_KEYS, where)
        title = self.string(m.get("title"), f"{where}.title")
        brief = self.string(m.get("brief"), f"{where}.brief", empty_ok=True)
        expect = self.string(m.get("expect"), f"{where}.expect", empty_ok=True)
        confirm = self.boolean(m.get("confirm"), f"{where}.confirm")
        abort = self.boolean(m.get("abort_on_failure"), f"{where}.abort_on_failure")
        duration_node = m.get("duration")
        duration = self.duration(duration_node, f"{where}.duration")
        if duration is not None and duration_node is not None and duration > blast.max_duration:
            self.at(
                duration_node,
                f"{where}.duration: {format_duration(duration)} is longer than blast_radius.max_duration "
                f"{format_duration(blast.max_duration)}; shorten the step or raise the limit",
            )
        faults, types = self.step_faults(m, where, resolver, blast)
        needs_duration = any(ft.needs_duration for ft in types)
        if needs_duration and duration_node is None:
            self.at(m, f"{where}: a step with faults needs a duration, e.g. 'duration: 2m' (how long the faults stay in)")
        if step_id is None:
            return None
        return Step(
            id=step_id,
            title=title or step_id,
            brief=brief or "",
            faults=tuple(faults),
            duration=duration,
            expect=expect or "",
            confirm=True if confirm is None else confirm,
            abort_on_failure=bool(abort),
            phase=phase,
        )

    def step_faults(
        self, m: Map, where: str, resolver: Scenario, blast: BlastRadius,
    ) -> tuple[list[FaultSpec], list[FaultType]]:
        single, several = m.get("fault"), m.get("faults")
        if single is not None and several is not None:
            self.at(m.entries["faults"][0], f"{where}: give either fault: or faults:, not both")
            return [], []
        items: list[tuple[Node, str]] = []
        if single is not None:
            items = [(single, f"{where}.fault")]
        elif several is not None:
            seq = self.sequence(several, f"{where}.faults")
            if seq is not None and not seq.items:
                self.at(seq, f"{where}.faults: list at least one fault, or remove the key")
            items = [(item, f"{where}.faults[{i}]") for i, item in enumerate(seq.items if seq else [])]
        specs: list[FaultSpec] = []
        types: list[FaultType] = []
        hit: dict[str, None] = {}  # distinct targets faulted at once, in order
        for item, item_where in items:
            result = self.fault(item, item_where, resolver)
            if result is None:
                continue
            spec, ft, resolved = result
            specs.append(spec)
            types.append(ft)
            hit.update(dict.fromkeys(t.name for t in resolved))
        anchor = several if several is not None else single
        if len(hit) > blast.max_targets and anchor is not None:
            self.at(
                anchor,
                f"{where}: faults {len(hit)} targets at once ({', '.join(hit)}); blast_radius.max_targets is "
                f"{blast.max_targets}; fault fewer targets or raise the limit",
            )
        return specs, types

    def fault(self, node: Node, where: str, resolver: Scenario) -> tuple[FaultSpec, FaultType, list[Target]] | None:
        m = self.mapping(node, where)
        if m is None:
            return None
        type_name = self.string(self.require(m, "type", where, "e.g. 'type: latency'"), f"{where}.type")
        target_node = self.require(m, "target", where, "a target name or a key=value label selector")
        selector = self.string(target_node, f"{where}.target")
        optional = self.boolean(m.get("optional"), f"{where}.optional")
        ft: FaultType | None = None
        if type_name is not None:
            table = catalogue()
            ft = table.get(type_name)
            if ft is None:
                type_node = m.get("type")
                assert type_node is not None
                close = difflib.get_close_matches(type_name, list(table), n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                known = ", ".join(sorted(table)) or "none"
                self.at(type_node, f"{where}.type: unknown fault type {type_name!r}{hint} (known types: {known})")
        resolved: list[Target] = []
        if selector is not None and target_node is not None:
            resolved = self.resolve(selector, target_node, f"{where}.target", resolver)
        if ft is not None:
            for target in resolved:
                if target.kind not in ft.target_kinds:
                    fits = ", ".join(sorted(ft.target_kinds))
                    self.at(
                        target_node or m,
                        f"{where}: fault {ft.name!r} cannot run on {target.kind} target {target.name!r} (it fits {fits} targets)",
                    )
        params = self.fault_params(m, where, ft)
        if params is not None:
            self.peers(m, where, params, resolver)
        if ft is None or selector is None or not resolved or params is None:
            return None
        return FaultSpec(type=ft.name, target=selector, params=params, optional=bool(optional)), ft, resolved

    def resolve(self, selector: str, node: Node, where: str, resolver: Scenario) -> list[Target]:
        names = ", ".join(sorted(resolver.targets)) or "none defined"
        if "=" in selector:
            key, _, value = selector.partition("=")
            if not checks.LABEL_KEY_RE.match(key) or not checks.LABEL_VALUE_RE.match(value):
                self.at(node, f"{where}: {selector!r} is not a target name or a key=value label selector")
                return []
        else:
            message = checks.check_name(selector, "target")
            if message:
                self.at(node, f"{where}: {message}")
                return []
        resolved = resolver.resolve_targets(selector)
        if not resolved:
            if "=" in selector:
                self.at(node, f"{where}: label selector {selector!r} matches no target (targets: {names})")
            else:
                self.at(node, f"{where}: unknown target {selector!r}{suggest(selector, resolver.targets)}")
        return resolved

    def fault_params(self, m: Map, where: str, ft: FaultType | None) -> dict[str, Any] | None:
        raw_nodes = {k: v for k, (_, v) in m.entries.items() if k not in FAULT_RESERVED}
        if ft is None:
            return None
        raw = {k: plain(v) for k, v in raw_nodes.items()}
        try:
            parsed, problems = parse_params(ft, raw)
        except Exception as err:  # a fault type's parser must not turn a typo into a traceback
            self.at(m, f"{where}: parameters of fault {ft.name!r} could not be checked ({type(err).__name__}: {err})")
            return None
        for param, message in problems:
            located: Node = m
            if param is not None and param in m.entries:
                located = m.entries[param][0] if param not in ft_param_names(ft) else m.entries[param][1]
            self.at(located, f"{where}: {message}")
        return None if problems else parsed


    def peers(self, m: Map, where: str, params: dict[str, Any], resolver: Scenario) -> None:
        """`peers:` entries that are not IP addresses or networks must name targets (typos show up now, not mid-game)."""
        peers = params.get("peers")
        node = m.get("peers")
        if not isinstance(peers, list) or node is None:
            return
        items = node.items if isinstance(node, Seq) and len(node.items) == len(peers) else [node] * len(peers)
        for peer, item in zip(peers, items, strict=True):
            if not isinstance(peer, str) or peer in resolver.targets:
                continue
            try:
                ipaddress.ip_network(peer, strict=False)
            except ValueError:
                self.at(item, f"{where}: peer {peer!r} is neither an IP address nor a target name{suggest(peer, resolver.targets)}")


def ft_param_names(ft: FaultType) -> set[str]:
    return {p.name for p in ft.params}


def _interface_problem(value: str) -> str | None:
    from controlroom.faults import shell

    try:
        shell.interface(value)
    except ValueError as err:
        bad = checks.metacharacters(value)
        return f"interface {value!r} contains shell metacharacters ({' '.join(map(repr, bad))})" if bad else str(err)
    return None


def plain(node: Node) -> Any:
    """A located node -> plain Python data, for fault parameter parsers."""
    if isinstance(node, Scalar):
        return node.value
    if isinstance(node, Seq):
        return [plain(item) for item in node.items]
    assert isinstance(node, Map)
    return {key: plain(value) for key, (_, value) in node.entries.items()}


def validate(root: Map, file: str, text: str, problems: Sequence[Problem] = ()) -> Scenario:
    """Build the Scenario, or raise ScenarioError with every problem (including the loader's)."""
    validator = Validator(file, problems)
    scenario = validator.scenario(root, text)
    if validator.problems or scenario is None:
        raise ScenarioError(_unique(validator.problems) or [Problem(file, 1, 1, "the scenario is not valid")])
    return scenario


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))

"""Scenario format v1: the located YAML tree -> a `Scenario`, with every problem found, not just the first.

Validation is where the safety rules that can be checked without touching a
host are enforced: the environment is allowed, each step's blast radius and
duration fit the scenario's own limits, every fault fits its target, every
condition reads a series that exists. The walk never stops at the first
problem; it keeps going with a default so a facilitator fixes a file in one go.
"""

from __future__ import annotations

import difflib
import math
import sys
from collections.abc import Sequence

from controlroom.errors import Problem, ScenarioError
from controlroom.metrics.conditions import Condition, parse_condition, probe_series
from controlroom.scenario import apis, checks, ranges
from controlroom.scenario.fields import suggest
from controlroom.scenario.hooks import read_hooks
from controlroom.scenario.loader import Map, Node, Scalar, Seq, describe
from controlroom.scenario.model import (
    KUBE_MODES,
    BlastRadius,
    GremlinRef,
    KubernetesRef,
    LostTelemetryPolicy,
    MetricSpec,
    Observe,
    Phase,
    PrometheusConfig,
    Scenario,
    SteadyState,
    Step,
    StopWhen,
    SuccessCriteria,
    Target,
    TargetKind,
    ToxiproxyRef,
)
from controlroom.scenario.steps import StepReader
from controlroom.units import format_duration

FORMAT_VERSION = 1

TOP_KEYS = (
    "version", "name", "hypothesis", "environment", "targets", "observe", "steady_state",
    "blast_radius", "stop_when", "steps", "phases", "success_criteria", "checklist", "unobserved", "template",
    "hooks",
)
TARGET_KEYS = ("ssh", "local", "http", "kubernetes", "toxiproxy", "gremlin", "labels", "sudo", "interface",
               "identity_file", "known_hosts")
TARGET_KINDS: tuple[TargetKind, ...] = ("ssh", "local", "http", "kubernetes", "toxiproxy", "gremlin")
KUBE_KEYS = ("context", "namespace", "namespaces", "selector", "field_selector", "mode", "value", "kubeconfig",
             "allow_namespaces")
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")
OBSERVE_KEYS = ("every", "prometheus", "metrics", "lost_telemetry", "lost_after")
PROMETHEUS_KEYS = ("url", "bearer_token_file", "basic_auth", "ca_file", "insecure_skip_verify", "timeout")
BASIC_AUTH_KEYS = ("user", "password_file")
METRIC_KEYS = ("probe", "promql", "command", "kubernetes", "timeout", "on")
METRIC_SOURCES = ("probe", "promql", "command", "kubernetes")
KUBE_SERIES = ("ready_ratio", "ready", "pods", "restarts")  # a `kubernetes:` metric's series, <name>.<each>
STEADY_KEYS = ("window", "require")
BLAST_KEYS = ("max_targets", "max_duration", "allowed_environments", "leash", "allow_unleashed", "max_pods",
              "max_connecting")
STOP_KEYS = ("conditions", "for")
SUCCESS_KEYS = ("recovery_time", "data_loss", "custom", "statements")
STATEMENT_HINT = "if it is a statement for the facilitator to judge at the end, put it under success_criteria.statements"
LOST_TELEMETRY: tuple[LostTelemetryPolicy, ...] = ("rollback", "pause", "warn")

# Documented defaults (docs/scenario-format.md).
DEFAULT_EVERY = 1.0
MIN_EVERY = 0.1
DEFAULT_WINDOW = 10.0
DEFAULT_HOLD = 0.0
DEFAULT_MAX_TARGETS = 1
DEFAULT_MAX_DURATION = 300.0
DEFAULT_LEASH = 10.0
# The room renews every leash/3; below 5 s one slow renewal round (a loaded host, an SSH reconnect) would let
# the guard revert a fault mid-step. Above 5 minutes the leash no longer bounds what a dead room leaves behind.
MIN_LEASH = 5.0
MAX_LEASH = 300.0
DEFAULT_LOST_AFTER = 5.0
DEFAULT_PROBE_TIMEOUT = 2.0
DEFAULT_PROMETHEUS_TIMEOUT = 5.0
DEFAULT_INTERFACE = "eth0"


def series_of(metrics: dict[str, MetricSpec]) -> list[str]:
    """Every series name the scenario's metrics produce (probe metrics fan out into several)."""
    names: list[str] = []
    for name, spec in metrics.items():
        if spec.source == "kubernetes":
            names.extend(f"{name}.{s}" for s in KUBE_SERIES)
        else:
            names.extend(probe_series(name) if spec.source == "probe" else [name])
    return names


class Validator(StepReader):
    """One walk over one scenario; `problems` collects everything wrong with it."""

    verdict_rules = True  # off for a scenario read back from a journal to revert it (see `validate`)

    def verdict_problem(self, node: Node, message: str) -> None:
        """A rule about honest verdicts or supported kinds, not safety: skipped when only reverting."""
        if self.verdict_rules:
            self.at(node, message)

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
        phases = self.phase_rules(root, known_series)
        success = self.success_criteria(root, known_series)
        checklist = tuple(v for v, _ in self.strings(root.get("checklist"), "checklist"))
        unobserved = self.observed_or_declared(root, steps, steady, stop, phases)
        hooks = read_hooks(self, root.get("hooks"))
        template_node = root.get("template")
        template = bool(self.boolean(template_node, "template"))
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
            phases=phases,
            unobserved=unobserved,
            template=template,
            hooks=hooks,
            template_line=template_node.line if template_node is not None else 1,
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
        max_pods = self.integer(node.get("max_pods"), "blast_radius.max_pods", 1)
        max_connecting = self.integer(node.get("max_connecting"), "blast_radius.max_connecting", 1)
        max_duration = self.duration(node.get("max_duration"), "blast_radius.max_duration")
        leash = self.leash(node.get("leash"))
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
            max_pods=max_pods,
            max_connecting=max_connecting,
            max_targets=max_targets,
            max_duration=max_duration,
            allowed_environments=tuple(envs),
            leash=DEFAULT_LEASH if leash is None else leash,
            allow_unleashed=self.allow_unleashed(node),
        )

    def allow_unleashed(self, node: Map) -> tuple[str, ...]:
        out: list[str] = []
        for value, item in self.strings(node.get("allow_unleashed"), "blast_radius.allow_unleashed"):
            if value not in apis.UNLEASHED_BACKENDS:
                self.at(item, f"blast_radius.allow_unleashed: {value!r} is not a backend whose faults can run "
                              f"unleashed (known: {', '.join(apis.UNLEASHED_BACKENDS)})")
            else:
                out.append(value)
        return tuple(out)

    def leash(self, node: Node | None) -> float | None:
        seconds = self.duration(node, "blast_radius.leash")
        if seconds is None or node is None:
            return None
        if not MIN_LEASH <= seconds <= MAX_LEASH:
            why = ("the room renews every leash/3, and one slow renewal would revert a fault mid-step"
                   if seconds < MIN_LEASH else "a longer leash no longer bounds what a dead control room leaves behind")
            self.at(node, f"blast_radius.leash: {format_duration(seconds)} is outside {MIN_LEASH:g}s..{MAX_LEASH / 60:g}m: {why}")
            return None
        return seconds

    # -- targets -----------------------------------------------------------

    def targets(self, root: Map) -> dict[str, Target]:
        node = self.mapping(root.get("targets"), "targets")
        if node is None:
            return {}
        out: dict[str, Target] = {}
        for name, (key, value) in node.entries.items():
            span = ranges.find_range(name)
            if isinstance(span, str):
                self.at(key, f"targets: {span}")
                continue
            if span is not None:
                self.target_range(name, key, value, span, out)
                continue
            message = checks.check_name(name, "target name")
            if message:
                self.at(key, f"targets: {message}")
                continue
            if name in out:
                self.at(key, f"targets: {name!r} is also named by a target range; remove one of them")
                continue
            target = self.target(name, value)
            if target is not None:
                out[name] = target
        return out

    def target_range(self, key_text: str, key: Node, value: Node, span: ranges.TargetRange,
                     out: dict[str, Target]) -> None:
        """`web-[1:200]: {ssh: "web-[1:200].internal"}` -> 200 ordinary targets, each checked like one
        written out. The first one that has a problem stops the expansion, so a mistake is reported once."""
        where = f"targets.{key_text}"
        m = self.mapping(value, where)
        if m is None:
            return
        kind = next((k for k in TARGET_KINDS if k in m.entries), None)
        if kind not in ("ssh", "http"):
            self.at(key, f"{where}: a target range makes ssh or http targets (each with its own address); "
                         f"a {kind or 'target without a kind'} cannot be numbered")
            return
        address = m.get(kind)
        if address is None or not ranges.carries(address, span.text):
            self.at(address or key, f"{where}.{kind}: a target range needs the same {span.text} in its {kind} "
                                    f"value (e.g. {kind}: {'web-' if kind == 'ssh' else 'http://web-'}{span.text}"
                                    f"{'' if kind == 'ssh' else ':8080/'}), or all {len(span)} targets would be "
                                    f"one host")
            return
        for number in span.numbers():
            name = key_text.replace(span.text, number)
            message = checks.check_name(name, "target name")
            if message:
                self.at(key, f"targets: {message}")
                return
            if name in out:
                self.at(key, f"{where}: {name!r} is already a target; ranges and names must not overlap")
                return
            before = len(self.problems)
            target = self.target(name, ranges.substitute(m, span.text, number))
            if target is None or len(self.problems) > before:
                return
            out[name] = target

    def target(self, name: str, node: Node) -> Target | None:
        where = f"targets.{name}"
        m = self.mapping(node, where)
        if m is None:
            return None
        self.keys(m, TARGET_KEYS, where)
        kind = self.one_of(m, TARGET_KINDS, where, "ssh:, local: true, http:, kubernetes:, toxiproxy: or gremlin:")
        if kind is None:
            return None
        ssh = url = None
        kube: KubernetesRef | None = None
        toxi: ToxiproxyRef | None = None
        grem: GremlinRef | None = None
        if kind == "ssh":
            ssh = self.checked(m.get("ssh"), f"{where}.ssh", checks.check_ssh_destination)
        elif kind == "local":
            flag = self.boolean(m.get("local"), f"{where}.local")
            if flag is False:
                self.at(m.get("local") or m, f"{where}.local: 'local: false' describes no target; write 'local: true'")
        elif kind == "http":
            url = self.checked(m.get("http"), f"{where}.http", lambda v: checks.check_url(v, "http target URL"))
        elif kind in ("toxiproxy", "gremlin"):
            toxi = apis.toxiproxy(self, m.get("toxiproxy"), f"{where}.toxiproxy") if kind == "toxiproxy" else None
            grem = apis.gremlin(self, m.get("gremlin"), f"{where}.gremlin") if kind == "gremlin" else None
        else:
            kube = self.kubernetes(m.get("kubernetes"), f"{where}.kubernetes")
        for key in ("sudo", "interface"):
            if key in m.entries and kind not in ("ssh", "local"):
                self.at(m.entries[key][0], f"{where}.{key}: only applies to ssh and local targets, not {kind}")
        for key in ("identity_file", "known_hosts"):
            if key in m.entries and kind not in ("ssh", "toxiproxy"):
                self.at(m.entries[key][0], f"{where}.{key}: only applies to ssh (and toxiproxy ssh:) targets, not {kind}")
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
            toxiproxy=toxi,
            gremlin=grem,
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

        def ns_check(v: str) -> str | None:
            return None if checks.DNS_LABEL_RE.fullmatch(v) else \
                f"namespace {v!r} must be lowercase letters, digits and - (at most 63)"

        allowed = [v for v, _ in self.strings(m.get("allow_namespaces"), f"{where}.allow_namespaces")]
        found: list[tuple[str, Node]] = []
        if "namespaces" in m.entries:
            if "namespace" in m.entries:
                self.at(m.entries["namespaces"][0], f"{where}: give namespace: or namespaces:, not both")
            for i, (v, n) in enumerate(self.strings(m.get("namespaces"), f"{where}.namespaces")):
                if self.checked(n, f"{where}.namespaces[{i}]", ns_check) is not None:
                    found.append((v, n))
            if not found:
                self.at(m, f"{where}.namespaces: name at least one namespace")
        else:
            node = self.require(m, "namespace", where)
            ns = self.checked(node, f"{where}.namespace", ns_check)
            if ns is not None and node is not None:
                found.append((ns, node))
        for ns, n in found:
            if ns in SYSTEM_NAMESPACES and ns not in allowed:
                self.at(n, f"{where}: namespace {ns!r} is a system namespace and refused; if you mean it, "
                           f"add `allow_namespaces: [{ns}]` to the target")
        selector = self.checked(self.require(m, "selector", where), f"{where}.selector", checks.check_selector)
        field_selector = self.checked(m.get("field_selector"), f"{where}.field_selector", checks.check_field_selector)
        mode = self.choice(m.get("mode"), f"{where}.mode", KUBE_MODES) or "all"
        value_node = m.get("value")
        value = ""
        if value_node is not None:
            raw = self.string(value_node, f"{where}.value")
            value = (raw or "").strip()
        if mode in ("fixed", "fixed-percent", "random-max-percent"):
            problem = checks.check_mode_value(mode, value)
            if problem:
                self.at(value_node or m, f"{where}.value: {problem}")
        elif value_node is not None:
            self.at(value_node, f"{where}.value: mode {mode!r} takes no value (only fixed and the percent modes do)")
        kubeconfig = self.checked(m.get("kubeconfig"), f"{where}.kubeconfig", lambda v: checks.check_path(v, "path"))
        if not found or selector is None:
            return None
        return KubernetesRef(context=context, namespace=found[0][0], selector=selector,
                             namespaces=tuple(ns for ns, _ in found), field_selector=field_selector or "",
                             mode=mode, value=value, kubeconfig=kubeconfig, allow_namespaces=tuple(allowed))

    def labels(self, node: Node | None, where: str) -> dict[str, str]:
        m = self.mapping(node, where)
        if m is None:
            return {}
        out: dict[str, str] = {}
        for key, (key_node, value_node) in m.entries.items():
            if not checks.LABEL_KEY_RE.fullmatch(key):
                self.at(key_node, f"{where}: label key {key!r} must be letters, digits and _ . / - (starting and ending with a letter or digit)")
                continue
            value = self.string(value_node, f"{where}.{key}", empty_ok=True)
            if value is None:
                continue
            if not checks.LABEL_VALUE_RE.fullmatch(value):
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
        # Sampling faster than this measures the control room rather than the system under test.
        every = self.duration(m.get("every"), "observe.every", minimum=MIN_EVERY)
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
        source = self.one_of(m, METRIC_SOURCES, where,
                             "probe: URL, promql: QUERY, command: COMMAND or kubernetes: TARGET")
        if source is None:
            return None
        timeout = self.duration(m.get("timeout"), f"{where}.timeout")
        probe = promql = command = on = None
        if source == "probe":
            probe = self.checked(m.get("probe"), f"{where}.probe", lambda v: checks.check_url(v, "probe URL"))
        elif source == "promql":
            promql = self.string(m.get("promql"), f"{where}.promql")
            if not has_prometheus:
                self.at(m.entries["promql"][0], f"{where}: a promql metric needs observe.prometheus.url")
        elif source == "kubernetes":
            # The ready ratio and restarts of a kubernetes target's selector, read through its kubeconfig.
            kube_node = m.get("kubernetes")
            on = self.string(kube_node, f"{where}.kubernetes")
            if on is not None and kube_node is not None:
                if on not in targets:
                    self.at(kube_node, f"{where}.kubernetes: unknown target {on!r}{suggest(on, targets)}")
                    on = None
                elif targets[on].kind != "kubernetes":
                    self.at(kube_node, f"{where}.kubernetes: {on!r} is a {targets[on].kind} target; name a "
                                       "kubernetes target")
                    on = None
            if on is None:
                return None
            return MetricSpec(name=name, source="kubernetes", on=on,
                              timeout=DEFAULT_PROBE_TIMEOUT if timeout is None else timeout)
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

    def success_criteria(self, root: Map, series: list[str]) -> SuccessCriteria:
        """One rule, the engine's and the report's too: `recovery_time`, `data_loss` and `custom` are checked by
        the machine, so they must parse here; a sentence goes under `statements`, which the facilitator judges."""
        m = self.mapping(root.get("success_criteria"), "success_criteria")
        if m is None:
            return SuccessCriteria()
        self.keys(m, SUCCESS_KEYS, "success_criteria")
        recovery = self.duration(m.get("recovery_time"), "success_criteria.recovery_time")
        data_loss = self.data_loss(m.get("data_loss"), series)
        custom: list[str] = []
        for i, (text, item) in enumerate(self.strings(m.get("custom"), "success_criteria.custom")):
            where = f"success_criteria.custom[{i}]"
            try:
                parse_condition(text)
            except ValueError as err:
                self.verdict_problem(item, f"{where}: {text!r} is not a condition ({err}); {STATEMENT_HINT}")
                continue
            if not self.verdict_rules:
                custom.append(text.strip())  # judged by nobody: reverting needs no verdict
            elif self.condition(text, item, where, series) is not None:
                custom.append(text.strip())
        statements = tuple(v.strip() for v, _ in self.strings(m.get("statements"), "success_criteria.statements"))
        return SuccessCriteria(recovery_time=recovery, data_loss=data_loss, custom=tuple(custom),
                               statements=statements)

    def data_loss(self, node: Node | None, series: list[str]) -> str | None:
        from controlroom.metrics.criteria import DATA_LOSS_RE

        text = self.string(node, "success_criteria.data_loss")
        if text is None or node is None:
            return None
        m = DATA_LOSS_RE.fullmatch(text)
        if not self.verdict_rules:
            return text.strip()
        if m is None:
            self.at(node, f"success_criteria.data_loss: expected '<series> must not drop' (e.g. 'orders_rows must "
                          f"not drop'), got {text!r}; {STATEMENT_HINT}")
            return None
        if m.group(1) not in series:
            known = ", ".join(series) if series else "none: add metrics under observe.metrics"
            self.at(node, f"success_criteria.data_loss: {m.group(1)!r} is not a series the metrics produce "
                          f"(series: {known})")
            return None
        return text.strip()

    def phase_rules(self, root: Map, series: list[str]) -> tuple[Phase, ...]:
        """Each phase's `validation` (conditions judged at the end of the phase) and `abort_on_failure`.

        The steps inside were read (and every structural problem reported) by `steps`; this walk adds the rules.
        """
        phases = root.get("phases")
        if not isinstance(phases, Seq) or root.get("steps") is not None:
            return ()
        out: list[Phase] = []
        for p, item in enumerate(phases.items):
            if not isinstance(item, Map):
                continue
            where = f"phases[{p}]"
            name_node = item.get("name")
            name = name_node.raw if isinstance(name_node, Scalar) and name_node.value is not None else where
            node = item.get("validation")
            if isinstance(node, Scalar) and node.value is not None:  # one condition may be written alone
                node = Seq(node.line, node.col, [node])
            validation = self.conditions(node, f"{where}.validation", series)
            abort = self.boolean(item.get("abort_on_failure"), f"{where}.abort_on_failure")
            steps_node = item.get("steps")
            ids = tuple(ident.raw for s in (steps_node.items if isinstance(steps_node, Seq) else [])
                        if isinstance(s, Map) and isinstance(ident := s.get("id"), Scalar))
            out.append(Phase(name=name, steps=ids, validation=validation, abort_on_failure=bool(abort)))
        return tuple(out)

    def observed_or_declared(self, root: Map, steps: list[Step], steady: SteadyState, stop: StopWhen,
                             phases: tuple[Phase, ...]) -> bool:
        """No verdict without observation: a step that injects faults needs something that judges the system
        while they are in (a steady-state requirement, a stop condition or a phase validation), unless the
        scenario says `unobserved: true` — then it runs, and its outcome is "unobserved", never "held"."""
        node = root.get("unobserved")
        declared = bool(self.boolean(node, "unobserved"))
        judged = bool(steady.require or stop.conditions or any(p.validation for p in phases))
        if declared and judged and node is not None:
            self.verdict_problem(node, "unobserved: true, but steady_state, stop_when or a phase validation judges metrics; "
                          "remove one or the other")
        faulting = next((s for s in steps if s.faults), None)
        if faulting is not None and not judged and not declared:
            anchor = _step_node(root, faulting.id) or root
            self.verdict_problem(anchor, f"steps.{faulting.id}: this step injects faults but nothing observes them (no "
                            "steady_state.require, stop_when.conditions or phase validation reads a metric), so no "
                            "verdict could be honest; add conditions on observe.metrics, or write 'unobserved: true' "
                            "at the top to run it knowingly without a verdict")
        return declared


def _step_node(root: Map, step_id: str) -> Node | None:
    """The located mapping of step `step_id` (in steps: or any phase), to point a problem at it."""
    lists: list[Node | None] = [root.get("steps")]
    phases = root.get("phases")
    if isinstance(phases, Seq):
        lists += [p.get("steps") for p in phases.items if isinstance(p, Map)]
    for seq in lists:
        for item in seq.items if isinstance(seq, Seq) else []:
            ident = item.get("id") if isinstance(item, Map) else None
            if isinstance(ident, Scalar) and ident.raw == step_id:
                return item
    return None


def _interface_problem(value: str) -> str | None:
    from controlroom.faults import shell

    try:
        shell.interface(value)
    except ValueError as err:
        bad = checks.metacharacters(value)
        return f"interface {value!r} contains shell metacharacters ({' '.join(map(repr, bad))})" if bad else str(err)
    return None


def validate(root: Map, file: str, text: str, problems: Sequence[Problem] = (), *,
             verdict_rules: bool = True) -> Scenario:
    """Build the Scenario, or raise ScenarioError with every problem (including the loader's).

    `verdict_rules=False` (recover, from a journal) leaves out the rules about verdicts and supported
    target kinds, so older journals stay recoverable; the safety rules always apply.
    """
    validator = Validator(file, problems)
    validator.verdict_rules = verdict_rules
    scenario = validator.scenario(root, text)
    if validator.problems or scenario is None:
        raise ScenarioError(_unique(validator.problems) or [Problem(file, 1, 1, "the scenario is not valid")])
    return scenario


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))

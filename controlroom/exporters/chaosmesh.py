"""`controlroom export chaos-mesh`: a Kubernetes scenario as a Chaos Mesh Workflow, or one manifest per fault.

What the room does around its faults — gates the facilitator confirms, steady state, stop conditions, the
checklist, faults on hosts, APIs or Litmus — has no Chaos Mesh form. Each such part is one located line
(`SCENARIO:LINE:COL: ...`), and nothing is written unless `--partial`; then the output says in a comment header
what it left out. Nothing is guessed and nothing is contacted.

The chaos specs come from the same translation the room uses at injection (`faults.chaosmesh.manifest` and the
short forms' translators): the export cannot drift from what the room would have applied, except where it must
(the room pins the pods it chose at injection; the export keeps the target's selector and mode, which are
Chaos Mesh's own, and lets Chaos Mesh choose). Every chaos spec is checked against its kind's bundled CRD with
the simulated API server's strict checker (`faults.crd.check`) before anything is written. The Workflow CRD is
not bundled (3 MB of embedded specs): the Workflow's own structure — entry, template names, children — is
checked here, and each embedded spec against its own CRD.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from controlroom.errors import ControlroomError, Problem, ScenarioError
from controlroom.faults import crd
from controlroom.faults.base import arg
from controlroom.faults.chaosmesh import TRANSLATIONS, go_duration, manifest
from controlroom.faults.kubernetes import GRACE, RECOVERY_WAIT
from controlroom.scenario.loader import Map, Node, Scalar, Seq, parse_document
from controlroom.scenario.model import FaultSpec, Scenario, Step, Target
from controlroom.units import format_duration

EXPORTED_FROM = "controlroom.io/exported-from"
WORKFLOW_API = "chaos-mesh.org/v1alpha1"
TRANSLATE = TRANSLATIONS
# the Workflow's per-kind spec field (chaos-mesh api/v1alpha1 EmbedChaos): PodChaos -> podChaos
EMBED_FIELD = {kind: kind[0].lower() + kind[1:] for kind in crd.kinds(crd.CHAOS_MESH)}
_EQUALITY = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9_./-]*)\s*==?\s*([A-Za-z0-9_.-]*)\s*")


class ExportError(ControlroomError):
    """The scenario cannot be exported as asked (not Kubernetes, an output that exists, a directory unwritable)."""


@dataclass
class Export:
    """What `export` produced: (file name, YAML text) per output file, and the parts left out (--partial)."""

    files: list[tuple[str, str]] = field(default_factory=list)
    omitted: list[Problem] = field(default_factory=list)
    templates: int = 0


class Untranslatable(ScenarioError):
    """Parts Chaos Mesh cannot express: one located line each (the CLI prints them as a ScenarioError's); nothing
    is written."""


def dns_name(text: str) -> str:
    """A Kubernetes object or template name (RFC 1123 label): lowercase, `[a-z0-9-]`, at most 63."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:63].strip("-")
    return name or "step"


def label_value(text: str) -> str:
    value = re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:63]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", value)


def exact_terms(selector: str) -> dict[str, str] | None:
    """'app=checkout,tier=web' -> {app: checkout, tier: web}; None when a term is not an equality (`!=`, `in`,
    `!key`, `key`): Chaos Mesh's labelSelectors hold equalities only, and dropping a term would widen the blast."""
    out: dict[str, str] = {}
    for part in selector.split(","):
        m = _EQUALITY.fullmatch(part)
        if m is None or "!" in part:
            return None
        out[m.group(1)] = m.group(2)
    return out


# ---- where things are written, for located lines ------------------------------------------------------------


class Locator:
    """Positions of the scenario's keys and steps (the model keeps values, the parsed tree keeps positions)."""

    def __init__(self, text: str, path: str):
        self.root, _ = parse_document(text, path)
        self.steps: dict[str, Map] = {}
        for node in self._step_nodes():
            sid = node.get("id")
            if isinstance(sid, Scalar) and isinstance(sid.value, str):
                self.steps.setdefault(sid.value, node)

    def _step_nodes(self) -> list[Map]:
        out: list[Map] = []
        steps = self.root.get("steps")
        phases = self.root.get("phases")
        groups: list[Node | None] = [steps]
        if isinstance(phases, Seq):
            groups += [p.get("steps") for p in phases.items if isinstance(p, Map)]
        for group in groups:
            if isinstance(group, Seq):
                out += [item for item in group.items if isinstance(item, Map)]
        return out

    def key(self, name: str) -> Node:
        return self.root.key_node(name) or self.root

    def step(self, step_id: str, key: str | None = None) -> Node:
        node = self.steps.get(step_id)
        if node is None:
            return self.root
        return (node.key_node(key) if key else None) or node

    def fault(self, step_id: str, index: int) -> Node:
        node = self.steps.get(step_id)
        if node is None:
            return self.root
        one, many = node.get("fault"), node.get("faults")
        if one is not None and index == 0:
            return one
        if isinstance(many, Seq) and index < len(many.items):
            return many.items[index]
        return node


# ---- the export --------------------------------------------------------------------------------------------


@dataclass
class _Template:
    name: str
    step: Step
    kind: str
    spec: dict[str, Any]
    deadline: float
    namespace: str  # the target's (first) namespace: where the room created the object


class _Exporter:
    def __init__(self, scenario: Scenario, path: str):
        self.sc = scenario
        self.path = path
        self.where = Locator(scenario.source_text, path)
        self.problems: list[Problem] = []
        self.kube_faults = 0
        self.names: set[str] = set()

    def problem(self, node: Node, message: str) -> None:
        self.problems.append(Problem(self.path, node.line, node.col, message))

    def unique(self, base: str) -> str:
        name, n = dns_name(base), 2
        while name in self.names:
            name = f"{dns_name(base)[:60]}-{n}"
            n += 1
        self.names.add(name)
        return name

    # -- the scenario-wide parts the room judges and Chaos Mesh does not ---------------------------------

    def room_parts(self) -> None:
        sc = self.sc
        if sc.steady_state.require:
            self.problem(self.where.key("steady_state"),
                         "steady_state: the room judges the hypothesis on its metrics; cannot be expressed in Chaos "
                         "Mesh; watch it yourself (or a Workflow StatusCheck you write) while the workflow runs")
        if sc.stop_when.conditions:
            self.problem(self.where.key("stop_when"),
                         "stop_when: the room rolls back when a condition holds; cannot be expressed in Chaos Mesh; "
                         "keep an eye on it and delete the workflow to stop")
        if sc.checklist:
            self.problem(self.where.key("checklist"),
                         "checklist: the facilitator ticks it before the first step; cannot be expressed in Chaos "
                         "Mesh; go through it before you apply")
        if sc.success_criteria.declared:
            self.problem(self.where.key("success_criteria"),
                         "success_criteria: judged by the room at the end; cannot be expressed in Chaos Mesh")
        if sc.blast_radius.max_pods is not None:
            self.problem(self.where.key("blast_radius"),
                         f"blast_radius.max_pods {sc.blast_radius.max_pods}: the room refuses a selection over it; "
                         "cannot be expressed in Chaos Mesh (its mode and value are the only bound)")
        phases = self.where.root.get("phases")
        for phase in sc.phases:
            if phase.validation:
                node = next((p for p in (phases.items if isinstance(phases, Seq) else [])
                             if isinstance(p, Map) and isinstance(p.get("name"), Scalar)
                             and p.get("name").value == phase.name), self.where.root)  # type: ignore[union-attr]
                where = node.key_node("validation") if isinstance(node, Map) else None
                self.problem(where or node, f"phase {phase.name!r}: validation is judged by the room; cannot be "
                                            "expressed in Chaos Mesh")

    # -- a step ---------------------------------------------------------------------------------------------

    def step(self, step: Step) -> list[_Template] | None:
        """The chaos templates of a step; [] for a pause (no faults); None when nothing of it is expressible."""
        if step.confirm:
            self.problem(self.where.step(step.id, "confirm"),
                         f"step {step.id!r}: the facilitator's gate (confirm) cannot be expressed in Chaos Mesh; the "
                         "workflow goes on without waiting (write confirm: false to say that is intended)")
        out: list[_Template] = []
        for i, spec in enumerate(step.faults):
            for target in self.sc.resolve_targets(spec.target):
                template = self.fault(step, i, spec, target)
                if template is not None:
                    out.append(template)
        return out if out or not step.faults else None

    def fault(self, step: Step, index: int, spec: FaultSpec, target: Target) -> _Template | None:
        node = self.where.fault(step.id, index)
        head = f"step {step.id!r}: {spec.type} on target {target.name!r}"
        if target.kind != "kubernetes" or target.kubernetes is None:
            self.problem(node, f"{head} ({target.kind}) cannot be expressed in Chaos Mesh; Chaos Mesh acts on "
                               "pods: run it from the room, or write it as a chaos-* step on a kubernetes target")
            return None
        if spec.type.startswith("litmus-"):
            self.kube_faults += 1
            self.problem(node, f"{head}: a Litmus ChaosEngine cannot be expressed in Chaos Mesh; write it as a "
                               "pod-kill or chaos-* step (e.g. chaos-pod-failure)")
            return None
        ref = target.kubernetes
        labels = exact_terms(ref.selector)
        fields = exact_terms(ref.field_selector) if ref.field_selector else {}
        if labels is None or fields is None:
            self.kube_faults += 1
            bad = ref.selector if labels is None else ref.field_selector
            self.problem(node, f"{head}: selector {bad!r} has a term other than key=value; cannot be expressed in "
                               "Chaos Mesh's labelSelectors/fieldSelectors without widening it; use equalities")
            return None
        if spec.type == "pod-kill":
            kind, body = "PodChaos", {"action": "pod-kill"}
            if arg(spec, GRACE) is not None:
                body["gracePeriod"] = arg(spec, GRACE)
            # the room holds a pod-kill step until the workload is back (recovery_wait): the template holds as long
            deadline = step.duration or float(arg(spec, RECOVERY_WAIT))
            duration: float | None = None
        elif spec.type in TRANSLATE:
            kind, body = TRANSLATE[spec.type](spec)
            deadline = step.duration or 0.0
            duration = step.duration
        else:
            self.problem(node, f"{head}: cannot be expressed in Chaos Mesh (no Chaos Mesh form)")
            return None
        self.kube_faults += 1
        doc = manifest(kind, body, ref.all_namespaces[0], duration, target)  # the room's own translation
        if "selector" not in body and fields:
            doc["spec"]["selector"]["fieldSelectors"] = fields
        suffix = f"-{index + 1}" if len(step.faults) > 1 else ""
        return _Template(self.unique(f"{step.id}{suffix}"), step, kind, doc["spec"], deadline,
                         ref.all_namespaces[0])

    # -- validation ---------------------------------------------------------------------------------------

    def check(self, doc: dict[str, Any], what: str) -> None:
        problem = crd.check(doc)
        if problem:  # a raw `cr:` the room let through at validate time would fail here only if the export broke it
            raise ExportError(f"{self.path}: {what}: {doc['kind']} is invalid for its CRD: {problem}")


def _header(sc: Scenario, path: str, omitted: list[Problem], lines: list[str]) -> str:
    contexts = sorted({t.kubernetes.context for t in sc.targets.values() if t.kubernetes and t.kubernetes.context})
    out = [f"# Exported from {path} (scenario {sc.name!r}) by `controlroom export chaos-mesh`.",
           f"# Hypothesis: {' '.join(sc.hypothesis.split())}",
           *(f"# {line}" for line in lines)]
    if contexts:
        out.append(f"# The room ran it on kubeconfig context(s): {', '.join(contexts)} (kubectl --context ...).")
    if omitted:
        out.append("# Omitted (cannot be expressed in Chaos Mesh; written with --partial):")
        out += [f"#   {p}" for p in omitted]
    # a path or a name with a line break must not end the comment and start YAML of its own
    return "".join(" ".join(line.splitlines()) + "\n" for line in out)


def _dump(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=True, default_flow_style=False, allow_unicode=True, width=100)


def _metadata(sc: Scenario, name: str, namespace: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": {EXPORTED_FROM: label_value(sc.name) or "scenario"}}


def export_chaos_mesh(scenario: Scenario, path: str, *, per_step: bool = False, partial: bool = False) -> Export:
    """The Workflow (or one manifest per fault) for a loaded scenario; raises Untranslatable / ExportError."""
    ex = _Exporter(scenario, path)
    ex.room_parts()
    plan: list[tuple[Step, list[_Template] | None]] = [(step, ex.step(step)) for step in scenario.steps]
    if ex.kube_faults == 0:
        raise ExportError(f"{path}: has no Kubernetes or Chaos Mesh fault; only a scenario whose faults are "
                          "pod-kill or chaos-* on kubernetes targets can be exported to Chaos Mesh")
    omitted = sorted(ex.problems)
    if omitted and not partial:
        raise Untranslatable(omitted)
    templates = [t for _, ts in plan for t in ts or []]
    if not templates:
        raise ExportError(f"{path}: nothing of it can be expressed in Chaos Mesh (every fault was left out)")
    namespace = templates[0].namespace  # the Workflow's; each chaos spec names its own namespaces
    for t in templates:  # each chaos spec, as a standalone object of its kind, against the bundled CRD
        standalone = {"apiVersion": WORKFLOW_API, "kind": t.kind, "metadata": _metadata(scenario, t.name, t.namespace),
                      "spec": t.spec}
        ex.check(standalone, f"step {t.step.id!r}")
    result = Export(omitted=omitted, templates=len(templates))
    if per_step:
        result.files = per_step_files(scenario, path, plan, omitted)
        return result
    workflow = build_workflow(scenario, plan, ex)
    name = dns_name(scenario.name)
    doc = {"apiVersion": WORKFLOW_API, "kind": "Workflow", "metadata": _metadata(scenario, name, namespace),
           "spec": workflow}
    problem = check_workflow(doc)
    if problem:
        raise ExportError(f"{path}: the Workflow written would be invalid: {problem}")
    lines = [f"A Chaos Mesh Workflow: {len(templates)} chaos template(s) run one after the other (Serial entry).",
             "Its embedded chaos specs are checked against their own CRDs (the Workflow CRD is not bundled)."]
    result.files.append((f"{name}.workflow.yaml", _header(scenario, path, omitted, lines) + _dump(doc)))
    return result


def per_step_files(sc: Scenario, path: str, plan: list[tuple[Step, list[_Template] | None]],
                   omitted: list[Problem]) -> list[tuple[str, str]]:
    """One manifest per chaos template, numbered in the order the room ran them; the header says when to apply
    it: after the previous step ended, after a pause (an observe-only step), or together with its step's others."""
    total = sum(len(ts or []) for _, ts in plan)
    files: list[tuple[str, str]] = []
    pause = 0.0
    for step, chaos in plan:
        if chaos is not None and not chaos:
            pause += step.duration or 0.0
            continue
        for i, t in enumerate(chaos or []):
            n = len(files) + 1
            prefix = dns_name(sc.name)[:max(0, 62 - len(t.name))].strip("-")  # the step's name is never cut
            meta = _metadata(sc, f"{prefix}-{t.name}" if prefix else t.name, t.namespace)
            meta["labels"]["controlroom.io/step"] = label_value(t.step.id) or "step"
            doc = {"apiVersion": WORKFLOW_API, "kind": t.kind, "metadata": meta, "spec": t.spec}
            if i:
                when = f"apply it together with manifest {n - i} (the same step)"
            elif n == 1:
                when = "apply it first" + (f", after a {format_duration(pause)} pause" if pause else "")
            else:
                when = "apply it after the previous step ended" + (
                    f" and a {format_duration(pause)} pause" if pause else "")
            holds = f"; it holds {format_duration(t.deadline)}" if t.spec.get("duration") else ""
            lines = [f"Manifest {n} of {total}: step {step.id!r} ({step.title}); {when}{holds}."]
            files.append((f"{n:02d}-{t.name}.yaml", _header(sc, path, omitted, lines) + _dump(doc)))
        if chaos:
            pause = 0.0  # a step left out (--partial) does not end the pause before the next one
    return files


def build_workflow(sc: Scenario, plan: list[tuple[Step, list[_Template] | None]], ex: _Exporter) -> dict[str, Any]:
    """Entry: a Serial template whose children are one template per step (a Parallel when a step has several
    faults), and a Suspend for a step without faults (the room's observe-only pause)."""
    entry = ex.unique("entry")
    templates: list[dict[str, Any]] = []
    children: list[str] = []
    for step, chaos in plan:
        if chaos is None:
            continue  # left out (--partial): its line is in the header
        deadline = go_duration(step.duration or 0.0)
        if not chaos:
            if step.duration is None:
                continue
            name = ex.unique(f"{step.id}-pause")
            templates.append({"name": name, "templateType": "Suspend", "deadline": deadline})
            children.append(name)
            continue
        own: list[dict[str, Any]] = [{"name": t.name, "templateType": t.kind, "deadline": go_duration(t.deadline),
                EMBED_FIELD[t.kind]: t.spec} for t in chaos]
        templates += own
        if len(own) == 1:
            children.append(own[0]["name"])
        else:
            name = ex.unique(f"{step.id}-parallel")
            templates.append({"name": name, "templateType": "Parallel", "deadline": deadline,
                              "children": [t["name"] for t in own]})
            children.append(name)
    return {"entry": entry, "templates": [{"name": entry, "templateType": "Serial", "children": children},
                                          *templates]}


def check_workflow(doc: dict[str, Any]) -> str | None:
    """What the Workflow webhook checks on structure: the entry and every child exist, names are unique RFC 1123
    labels, chaos and Suspend templates have a deadline and chaos ones exactly their kind's embedded spec."""
    spec = doc["spec"]
    names = [t["name"] for t in spec["templates"]]
    if len(set(names)) != len(names):
        return "two templates have the same name"
    if spec["entry"] not in names:
        return f"entry {spec['entry']!r} is not a template"
    for t in spec["templates"]:
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", t["name"]):
            return f"template name {t['name']!r} is not an RFC 1123 label"
        for child in t.get("children") or []:
            if child not in names:
                return f"template {t['name']!r}: child {child!r} is not a template"
        kind = t["templateType"]
        if kind in EMBED_FIELD or kind == "Suspend":
            if not t.get("deadline"):
                return f"template {t['name']!r}: {kind} needs a deadline"
        embedded = [k for k in EMBED_FIELD.values() if k in t]
        if kind in EMBED_FIELD and embedded != [EMBED_FIELD[kind]]:
            return f"template {t['name']!r}: a {kind} template embeds exactly {EMBED_FIELD[kind]}"
        if kind not in EMBED_FIELD and embedded:
            return f"template {t['name']!r}: a {kind} template embeds no chaos"
    return None

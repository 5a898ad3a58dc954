"""The steps of a scenario (or its phases, flattened): ids, faults, durations and the blast-radius rules per step."""

from __future__ import annotations

import difflib
import ipaddress
from typing import Any

from controlroom.faults.catalogue import FaultType, catalogue, parse_params
from controlroom.scenario import checks
from controlroom.scenario.apis import unleashed_problem
from controlroom.scenario.fields import FieldReader, plain, suggest
from controlroom.scenario.loader import Map, Node, Seq
from controlroom.scenario.model import BlastRadius, FaultSpec, Scenario, Step, Target
from controlroom.units import format_duration

STEP_KEYS = ("id", "title", "brief", "fault", "faults", "duration", "expect", "confirm", "abort_on_failure")
FAULT_RESERVED = ("type", "target", "optional")
PHASE_KEYS = ("name", "steps", "validation", "abort_on_failure")


class StepReader(FieldReader):
    """Steps and their faults, checked against the targets and the blast radius."""

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
                else:
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
            for target in resolved:  # safety: a fault with no leash at all needs the scenario's explicit consent
                message = unleashed_problem(target, ft.name, blast.allow_unleashed)
                if message:
                    self.at(item, f"{item_where}: {message}")
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
            if not checks.LABEL_KEY_RE.fullmatch(key) or not checks.LABEL_VALUE_RE.fullmatch(value):
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

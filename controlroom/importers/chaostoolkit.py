"""`controlroom import chaostoolkit`: a Chaos Toolkit experiment (JSON or YAML) -> a commented scenario.

Why this is safe to run on any file: the experiment is read with the scenario
loader (JSON is YAML), which refuses binary data, oversized files, alias bombs
and unknown tags and keeps every value's line and column; every problem is a
located `EXPERIMENT:LINE:COL: message` line (ExperimentError, exit 2), never a
traceback. Nothing is executed and nothing is contacted: `env` configuration is
read from this process's environment, once, at import time.

Why the written scenario is honest:
- a Chaos Toolkit process action becomes a `command` fault, and the room runs a
  command only as a fault it can revert and verify. Chaos Toolkit has no
  verify, so the check that an action's effect is gone must come from the user
  (the mapping file's `verify:`); an action with no rollback or no verify is
  untranslatable, never given a revert or verify that only looks like one;
- argv from the experiment is joined with shell.sh() (quoted word by word), so
  the shell runs exactly the argv Chaos Toolkit would have passed to exec;
- secrets are never written: an activity that needs one is untranslatable;
- chaosk8s terminate_pods and chaostoolkit-toxiproxy toxics become the room's own
  pod-kill and toxiproxy-* faults, whose revert and verify are built in; the
  cluster (context) is never guessed, and a toxic is never written without a
  leash unless the user said so (--allow-unleashed): the mapping names the
  Toxiproxy host's ssh, where the guard is armed;
- the text is validated with the room's own validation before it is returned,
  so nothing is written that `controlroom validate` would refuse;
- with `--partial`, what cannot be translated is left as commented TODOs and
  the scenario says `template: true`: validate and plan work, run refuses it.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shlex
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field

from controlroom.errors import Problem, ScenarioError
from controlroom.faults.shell import q, sh
from controlroom.scenario.checks import check_selector, check_url
from controlroom.scenario.loader import Map, Node, Scalar, Seq, decode, one_line, parse_document
from controlroom.units import format_duration

MAX_BYTES = 1 << 20
DEFAULT_HOLD = 10.0  # seconds a translated action stays in when the experiment gives no pauses.after
ENVIRONMENT = "imported"
_VAR = re.compile(r"\$\{([^}]*)\}")
_ACTIVITY_KEYS = {"type", "name", "provider", "tolerance", "pauses", "background", "controls", "ref"}
_TOP_KEYS = {"version", "title", "description", "tags", "configuration", "secrets", "steady-state-hypothesis",
             "method", "rollbacks", "controls", "runtime", "contributions", "extensions", "dry"}


class ExperimentError(ScenarioError):
    """An experiment that cannot be read, or has parts the room cannot run; one located line per problem."""


@dataclass
class Mapping_:
    """The import mapping (-m FILE, -t DEST): where the commands run and what the experiment does not say."""

    target: dict[str, object] = field(default_factory=lambda: {"local": True})
    environment: str = ENVIRONMENT
    verify: dict[str, str] = field(default_factory=dict)  # action name -> a check that succeeds once it is undone
    undoes: dict[str, str] = field(default_factory=dict)  # rollback name -> the action it undoes
    where: dict[str, Problem] = field(default_factory=dict)  # "verify.NAME" / "undoes.NAME" -> where it is written
    kubernetes: dict[str, str] = field(default_factory=dict)  # context (required for chaosk8s), kubeconfig
    toxiproxy: dict[str, object] = field(default_factory=dict)  # ssh (the leash's host), sudo, identity_file, ...
    allow_unleashed: bool = False  # --allow-unleashed: the user's explicit consent to toxics with no leash


@dataclass
class Result:
    text: str  # the scenario
    untranslatable: list[Problem]  # empty unless partial
    steps: int
    metrics: int


@dataclass
class _Act:
    """One activity, resolved (refs followed, ${var} substituted)."""

    node: Map
    name: str
    kind: str  # action | probe
    provider: Map | None
    where: str  # steady-state-hypothesis | method | rollbacks
    ref_node: Map | None = None  # the {ref: ...} entry that repeated it, for locations

    @property
    def at(self) -> Map:
        return self.ref_node or self.node


@dataclass
class _Step:
    acts: list[_Act]
    commands: list[str]
    before: float
    after: float
    rollbacks: list[tuple[_Act, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fault: str = ""  # an extension's fault (flow mapping, target included): revert and verify are the room's own


class _Untranslatable(Exception):
    def __init__(self, node: Node, message: str):
        super().__init__(message)
        self.node = node
        self.message = message


def _s(node: Node | None) -> str | None:
    return node.value if isinstance(node, Scalar) and isinstance(node.value, str) else None


_NOT_PRINTABLE = re.compile("[^\t\n\r\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _y(value: str) -> str:
    """A YAML double-quoted scalar: JSON string syntax, every character YAML does not print escaped.

    Characters beyond U+FFFF stay as they are: as a JSON-style escape pair, PyYAML would read two halves.
    """
    return _NOT_PRINTABLE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", json.dumps(value, ensure_ascii=False))


def _c(text: str, limit: int = 200) -> str:
    """Comment text: one line, printable ASCII only (the loader refuses control characters anywhere)."""
    flat = one_line(text).encode("ascii", "backslashreplace").decode("ascii").replace("\x7f", "?")
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _slug(text: str, *, lower: bool = True, limit: int = 60) -> str:
    out = re.sub(r"[^A-Za-z0-9_]+", "-", text.lower() if lower else text).strip("-")[:limit].strip("-")
    if not out or not out[0].isalpha():
        out = "a-" + out if out else "activity"
    return out


def _dur(seconds: float) -> str:
    return format_duration(seconds)


class _Importer:
    def __init__(self, file: str, root: Map, mapping: Mapping_, env: Mapping[str, str], partial: bool):
        self.file = file
        self.root = root
        self.mapping = mapping
        self.env = env
        self.partial = partial
        self.errors: list[Problem] = []  # malformed input: fatal even with --partial
        self.untranslatable: list[Problem] = []
        self.config: dict[str, str] = {}
        self.config_notes: list[str] = []
        self.secret_names: set[str] = set()
        self.secret_notes: list[str] = []
        self.named: dict[str, _Act] = {}
        self.metrics: list[tuple[str, list[str], str]] = []  # (name, comment lines, yaml flow)
        self.conditions: list[str] = []
        self.prometheus_url: str | None = None
        self.todos: list[tuple[str, list[str]]] = []  # (section, commented lines)
        self.top_notes: list[str] = []
        self.ids: set[str] = set()
        self.metric_names: set[str] = set()
        self.rollback_names: set[str] = set()
        self.extra_targets: dict[str, tuple[str, str]] = {}  # name -> (flow, comment): kubernetes/toxiproxy targets
        self.toxics: set[tuple[str, str]] = set()  # (proxy, toxic_name) created by translated actions
        self.downs: set[str] = set()  # proxies a translated action disabled
        self.unleashed = False  # a toxiproxy target without ssh:, allowed by --allow-unleashed
        self.absorbed: list[str] = []  # rollbacks the room's own revert replaces
        self.command_target_used = False  # a process action, rollback or probe runs on the mapping's target
        self.fault_actions: dict[str, str] = {}  # action name -> the room's fault type it became (pod-kill, ...)

    # -- reporting -------------------------------------------------------------------------------------------

    def error(self, node: Node, message: str) -> None:
        self.errors.append(Problem(self.file, max(node.line, 1), max(node.col, 1), one_line(message)))

    def cannot(self, node: Node, message: str, section: str = "", todo: list[str] | None = None) -> None:
        self.untranslatable.append(Problem(self.file, max(node.line, 1), max(node.col, 1), one_line(message)))
        if todo is not None:
            self.todos.append((section, [f"TODO: {self.file}:{node.line}:{node.col}: {_c(message, 400)}", *todo]))

    def loc(self, node: Node) -> str:
        return f"{os.path.basename(self.file)}:{node.line}:{node.col}"

    # -- top level ------------------------------------------------------------------------------------------

    def run(self) -> str:
        root = self.root
        for key, (knode, _) in root.entries.items():
            if key not in _TOP_KEYS:
                self.error(knode, f"{key!r} is not a Chaos Toolkit experiment key; is this an experiment file?")
        title = _s(root.get("title"))
        if title is None:
            self.error(root.get("title") or root, "title: every Chaos Toolkit experiment has a title (a string)")
            title = "imported"
        self._configuration()
        self._secrets()
        for key in ("controls", "runtime"):
            node = root.get(key)
            if node is not None:
                self._top_untranslatable(key, node)
        hyp = root.get("steady-state-hypothesis")
        hyp_title = ""
        if isinstance(hyp, Map):
            hyp_title = _s(hyp.get("title")) or ""
            probes = hyp.get("probes")
            for item in self._list(probes, "steady-state-hypothesis.probes"):
                act = self._activity(item, "steady-state-hypothesis")
                if act is not None:
                    self._probe(act, in_hypothesis=True)
            if isinstance(hyp.get("controls"), Seq):
                self._top_untranslatable("steady-state-hypothesis.controls", hyp.get("controls"))  # type: ignore[arg-type]
        elif hyp is not None:
            self.error(hyp, "steady-state-hypothesis: expected a mapping with title and probes")
        method = root.get("method")
        if method is None:
            self.error(root, "method: every Chaos Toolkit experiment has a method (a list of activities)")
        steps: list[_Step] = []
        for item in self._list(method, "method"):
            act = self._activity(item, "method")
            if act is None:
                continue
            if act.kind == "probe":
                self._probe(act, in_hypothesis=False)
                continue
            step = self._action(act)
            if step is not None:
                steps.append(step)
        rollbacks: list[tuple[_Act, str]] = []
        for item in self._list(root.get("rollbacks"), "rollbacks"):
            act = self._activity(item, "rollbacks")
            if act is None:
                continue
            self.rollback_names.add(act.name)
            cmd = self._rollback(act)
            if cmd is not None:
                rollbacks.append((act, cmd))
        self.fault_actions = {st.acts[0].name: st.fault.split(",")[0].removeprefix("{type: ")
                              for st in steps if st.fault}
        steps = self._attach(steps, rollbacks)
        self._check_mapping()
        if self.errors:
            raise ExperimentError(self.errors)
        return self._emit(title, hyp_title, steps)

    def _check_mapping(self) -> None:
        """A name in the mapping that the experiment does not have is a typo: say where, never ignore it."""
        actions = {a.name for a in self.named.values() if a.kind == "action" and a.where == "method"}
        rollbacks = self.rollback_names
        wrong = [(f"verify.{k}", k, actions, "action in its method") for k in self.mapping.verify if k not in actions]
        wrong += [(f"undoes.{k}", k, rollbacks, "rollback") for k in self.mapping.undoes if k not in rollbacks]
        wrong += [(f"undoes.{k}", v, actions, "action in its method") for k, v in self.mapping.undoes.items()
                  if k in rollbacks and v not in actions]
        for key, name in [(f"verify.{k}", k) for k in self.mapping.verify if k in self.fault_actions] + [
                (f"undoes.{k}", v) for k, v in self.mapping.undoes.items() if v in self.fault_actions]:
            # The room's own fault brings its revert and verify: a second one from the mapping would never run,
            # and saying nothing would let the user believe it does.
            at = self.mapping.where.get(key)
            message = (f"{key}: action {name!r} becomes the room's {self.fault_actions[name]} fault, whose revert "
                       "and verify are built in; delete this entry")
            self.errors.append(Problem(at.file, at.line, at.col, message) if at else Problem(self.file, 1, 1, message))
        for key, name, known, what in wrong:
            at = self.mapping.where.get(key)
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            message = f"{key}: the experiment has no {what} named {name!r}{hint}"
            self.errors.append(Problem(at.file, at.line, at.col, message) if at else Problem(self.file, 1, 1, message))

    def _list(self, node: Node | None, where: str) -> list[Node]:
        if node is None:
            return []
        if isinstance(node, Seq):
            return node.items
        self.error(node, f"{where}: expected a list of activities, got {node.kind}")
        return []

    def _top_untranslatable(self, key: str, node: Node) -> None:
        if key.endswith("controls") and isinstance(node, Seq):
            for item in node.items:
                name = _s(item.get("name")) if isinstance(item, Map) else None
                self.cannot(item, f"control {name or '?'!r} cannot be translated: the room's gates, stop conditions "
                            "and emergency stop take the place of controls", "top",
                            [f"control {name or '?'} was not translated"])
            return
        self.cannot(node, f"{key}: Chaos Toolkit runtime strategies cannot be translated: the room checks the steady "
                    "state before the first step and after recovery, and stop_when rolls back during the steps",
                    "top", [f"{key} was not translated"])

    def _top_mapping(self, key: str, of: str) -> Map | None:
        """The experiment's optional top-level mapping `key` (None when absent, or when it is not a mapping:
        then an error says it should be a mapping of `of`)."""
        node = self.root.get(key)
        if node is None or isinstance(node, Map):
            return node
        self.error(node, f"{key}: expected a mapping of {of}")
        return None

    def _configuration(self) -> None:
        conf = self._top_mapping("configuration", "names to values")
        if conf is None:
            return
        for name, (knode, value) in conf.entries.items():
            if isinstance(value, Scalar):
                self.config[name] = "" if value.value is None else str(value.raw if isinstance(value.value, bool)
                                                                        else value.value)
                self.config_notes.append(f"{name} = {self.config[name]!r} (line {knode.line})")
            elif isinstance(value, Map) and _s(value.get("type")) == "env":
                key = _s(value.get("key"))
                if not key:
                    self.error(value, f"configuration.{name}: an env value needs key: (the variable's name)")
                    continue
                default = value.get("default")
                if key in self.env:
                    self.config[name] = self.env[key]
                    self.config_notes.append(f"{name} = {self.env[key]!r}, read from ${key} at import time "
                                             f"(line {knode.line}): the scenario format has no environment references")
                elif isinstance(default, Scalar) and default.value is not None:
                    self.config[name] = str(default.value)
                    self.config_notes.append(f"{name} = {self.config[name]!r}: ${key} was not set at import time, "
                                             f"so its default (line {knode.line})")
                else:
                    self.error(value, f"configuration.{name}: environment variable {key} is not set and has no "
                               "default; set it when importing (the scenario format has no environment references, "
                               "so it is read once, now)")
            else:
                self.error(value, f"configuration.{name}: expected a value or {{type: env, key: NAME}}, got "
                           f"{value.kind}")

    def _secrets(self) -> None:
        secrets = self._top_mapping("secrets", "scopes to secrets")
        if secrets is None:
            return
        for scope, (_, body) in secrets.entries.items():
            if not isinstance(body, Map):
                self.error(body, f"secrets.{scope}: expected a mapping of secret names")
                continue
            for name, (knode, value) in body.entries.items():
                self.secret_names.add(name)
                src = (f"from ${_s(value.get('key'))}" if isinstance(value, Map) and _s(value.get("type")) == "env"
                       else "from a vault" if isinstance(value, Map) else "written in clear in the experiment")
                self.secret_notes.append(f"{scope}.{name} ({src}, line {knode.line})")

    # -- activities -----------------------------------------------------------------------------------------

    def _activity(self, node: Node, where: str) -> _Act | None:
        if not isinstance(node, Map):
            self.error(node, f"{where}: an activity is a mapping (type, name, provider), got {node.kind}")
            return None
        ref = node.get("ref")
        if ref is not None:
            name = _s(ref)
            if name is None or name not in self.named:
                known = ", ".join(sorted(self.named)) or "none yet"
                self.error(ref, f"{where}: ref {name!r} names no earlier activity (known: {known})")
                return None
            orig = self.named[name]
            return _Act(orig.node, orig.name, orig.kind, orig.provider, where, ref_node=node)
        for key, (knode, _) in node.entries.items():
            if key not in _ACTIVITY_KEYS:
                self.error(knode, f"{where}: {key!r} is not a key of a Chaos Toolkit activity")
        kind = _s(node.get("type"))
        name = _s(node.get("name"))
        if kind not in ("action", "probe"):
            self.error(node.get("type") or node, f"{where}: an activity's type is action or probe, got {kind!r}")
            return None
        if not name:
            self.error(node.get("name") or node, f"{where}: every activity has a name (a string)")
            return None
        provider = node.get("provider")
        if not isinstance(provider, Map):
            self.error(provider or node, f"activity {name!r}: provider: expected a mapping with a type")
            return None
        act = _Act(node, name, kind, provider, where)
        self.named.setdefault(name, act)
        controls = node.get("controls")
        if controls is not None:
            self._top_untranslatable(f"activity {name!r} controls", controls)
        return act

    def _sub(self, act: _Act, node: Node, text: str) -> str:
        """${name} -> the configuration value, as Chaos Toolkit substitutes it; a secret is never copied."""
        def one(m: re.Match[str]) -> str:
            name = m.group(1)
            if name in self.config:
                return self.config[name]
            if name in self.secret_names:
                raise _Untranslatable(node, f"activity {act.name!r}: uses secret {name!r}; secrets are never copied "
                                      "into a scenario (it is copied into every journal): read it from a file in "
                                      "the command itself, e.g. \"$(cat /etc/chaos/token)\"")
            return m.group(0)  # Chaos Toolkit leaves unknown names as written

        return _VAR.sub(one, text)

    def _text(self, act: _Act, node: Node | None, what: str) -> str:
        if not isinstance(node, Scalar) or node.value is None or isinstance(node.value, bool):
            raise _Untranslatable(node or act.node, f"activity {act.name!r}: {what}: expected a string")
        return self._sub(act, node, str(node.raw if isinstance(node.value, str) else node.value))

    def _number(self, act: _Act, node: Node | None, what: str) -> float | None:
        if node is None:
            return None
        if isinstance(node, Scalar) and isinstance(node.value, str):
            raw = self._sub(act, node, node.value)
        elif isinstance(node, Scalar) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            raw = str(node.value)
        else:
            raise _Untranslatable(node, f"activity {act.name!r}: {what}: expected a number of seconds")
        try:
            value = float(raw)
        except ValueError:
            raise _Untranslatable(node, f"activity {act.name!r}: {what}: {raw!r} is not a number of seconds") from None
        if not 0 <= value <= 86400 or value != value:
            raise _Untranslatable(node, f"activity {act.name!r}: {what}: {raw} is not between 0 and 86400 seconds")
        return value

    def _command(self, act: _Act) -> str:
        """A process provider -> the shell line that runs exactly the argv Chaos Toolkit would exec."""
        prov = act.provider
        assert prov is not None
        for key, (knode, _) in prov.entries.items():
            if key not in ("type", "path", "arguments", "timeout"):
                raise _Untranslatable(knode, f"activity {act.name!r}: process provider key {key!r} cannot be "
                                      "translated")
        self.command_target_used = True
        path = self._text(act, prov.get("path"), "provider.path")
        if not path:
            raise _Untranslatable(prov, f"activity {act.name!r}: provider.path is empty")
        args = prov.get("arguments")
        argv: list[str] = [path]
        if isinstance(args, Seq):
            argv += [self._text(act, a, "provider.arguments[]") for a in args.items]
        elif isinstance(args, Scalar) and args.value is not None:
            text = self._text(act, args, "provider.arguments")
            try:
                argv += shlex.split(text)  # what Chaos Toolkit does with a string of arguments
            except ValueError as err:
                raise _Untranslatable(args, f"activity {act.name!r}: provider.arguments: {err}") from None
        elif args is not None:
            raise _Untranslatable(args, f"activity {act.name!r}: provider.arguments of a process provider is a "
                                  "string or a list")
        return sh(*argv)

    def _provider_kind(self, act: _Act) -> str:
        prov = act.provider
        assert prov is not None
        kind = _s(prov.get("type"))
        if kind in ("process", "http"):
            return kind
        if kind == "python":
            module = _s(prov.get("module")) or "?"
            func = _s(prov.get("func")) or "?"
            if module.startswith("chaosprometheus"):
                return "prometheus"
            if module.startswith("chaosk8s"):
                return "chaosk8s"
            if module.startswith(("chaostoxi", "chaostoolkit_toxiproxy")):
                return "toxiproxy"
            raise _Untranslatable(act.at, f"activity {act.name!r}: python provider {module}.{func} cannot be "
                                  "translated; write it as a command fault")
        raise _Untranslatable(prov.get("type") or prov, f"activity {act.name!r}: provider type {kind!r} cannot be "
                              "translated (process, http and chaosprometheus can)")

    # -- probes -> metrics and conditions --------------------------------------------------------------------

    def _metric_name(self, act: _Act) -> str:
        base = _slug(act.name, lower=False).replace("-", "_")
        name, n = base, 2
        while name in self.metric_names:
            name, n = f"{base}_{n}", n + 1
        self.metric_names.add(name)
        return name

    def _probe(self, act: _Act, *, in_hypothesis: bool) -> None:
        section = "metrics"
        try:
            kind = self._provider_kind(act)
            tol = act.node.get("tolerance")
            if in_hypothesis and tol is None:
                raise _Untranslatable(act.at, f"activity {act.name!r}: a steady-state probe needs a tolerance")
            origin = f"from {act.where} probe {act.name!r} ({self.loc(act.at)})"
            if kind == "http":
                flow, conds, notes = self._http_probe(act, tol if in_hypothesis else None)
            elif kind == "process":
                flow, conds, notes = self._process_probe(act, tol if in_hypothesis else None)
            elif kind == "chaosk8s":
                self._k8s_probe(act, tol if in_hypothesis else None, origin)
                return
            elif kind == "toxiproxy":
                raise _Untranslatable(act.at, f"activity {act.name!r}: toxiproxy probe {self._func(act)} cannot be "
                                      "translated: the room checks its own toxics in pre-flight and verify")
            else:
                flow, conds, notes = self._prometheus_probe(act, tol if in_hypothesis else None)
        except _Untranslatable as err:
            self.cannot(err.node, err.message, section, [f"metric for probe {act.name} was not translated"])
            return
        if not in_hypothesis:
            notes.append("a method probe: Chaos Toolkit reads it once; the room samples it all along (no condition)")
        name = self._metric_name(act)
        self.metrics.append((name, [origin, *notes], flow))
        self.conditions += [c.replace("NAME", name) for c in conds]

    def _http_probe(self, act: _Act, tol: Node | None) -> tuple[str, list[str], list[str]]:
        prov = act.provider
        assert prov is not None
        notes: list[str] = []
        for key, (knode, value) in prov.entries.items():
            if key in ("type", "url", "timeout"):
                continue
            if key == "method":
                method = self._text(act, value, "provider.method").upper()
                if method != "GET":
                    raise _Untranslatable(value, f"activity {act.name!r}: http method {method} cannot be "
                                          "translated: the built-in prober sends GET only")
            elif key == "headers":
                raise _Untranslatable(knode, f"activity {act.name!r}: http headers cannot be translated: the "
                                      "built-in prober sends none; probe an endpoint that needs no header")
            elif key == "verify_tls":
                notes.append(f"verify_tls: {value.raw if isinstance(value, Scalar) else '?'} dropped: the prober "
                             "always verifies certificates")
            else:
                raise _Untranslatable(knode, f"activity {act.name!r}: http provider key {key!r} cannot be "
                                      "translated: the built-in prober sends a plain GET")
        url = self._text(act, prov.get("url"), "provider.url")
        # validation's own URL rule, so a bad URL is a line about the experiment (and a password is never repeated)
        problem = check_url(url, "url")
        if problem:
            raise _Untranslatable(prov.get("url") or prov, f"activity {act.name!r}: {problem}")
        timeout = self._timeout(act, prov.get("timeout"))
        flow = "{probe: " + _y(url) + (f", timeout: {_dur(timeout)}" if timeout else "") + "}"
        conds: list[str] = []
        if tol is not None:
            statuses = self._statuses(act, tol)
            if not statuses <= set(range(200, 300)):
                bad = sorted(statuses - set(range(200, 300)))
                raise _Untranslatable(tol, f"activity {act.name!r}: the tolerance accepts status {bad[0]}; the "
                                      "built-in prober counts only 2xx answers as success")
            if statuses != set(range(200, 300)):
                notes.append(f"tolerance {_c(self._raw(tol), 60)}: the prober counts every 2xx as success")
            conds.append("NAME.success_rate >= 100%")
            notes.append("Chaos Toolkit checks one request; the room checks every request in the steady-state "
                         "window (relax to e.g. >= 99% if the service drops the odd one)")
        return flow, conds, notes

    def _raw(self, node: Node) -> str:
        if isinstance(node, Scalar):
            return node.raw
        if isinstance(node, Seq):
            return "[" + ", ".join(self._raw(i) for i in node.items) + "]"
        assert isinstance(node, Map)
        return "{" + ", ".join(f"{k}: {self._raw(v)}" for k, (_, v) in node.entries.items()) + "}"

    def _int(self, node: Node) -> int | None:
        if isinstance(node, Scalar) and isinstance(node.value, int) and not isinstance(node.value, bool):
            return node.value
        return None

    def _statuses(self, act: _Act, tol: Node) -> set[int]:
        if self._int(tol) is not None:
            return {self._int(tol)}  # type: ignore[arg-type]
        if isinstance(tol, Seq) and tol.items and all(self._int(i) is not None for i in tol.items):
            return {self._int(i) for i in tol.items}  # type: ignore[misc]
        if isinstance(tol, Map) and _s(tol.get("type")) == "range":
            rng = tol.get("range")
            target = _s(tol.get("target")) or "status"
            if (isinstance(rng, Seq) and len(rng.items) == 2 and target == "status"
                    and all(self._int(i) is not None for i in rng.items)):
                lo, hi = (self._int(i) for i in rng.items)
                assert lo is not None and hi is not None
                if lo <= hi and hi - lo < 1000:
                    return set(range(lo, hi + 1))
        raise _Untranslatable(tol, f"activity {act.name!r}: tolerance {_c(self._raw(tol), 80)} cannot be translated "
                              "for an http probe (a status code, a list of them, or {type: range, range: [LO, HI]})")

    def _timeout(self, act: _Act, node: Node | None) -> float | None:
        if isinstance(node, Seq):  # (connect, read): an attempt never takes longer than both together
            parts = [self._number(act, i, "provider.timeout") or 0.0 for i in node.items]
            value: float | None = sum(parts)
        else:
            value = self._number(act, node, "provider.timeout")
        if value is None:
            return None
        if value <= 0:
            raise _Untranslatable(node or act.node, f"activity {act.name!r}: provider.timeout must be positive")
        return min(value, 3600.0)

    def _process_probe(self, act: _Act, tol: Node | None) -> tuple[str, list[str], list[str]]:
        cmd = self._command(act)
        notes: list[str] = []
        if tol is None or self._int(tol) is not None:
            code = 0 if tol is None else self._int(tol)
            if code == 0:
                shell = f"if {cmd} >/dev/null 2>&1; then echo 1; else echo 0; fi"
            else:
                shell = f"{cmd} >/dev/null 2>&1; if [ $? -eq {code} ]; then echo 1; else echo 0; fi"
            notes.append(f"1 when the command exits {code}, else 0")
        elif isinstance(tol, Map) and _s(tol.get("type")) == "regex":
            pattern = _s(tol.get("pattern"))
            target = _s(tol.get("target")) or "stdout"
            if pattern is None or target not in ("stdout", "stderr"):
                raise _Untranslatable(tol, f"activity {act.name!r}: a regex tolerance needs pattern: and a target "
                                      "of stdout or stderr")
            if re.search(r"\\[A-Za-z0-9]|\(\?", pattern):
                raise _Untranslatable(tol.get("pattern") or tol, f"activity {act.name!r}: regex {pattern!r} uses "
                                      "Python-only syntax (\\d, \\w, (?...)); write it as a POSIX extended regex "
                                      "([0-9], [[:alnum:]_]) in the experiment")
            out = "2>/dev/null" if target == "stdout" else "2>&1 >/dev/null"
            shell = f"if {cmd} {out} | grep -Eq -- {q(pattern)}; then echo 1; else echo 0; fi"
            notes.append(f"1 when {target} matches the regex (grep -E, line by line), else 0")
        else:
            raise _Untranslatable(tol, f"activity {act.name!r}: tolerance {_c(self._raw(tol), 80)} cannot be "
                                  "translated for a process probe (an exit code, or {type: regex, pattern: ...})")
        timeout = self._timeout(act, act.provider.get("timeout") if act.provider else None)
        flow = ("{command: " + _y(shell) + ", on: " + self.target_name
                + (f", timeout: {_dur(timeout)}" if timeout else "") + "}")
        return flow, ["NAME == 1"] if tol is not None else [], notes

    def _prometheus_probe(self, act: _Act, tol: Node | None) -> tuple[str, list[str], list[str]]:
        prov = act.provider
        assert prov is not None
        func = _s(prov.get("func"))
        if func != "query":
            raise _Untranslatable(act.at, f"activity {act.name!r}: chaosprometheus {func} cannot be translated: "
                                  "the room reads instant queries (query) only")
        args = prov.get("arguments")
        query_node = args.get("query") if isinstance(args, Map) else None
        query = self._text(act, query_node, "provider.arguments.query")
        if isinstance(args, Map):
            for key, (knode, _) in args.entries.items():
                if key not in ("query", "when"):
                    raise _Untranslatable(knode, f"activity {act.name!r}: chaosprometheus argument {key!r} cannot "
                                          "be translated")
        url = self.config.get("prometheus_base_url")
        if not url:
            raise _Untranslatable(act.at, f"activity {act.name!r}: chaosprometheus reads configuration "
                                  "prometheus_base_url, which the experiment does not set")
        problem = check_url(url, "configuration prometheus_base_url")
        if problem:
            raise _Untranslatable(act.at, f"activity {act.name!r}: {problem}")
        self.prometheus_url = url
        conds: list[str] = []
        notes = ["the query must return one number (the room takes the first series' value)"]
        if tol is not None:
            if isinstance(tol, Map) and _s(tol.get("type")) == "range":
                rng = tol.get("range")
                nums = [i.value for i in rng.items if isinstance(i, Scalar) and isinstance(i.value, (int, float))
                        and not isinstance(i.value, bool)] if isinstance(rng, Seq) else []
                if len(nums) != 2 or nums[0] > nums[1]:
                    raise _Untranslatable(tol, f"activity {act.name!r}: a range tolerance is range: [LOW, HIGH]")
                conds += [f"NAME >= {nums[0]}", f"NAME <= {nums[1]}"]
            elif (isinstance(tol, Map) and _s(tol.get("type")) == "jsonpath" and isinstance(tol.get("expect"), Scalar)
                  and isinstance(tol.get("expect").value, (int, float))  # type: ignore[union-attr]
                  and not isinstance(tol.get("expect").value, bool)):  # type: ignore[union-attr]
                conds.append(f"NAME == {tol.get('expect').value}")  # type: ignore[union-attr]
                notes.append(f"jsonpath {_c(_s(tol.get('path')) or '?', 60)} read as the query's value")
            else:
                raise _Untranslatable(tol, f"activity {act.name!r}: tolerance {_c(self._raw(tol), 80)} cannot be "
                                      "translated for a Prometheus query (a range, or a jsonpath with a numeric "
                                      "expect)")
        return "{promql: " + _y(query) + "}", conds, notes

    # -- actions -> steps -----------------------------------------------------------------------------------

    @property
    def target_name(self) -> str:
        return "local" if self.mapping.target.get("local") is True else "host"

    def _pauses(self, act: _Act) -> tuple[float, float]:
        pauses = act.node.get("pauses")
        if pauses is None:
            return 0.0, 0.0
        if not isinstance(pauses, Map):
            raise _Untranslatable(pauses, f"activity {act.name!r}: pauses: expected {{before: S, after: S}}")
        for key, (knode, _) in pauses.entries.items():
            if key not in ("before", "after"):
                raise _Untranslatable(knode, f"activity {act.name!r}: pauses.{key} is not before or after")
        return (self._number(act, pauses.get("before"), "pauses.before") or 0.0,
                self._number(act, pauses.get("after"), "pauses.after") or 0.0)

    def _action(self, act: _Act) -> _Step | None:
        try:
            kind = self._provider_kind(act)
            if kind == "chaosk8s":
                return self._k8s_action(act)
            if kind == "toxiproxy":
                return self._toxi_action(act)
            if kind != "process":
                raise _Untranslatable(act.at, f"activity {act.name!r}: an {kind} action cannot be translated: the "
                                      "room runs a command as a fault (inject, revert, verify); write it as one")
            cmd = self._command(act)
            before, after = self._pauses(act)
        except _Untranslatable as err:
            self.cannot(err.node, err.message, "steps", [f"- id: {_slug(act.name)}  # action {act.name}"])
            return None
        step = _Step([act], [cmd], before, after)
        bg = act.node.get("background")
        if isinstance(bg, Scalar) and bg.value is True:
            step.notes.append("background: true in the experiment: Chaos Toolkit went on while it ran; here the "
                              "step waits for it")
        if act.provider is not None and act.provider.get("timeout") is not None:
            step.notes.append("provider.timeout dropped: the room bounds every inject itself (15s)")
        return step

    # -- extension providers: chaosk8s and chaostoolkit-toxiproxy -> the room's own faults ----------------------

    def _func(self, act: _Act) -> str:
        prov = act.provider
        assert prov is not None
        return f"{_s(prov.get('module')) or '?'}.{_s(prov.get('func')) or '?'}"

    def _args(self, act: _Act, allowed: set[str]) -> dict[str, Node]:
        """provider.arguments as located nodes; an argument the translation does not know is refused, not dropped."""
        prov = act.provider
        assert prov is not None
        for key, (knode, _) in prov.entries.items():
            if key not in ("type", "module", "func", "arguments", "secrets"):
                raise _Untranslatable(knode, f"activity {act.name!r}: python provider key {key!r} cannot be translated")
        args = prov.get("arguments")
        if args is None:
            return {}
        if not isinstance(args, Map):
            raise _Untranslatable(args, f"activity {act.name!r}: provider.arguments: expected a mapping")
        for key, (knode, _) in args.entries.items():
            if key not in allowed:
                raise _Untranslatable(knode, f"activity {act.name!r}: argument {key!r} of {self._func(act)} cannot "
                                      "be translated")
        return {k: v for k, (_, v) in args.entries.items()}

    def _arg_text(self, act: _Act, args: dict[str, Node], key: str, default: str | None = None) -> str | None:
        node = args.get(key)
        if node is None or (isinstance(node, Scalar) and node.value is None):
            return default
        return self._text(act, node, f"arguments.{key}")

    def _arg_int(self, act: _Act, args: dict[str, Node], key: str, default: int | None = None) -> int | None:
        node = args.get(key)
        if node is None or (isinstance(node, Scalar) and node.value is None):
            return default
        raw = self._text(act, node, f"arguments.{key}")
        try:
            value = int(raw)
        except ValueError:
            raise _Untranslatable(node, f"activity {act.name!r}: arguments.{key}: {raw!r} is not a whole number") \
                from None
        if value < -1 or value > 10**9:
            raise _Untranslatable(node, f"activity {act.name!r}: arguments.{key}: {value} is out of range")
        return value

    def _label_selector(self, act: _Act, args: dict[str, Node], missing: str) -> str:
        """The activity's label_selector as a kubernetes target takes it (key=value terms); refused when it is
        missing (`missing` says why the activity needs one) or set-based."""
        selector = self._arg_text(act, args, "label_selector")
        if not selector:
            raise _Untranslatable(args.get("label_selector") or act.at, f"activity {act.name!r}: {missing}")
        problem = check_selector(selector)
        if problem:
            raise _Untranslatable(args["label_selector"], f"activity {act.name!r}: {problem} (set-based selectors "
                                  "cannot be translated)")
        return selector

    def _arg_bool(self, act: _Act, args: dict[str, Node], key: str) -> bool:
        node = args.get(key)
        if node is None or (isinstance(node, Scalar) and node.value is None):
            return False
        if isinstance(node, Scalar) and isinstance(node.value, bool):
            return node.value
        raw = self._text(act, node, f"arguments.{key}").lower()
        if raw in ("true", "false"):
            return raw == "true"
        raise _Untranslatable(node, f"activity {act.name!r}: arguments.{key}: expected true or false")

    def _add_target(self, base: str, flow: str, comment: str) -> str:
        """A target for an extension fault, one per distinct description (its name derived, made unique)."""
        for name, (f, _) in self.extra_targets.items():
            if f == flow:
                return name
        name, n = base, 2
        while name in self.extra_targets or name in ("local", "host"):
            name, n = f"{base}-{n}", n + 1
        self.extra_targets[name] = (flow, comment)
        return name

    def _fault_step(self, act: _Act, fault: str, notes: list[str]) -> _Step:
        before, after = self._pauses(act)
        step = _Step([act], [], before, after, notes=notes, fault=fault)
        bg = act.node.get("background")
        if isinstance(bg, Scalar) and bg.value is True:
            step.notes.append("background: true in the experiment: here the step waits for the fault")
        return step

    def _k8s_action(self, act: _Act) -> _Step:
        """chaosk8s terminate_pods -> a pod-kill on a kubernetes target; every other chaosk8s action is refused.

        Safe because pod-kill needs no revert (nothing stays injected) and the room verifies it by the selector
        having its ready pods back; the count of pods killed is Chaos Toolkit's own (all / qty / percentage,
        rounded up as both round it). What has no faithful equivalent is refused with its line, never guessed.
        """
        func = _s(act.provider.get("func") if act.provider else None) or "?"
        if func != "terminate_pods":
            raise _Untranslatable(act.at, f"activity {act.name!r}: chaosk8s {self._func(act)} cannot be translated: "
                                  "the room has no Kubernetes fault it can revert and verify for it (pod-kill, "
                                  "chaos-*, litmus-pod-delete: docs/kubernetes.md); write it as a command fault "
                                  "with its own revert and verify")
        args = self._args(act, {"label_selector", "name_pattern", "all", "rand", "mode", "qty", "grace_period", "ns",
                                "order"})
        if args.get("name_pattern") is not None and not (isinstance(args["name_pattern"], Scalar)
                                                         and args["name_pattern"].value is None):
            raise _Untranslatable(args["name_pattern"], f"activity {act.name!r}: name_pattern cannot be translated: "
                                  "a kubernetes target chooses pods by label selector only; put the pods' label in "
                                  "label_selector instead")
        selector = self._label_selector(act, args, "terminate_pods without label_selector picks from every pod in "
                                        "the namespace; a kubernetes target needs a label selector: add one to the "
                                        "experiment")
        ns = self._arg_text(act, args, "ns", "default") or "default"
        self._kube_context(act)  # refused before anything else is said about it
        notes: list[str] = []
        if self._arg_bool(act, args, "all"):
            mode, value = "all", None
            for key in ("qty", "mode", "rand"):
                if key in args:
                    notes.append(f"{key} is ignored with all: true, by Chaos Toolkit too")
        else:
            order = self._arg_text(act, args, "order", "alphabetic")
            if order != "alphabetic":
                raise _Untranslatable(args["order"], f"activity {act.name!r}: order {order!r} cannot be translated: "
                                      "the room chooses pods at random, never by age")
            kind = self._arg_text(act, args, "mode", "fixed")
            qty = self._arg_int(act, args, "qty", 1)
            assert qty is not None
            if kind == "fixed":
                if qty < 1:
                    raise _Untranslatable(args.get("qty") or act.at, f"activity {act.name!r}: qty {qty} kills no pod")
                mode, value = ("one", None) if qty == 1 else ("fixed", f"{qty}")
            elif kind == "percentage":
                if not 1 <= qty <= 100:
                    raise _Untranslatable(args.get("qty") or act.at, f"activity {act.name!r}: qty {qty} is not a "
                                          "percentage between 1 and 100")
                mode, value = ("all", None) if qty == 100 else ("fixed-percent", f"{qty}%")
            else:
                raise _Untranslatable(args.get("mode") or act.at, f"activity {act.name!r}: mode {kind!r} cannot be "
                                      "translated (fixed or percentage)")
            if not self._arg_bool(act, args, "rand"):
                notes.append("rand: false: Chaos Toolkit kills the first pods by name, the room random ones (the "
                             "same number); for a Deployment's pods, whose names end in random letters, either is "
                             "an arbitrary pick")
        grace = self._arg_int(act, args, "grace_period", -1)
        if "secrets" in (act.provider.entries if act.provider else {}):
            notes.append("provider secrets not used: the room reaches the cluster through the kubeconfig context")
        extra = {"mode": mode} if value is None else {"mode": mode, "value": value}
        name = self._kube_target(act, ns, selector, extra, f"{ns}-{selector}")
        fault = "{type: pod-kill, target: " + name + ("" if grace is None or grace < 0 else f", grace_period: {grace}")
        notes.append("pod-kill: nothing to revert; the room verifies the selector has its ready pods back")
        return self._fault_step(act, fault + "}", notes)

    def _kube_context(self, act: _Act) -> str:
        context = self.mapping.kubernetes.get("context")
        if not context:
            raise _Untranslatable(act.at, f"activity {act.name!r}: chaosk8s acts on whatever kubeconfig context is "
                                  "current when it runs, which the import does not guess: name the cluster with "
                                  "--kube-context NAME or kubernetes: {context: NAME} in the mapping file (-m)")
        return context

    def _kube_target(self, act: _Act, ns: str, selector: str, extra: dict[str, str], base: str) -> str:
        target = {"context": self._kube_context(act), "namespace": ns, "selector": selector, **extra}
        if self.mapping.kubernetes.get("kubeconfig"):
            target["kubeconfig"] = self.mapping.kubernetes["kubeconfig"]
        flow = "{kubernetes: {" + ", ".join(f"{k}: {_y(v)}" for k, v in target.items()) + "}}"
        return self._add_target(_slug(base), flow, f"from {self.loc(act.at)}: ns, label_selector"
                                + (" and the count" if "mode" in extra and extra["mode"] != "all" else "")
                                + f"; context from {self.mapping.kubernetes.get('context_from', 'the mapping')}")

    def _k8s_probe(self, act: _Act, tol: Node | None, origin: str) -> None:
        """pods_in_phase -> two kubernetes metrics: the selector's pods (at least one, as chaosk8s fails on none) and
        those of them NOT in the phase (a field selector; none may be): exactly what the probe checks, sampled."""
        func = _s(act.provider.get("func") if act.provider else None) or "?"
        if func != "pods_in_phase":
            why = ("it compares a Deployment's available and desired replicas, found by the Deployment's own labels, "
                   "which the room's pod metrics do not see" if func == "microservice_available_and_healthy"
                   else "the room's kubernetes metric counts pods (ready_ratio, ready, pods, restarts) only")
            raise _Untranslatable(act.at, f"activity {act.name!r}: chaosk8s probe {self._func(act)} cannot be "
                                  f"translated: {why}; observe the pods with {{kubernetes: TARGET}} and require "
                                  "NAME.ready_ratio >= 1 instead")
        args = self._args(act, {"label_selector", "phase", "ns"})
        selector = self._label_selector(act, args, "pods_in_phase needs label_selector")
        phase = self._arg_text(act, args, "phase", "Running") or "Running"
        if phase not in ("Pending", "Running", "Succeeded", "Failed", "Unknown"):
            raise _Untranslatable(args["phase"], f"activity {act.name!r}: phase {phase!r} is not a pod phase")
        if tol is not None and not (isinstance(tol, Scalar) and tol.value is True):
            raise _Untranslatable(tol, f"activity {act.name!r}: pods_in_phase answers true or fails: its tolerance "
                                  "is true")
        ns = self._arg_text(act, args, "ns", "default") or "default"
        every = self._kube_target(act, ns, selector, {"mode": "all"}, f"{ns}-{selector}-pods")
        off = self._kube_target(act, ns, selector, {"mode": "all", "field_selector": f"status.phase!={phase}"},
                                f"{ns}-{selector}-not-{phase}")
        base = self._metric_name(act)
        outside = self._metric_name(_Act(act.node, f"{act.name}_not_{phase.lower()}", act.kind, act.provider, act.where))
        self.metrics.append((base, [origin, f"the pods matching {selector} in {ns}: chaosk8s fails when there are "
                                    "none"], "{kubernetes: " + every + "}"))
        self.metrics.append((outside, [origin, f"those of them not in phase {phase}: chaosk8s fails on any"],
                             "{kubernetes: " + off + "}"))
        if tol is not None:
            self.conditions += [f"{base}.pods >= 1", f"{outside}.pods == 0"]

    # chaostoxi function -> (room fault, {argument: (room parameter, unit)}); units: ms, KB/s, us, bytes.
    # Checked against chaostoolkit-toxiproxy's chaostoxi/toxic/actions.py (its signatures and attribute names).
    _TOXICS: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
        "create_latency_toxic": ("toxiproxy-latency", {"latency": ("latency", "ms"), "jitter": ("jitter", "ms")}),
        "create_bandwith_degradation_toxic": ("toxiproxy-bandwidth", {"rate": ("rate", "KB/s")}),
        "create_bandwidth_degradation_toxic": ("toxiproxy-bandwidth", {"rate": ("rate", "KB/s")}),
        "create_slow_connection_close_toxic": ("toxiproxy-slow-close", {"delay": ("delay", "ms")}),
        "create_timeout_toxic": ("toxiproxy-timeout", {"timeout": ("timeout", "ms")}),
        "create_slicer_toxic": ("toxiproxy-slicer", {"average_size": ("average_size", "bytes"),
                                                     "size_variation": ("size_variation", "bytes"),
                                                     "delay": ("delay", "us")}),
        # chaostoxi's argument is `bytes_limit` (it sends it as the toxic's `bytes` attribute).
        "create_limiter_toxic": ("toxiproxy-limit-data", {"bytes_limit": ("bytes", "bytes")}),
    }

    def _toxi_target(self, act: _Act, proxy: str) -> str:
        """The toxiproxy target: api from configuration toxiproxy_host/_port (as chaostoxi reads them), the leash's
        ssh host from the mapping. With no ssh the fault would have no leash: refused unless --allow-unleashed."""
        host = self.config.get("toxiproxy_host")
        if not host:
            raise _Untranslatable(act.at, f"activity {act.name!r}: chaostoxi reads configuration toxiproxy_host, "
                                  "which the experiment does not set")
        port = self.config.get("toxiproxy_port") or "8474"
        api = f"http://{host}:{port}"
        problem = check_url(api, "configuration toxiproxy_host/toxiproxy_port")
        if problem:
            raise _Untranslatable(act.at, f"activity {act.name!r}: {problem}")
        leash = {k: v for k, v in self.mapping.toxiproxy.items() if k != "api"}
        if "ssh" not in leash:
            if not self.mapping.allow_unleashed:
                raise _Untranslatable(act.at, f"activity {act.name!r}: a Toxiproxy fault with no leash (Toxiproxy has "
                                      "no TTL: a toxic outlives a dead room): name the Toxiproxy host's ssh in the mapping file, "
                                      "toxiproxy: {ssh: USER@HOST}, where the room arms its guard; or accept no "
                                      "leash with --allow-unleashed")
            self.unleashed = True
        body = {"api": api, "proxies": [proxy], **leash}
        flow = "{toxiproxy: {" + ", ".join(
            f"{k}: " + ("[" + ", ".join(_y(str(x)) for x in v) + "]" if isinstance(v, list)
                        else str(v).lower() if isinstance(v, bool) else _y(str(v)))
            for k, v in body.items()) + "}}"
        return self._add_target(_slug("proxy-" + proxy), flow,
                                "api from configuration toxiproxy_host/toxiproxy_port, proxy from the arguments"
                                + ("; ssh (the leash) from the mapping" if "ssh" in leash else
                                   "; NO LEASH: allowed by --allow-unleashed at import"))

    def _toxi_action(self, act: _Act) -> _Step:
        """A chaostoxi toxic (or disable_proxy) -> the room's toxiproxy-* fault, whose revert and verify are built in.

        Chaos Toolkit's toxic is downstream at toxicity 1.0, the room's defaults; the experiment's toxic name is not
        kept (the room names its toxics per session, so a revert removes only its own)."""
        func = _s(act.provider.get("func") if act.provider else None) or "?"
        notes: list[str] = []
        if func == "disable_proxy":
            args = self._args(act, {"proxy_name"})
            proxy = self._arg_text(act, args, "proxy_name")
            if not proxy:
                raise _Untranslatable(act.at, f"activity {act.name!r}: disable_proxy needs proxy_name")
            target = self._toxi_target(act, proxy)
            self.downs.add(proxy)
            notes.append("toxiproxy-down: the room re-enables the proxy and verifies it (its enable_proxy rollback "
                         "is absorbed)")
            return self._fault_step(act, "{type: toxiproxy-down, target: " + target + "}", notes)
        if func not in self._TOXICS:
            raise _Untranslatable(act.at, f"activity {act.name!r}: chaostoxi {self._func(act)} cannot be translated: "
                                  "the room's Toxiproxy faults are latency, bandwidth, slow close, timeout, reset "
                                  "peer, slicer, limit data and a disabled proxy (docs/toxiproxy-and-gremlin.md)")
        fault_type, params = self._TOXICS[func]
        args = self._args(act, {"for_proxy", "toxic_name", *params})
        proxy = self._arg_text(act, args, "for_proxy")
        if not proxy:
            raise _Untranslatable(act.at, f"activity {act.name!r}: {func} needs for_proxy")
        parts = [f"type: {fault_type}", f"target: {self._toxi_target(act, proxy)}"]
        for arg_name, (param, unit) in params.items():
            value = self._arg_int(act, args, arg_name)
            if value is None:
                if arg_name in ("jitter", "size_variation"):
                    continue  # chaostoxi's default 0 is the room's default too
                raise _Untranslatable(act.at, f"activity {act.name!r}: {func} needs {arg_name}")
            if value < 0:
                raise _Untranslatable(args[arg_name], f"activity {act.name!r}: {arg_name} {value} is negative")
            text = (f"{value}ms" if unit == "ms" else f"{value * 8}kbit" if unit == "KB/s"
                    else f"{value / 1000:.3f}".rstrip("0").rstrip(".") + "ms" if unit == "us" else str(value))
            parts.append(f"{param}: {_y(text) if unit != 'bytes' else text}")
        toxic = self._arg_text(act, args, "toxic_name") or ""
        self.toxics.add((proxy, toxic))
        notes.append(f"toxic {toxic!r} on proxy {proxy!r}: the room names its own toxic and deletes it as the "
                     "revert, verified gone (a delete_toxic rollback is absorbed)")
        return self._fault_step(act, "{" + ", ".join(parts) + "}", notes)

    def _toxi_absorbed(self, act: _Act) -> bool:
        """A rollback that deletes a translated toxic or enables a translated disabled proxy: the room's own revert
        does exactly that (and verifies it), so it is not run twice; a comment says so."""
        func = _s(act.provider.get("func") if act.provider else None)
        args = act.provider.get("arguments") if act.provider else None

        def get(key: str) -> str | None:
            node = args.get(key) if isinstance(args, Map) else None
            text = _s(node)
            return None if text is None or node is None else self._sub(act, node, text)

        if func == "delete_toxic" and (get("for_proxy"), get("toxic_name")) in self.toxics:
            self.absorbed.append(f"rollback {act.name!r} ({self.loc(act.at)}) deletes toxic {get('toxic_name')!r}: "
                                 "absorbed, the room's toxiproxy fault deletes its toxic and verifies it is gone")
            return True
        if func == "enable_proxy" and get("proxy_name") in self.downs:
            self.absorbed.append(f"rollback {act.name!r} ({self.loc(act.at)}) enables proxy {get('proxy_name')!r}: "
                                 "absorbed, the room's toxiproxy-down re-enables it and verifies it")
            return True
        if func in ("delete_toxic", "enable_proxy"):
            raise _Untranslatable(act.at, f"activity {act.name!r}: {func} undoes no translated action (the room "
                                  "reverts only the faults it injected, each by itself)")
        return False

    def _rollback(self, act: _Act) -> str | None:
        try:
            kind = self._provider_kind(act)
            if kind == "toxiproxy" and self._toxi_absorbed(act):
                return None
            if kind != "process":
                raise _Untranslatable(act.at, f"activity {act.name!r}: an {kind} rollback cannot be translated: a "
                                      "revert is a shell command")
            return self._command(act)
        except _Untranslatable as err:
            self.cannot(err.node, err.message, "steps", [f"rollback {act.name} was not translated"])
            return None

    def _attach(self, steps: list[_Step], rollbacks: list[tuple[_Act, str]]) -> list[_Step]:
        """Rollbacks -> the revert of the step they undo.

        Chaos Toolkit does not say which action a rollback undoes; it runs every rollback after the whole method.
        A rollback is attached to one step when that is certain: the mapping file's `undoes:` names the action,
        or the method has one action. The rest, with the actions that got no rollback, become one final step
        that runs those actions in order and reverts with those rollbacks — what Chaos Toolkit does.
        """
        if any(st.fault for st in steps):
            # An extension's fault reverts itself: rollbacks attach to command steps only; order is kept, and the
            # final step of leftovers (if any) comes last, as it did.
            commands = self._attach([st for st in steps if not st.fault], rollbacks)
            return [st for st in steps if st.fault or any(st is c for c in commands)] + [
                c for c in commands if not any(c is st for st in steps)]
        by_name: dict[str, list[_Step]] = {}
        for st in steps:
            by_name.setdefault(st.acts[0].name, []).append(st)
        loose: list[tuple[_Act, str]] = []
        for act, cmd in rollbacks:
            undone = self.mapping.undoes.get(act.name)
            if undone is not None and undone in self.fault_actions:
                continue  # a mapping error, reported by _check_mapping
            if undone is not None and undone not in by_name:
                # the action it undoes was not translated: never attach it to some other step instead
                self.cannot(act.at, f"activity {act.name!r}: the rollback of {undone!r}, which was not translated",
                            "steps", [f"rollback {act.name} was not translated"])
            elif undone is not None:
                # Every step that runs the action gets it (a `ref` may repeat the action), once per step (a `ref`
                # may repeat the rollback too: Chaos Toolkit runs it twice at the end, the room once per undo).
                for st in by_name[undone]:
                    if all(a.name != act.name for a, _ in st.rollbacks):
                        st.rollbacks.append((act, cmd))
            elif len(steps) == 1:
                steps[0].rollbacks.append((act, cmd))
            else:
                loose.append((act, cmd))
        if not loose:
            return steps
        if not steps:
            for act, _ in loose:
                self.cannot(act.at, f"activity {act.name!r}: a rollback with no translated action to undo: the room "
                            "runs a revert only for the fault it undoes", "steps",
                            [f"rollback {act.name} was not translated"])
            return steps
        kept = [st for st in steps if st.rollbacks]
        bare = [st for st in steps if not st.rollbacks]
        if not bare:
            kept[-1].rollbacks += loose
            kept[-1].notes.append("rollbacks " + ", ".join(repr(a.name) for a, _ in loose) + " undo nothing the "
                                  "import can tell; they run with this last step's revert")
            return kept
        final = _Step([a for st in bare for a in st.acts], [c for st in bare for c in st.commands],
                      bare[0].before, sum(st.after for st in bare), loose)
        final.notes.append("the rollbacks could not each be attached to one action (say which one undoes which in "
                           "the mapping file, undoes:), so these actions run as one last step reverted by those "
                           "rollbacks, as Chaos Toolkit runs every rollback after the method")
        if len(bare) > 1 and any(st.before or st.after for st in bare[1:]):
            final.notes.append("pauses between these actions are not kept; their total is the step's duration")
        return [*kept, final]

    # -- writing ----------------------------------------------------------------------------------------------

    def _new_id(self, base: str) -> str:
        """`base`, else `base-2`, `base-3`, ...: the first step id not taken yet, taken now."""
        sid, n = base, 2
        while sid in self.ids:
            sid, n = f"{base}-{n}", n + 1
        self.ids.add(sid)
        return sid

    def _pause_before(self, sid: str, act: _Act, seconds: float) -> list[str]:
        """The step that waits out an activity's pauses.before ahead of its own step `sid` (none for 0 s)."""
        if not seconds:
            return []
        return [f"  # pauses.before of {act.name!r} ({self.loc(act.at)})", f"  - id: {self._new_id(f'{sid}-pause')}",
                f"    title: {_y('pause before ' + act.name)}", f"    duration: {_dur(seconds)}", "    confirm: false"]

    def _fault_lines(self, st: _Step) -> list[str]:
        act = st.acts[0]
        sid = self._new_id(_slug(act.name))
        out = self._pause_before(sid, act, st.before)
        out.append(f"  # from {act.where} {act.name!r} ({self.loc(act.at)}): {self._func(act)}")
        out += [f"  # {_c(n)}" for n in st.notes]
        pod_kill = "type: pod-kill" in st.fault
        if not st.after and not pod_kill:
            out.append(f"  # no pauses.after: held for {_dur(DEFAULT_HOLD)} (Chaos Toolkit went straight on; the "
                       "room needs a duration)")
        out += [f"  - id: {sid}", f"    title: {_y(act.name)}", f"    brief: {_y('Chaos Toolkit action ' + act.name)}",
                f"    fault: {st.fault}"]
        if st.after or not pod_kill:
            out.append(f"    duration: {_dur(st.after or DEFAULT_HOLD)}")
        return out

    def _step_lines(self, st: _Step) -> list[str] | None:
        if st.fault:
            return self._fault_lines(st)
        act = st.acts[0]
        names = [a.name for a in st.acts]
        problems: list[_Untranslatable] = []
        if not st.rollbacks:
            for a in st.acts:
                problems.append(_Untranslatable(a.at, f"activity {a.name!r}: has no rollback; the room runs a "
                                                "command only as a fault it can revert: add the rollback that undoes "
                                                "it to the experiment"))
        verifies = []
        for a in st.acts:
            check = self.mapping.verify.get(a.name)
            if check is None:
                problems.append(_Untranslatable(a.at, f"activity {a.name!r}: Chaos Toolkit has no check that an "
                                                "action's effect is gone, and the room verifies every revert: give "
                                                f"one in a mapping file (-m FILE): verify: {{{a.name}: COMMAND}}"))
            else:
                verifies.append(check)
        sid = self._new_id(_slug(act.name) if len(st.acts) == 1 else "method")
        inject = st.commands[0] if len(st.commands) == 1 else "set -e\n" + "\n".join(st.commands)
        revert = ("TODO" if not st.rollbacks else st.rollbacks[0][1] if len(st.rollbacks) == 1
                  else "rc=0\n" + "\n".join(f"{c} || rc=1" for _, c in st.rollbacks) + "\nexit $rc")
        verify = verifies[0] if len(verifies) == 1 else "set -e\n" + "\n".join(verifies)
        hold = st.after or DEFAULT_HOLD
        title = names[0] if len(names) == 1 else "method: " + ", ".join(names)
        out = self._pause_before(sid, act, st.before)
        origin = ", ".join(f"{a.where} {a.name!r} ({self.loc(a.at)})" for a in st.acts)
        out.append(f"  # from {_c(origin, 300)}")
        for a, _ in st.rollbacks:
            out.append(f"  # revert: rollbacks {a.name!r} ({self.loc(a.at)})")
        out += [f"  # {_c(n)}" for n in st.notes]
        if not st.after:
            out.append(f"  # no pauses.after: held for {_dur(DEFAULT_HOLD)} (Chaos Toolkit went straight on; the "
                       "room needs a duration)")
        lines = [f"  - id: {sid}", f"    title: {_y(title)}",
                 f"    brief: {_y('Chaos Toolkit ' + ('actions ' if len(names) > 1 else 'action ') + ', '.join(names))}",
                 "    fault:", "      type: command", f"      target: {self.target_name}",
                 f"      inject: {_y(inject)}", f"      revert: {_y(revert)}",
                 f"      verify: {_y(verify) if verifies else _y('TODO')}",
                 f"    duration: {_dur(hold)}"]
        if problems:
            for p in problems:
                self.cannot(p.node, p.message)
            self.todos.append(("steps", [f"TODO: {self.file}:{p.node.line}:{p.node.col}: {_c(p.message, 400)}"
                                         for p in problems] + [ln.strip("\n") for ln in lines]))
            return out if st.before else []
        return out + lines

    def _emit(self, title: str, hyp_title: str, steps: list[_Step]) -> str:
        durations = [st.after or DEFAULT_HOLD for st in steps] + [st.before for st in steps]
        step_lines: list[str] = []
        for st in steps:
            step_lines += self._step_lines(st) or []
        if self.untranslatable and not self.partial:
            raise ExperimentError(self.untranslatable)
        root = self.root
        desc = _s(root.get("description")) or ""
        tags = root.get("tags")
        name = _slug(title, limit=100)
        hypothesis = desc or hyp_title or title  # the scenario needs one; the title is what the experiment says
        t = self.mapping.target
        env = self.mapping.environment
        lines = [f"# Imported from {_c(self.file)} by `controlroom import chaostoolkit`.",
                 "# Every part says where it came from (FILE:LINE:COL in the experiment).",
                 f"# title: {_c(title)}"]
        if desc:
            lines.append(f"# description: {_c(desc)}")
        if hyp_title:
            lines.append(f"# steady-state-hypothesis: {_c(hyp_title)}")
        if isinstance(tags, Seq):
            lines.append("# tags: " + _c(", ".join(str(i.value) for i in tags.items if isinstance(i, Scalar))))
        for note in self.config_notes:
            lines.append(f"# configuration: {_c(note)}")
        for note in self.secret_notes:
            lines.append(f"# secret not copied: {_c(note)}")
        for note in self.absorbed:
            lines.append(f"# {_c(note, 300)}")
        for section, todo in self.todos:
            if section == "top":
                lines += [f"# {_c(x, 500)}" for x in todo]
        lines += ["version: 1", f"name: {_y(name)}", f"hypothesis: {_y(hypothesis)}",
                  f"environment: {_y(env)}"
                  + ("   # Chaos Toolkit has no environment: name yours here and in allowed_environments"
                     if env == ENVIRONMENT else "")]
        if self.untranslatable:
            lines.append(f"template: true   # --partial: {len(self.untranslatable)} part(s) are TODOs below; run "
                         "refuses this file until you write them and delete this line")
        if not self.conditions:
            lines.append("unobserved: true   # the experiment has no steady-state probe the room can check: its "
                         "faults run with no verdict")
        lines.append("targets:")
        if self.command_target_used or not self.extra_targets:  # an extension-only scenario has no host target
            body = ", ".join(f"{k}: {_y(v) if isinstance(v, str) else str(v).lower()}" for k, v in t.items())
            lines.append(f"  {self.target_name}: {{{body}}}"
                         + ("   # Chaos Toolkit runs process providers on this machine" if self.target_name == "local"
                            else "   # from the mapping (-t / -m)"))
        for tname, (flow, comment) in self.extra_targets.items():
            lines += [f"  # {_c(comment, 300)}", f"  {tname}: {flow}"]
        metric_todos = [todo for section, todo in self.todos if section == "metrics"]
        if self.metrics or metric_todos:
            lines.append("observe:")
            if self.prometheus_url:
                lines.append(f"  prometheus: {{url: {_y(self.prometheus_url)}}}   # configuration "
                             "prometheus_base_url")
            lines.append("  metrics:" + ("" if self.metrics else " {}"))
            for mname, comments, flow in self.metrics:
                lines += [f"    # {_c(cm, 300)}" for cm in comments]
                lines.append(f"    {mname}: {flow}")
            for todo in metric_todos:
                lines += [f"    # {_c(x, 500)}" for x in todo]
        if self.conditions:
            lines += ["steady_state:", "  require:"] + [f"    - {_y(c)}" for c in self.conditions]
        longest = max([300.0, *durations])
        lines += ["blast_radius:", f"  allowed_environments: [{_y(env)}]", "  max_targets: 1",
                  f"  max_duration: {_dur(longest)}"
                  + ("   # the default 5m, raised to the experiment's longest pause" if longest > 300 else "")]
        if self.unleashed:
            lines += ["  # --allow-unleashed at import: the user who imported this allowed Toxiproxy faults with no",
                      "  # leash (no ssh: host to arm a guard on); a dead room leaves the toxic until `recover`",
                      "  allow_unleashed: [toxiproxy]"]
        step_todos = [todo for section, todo in self.todos if section == "steps"]
        if step_lines:
            lines += ["steps:", *step_lines]
        else:
            lines += ["steps:", "  # nothing in the method could be translated: one observe-only step",
                      "  - id: observe", "    title: observe", f"    duration: {_dur(DEFAULT_HOLD)}",
                      "    confirm: false"]
        for todo in step_todos:
            lines += [f"  # {_c(x, 500)}" if i == 0 or not x.startswith(" ") else "  # " + x for i, x in
                      enumerate(todo)]
        return "\n".join(lines) + "\n"


# -- reading ---------------------------------------------------------------------------------------------------

_REWORD = (("a scenario file holds exactly one", "an experiment file holds exactly one"),
           ("the scenario is empty; start with 'version: 1'", "the experiment is empty"),
           ("the scenario must be a mapping of keys (version:, name:, steps:, ...)",
            "an experiment is a mapping (title, method, ...)"),
           ("in scenarios", "in experiments"), ("a scenario is", "an experiment is"), ("a scenario may", "it may"))


def _reword(problem: Problem) -> Problem:
    message = problem.message
    for old, new in _REWORD:
        message = message.replace(old, new)
    return Problem(problem.file, problem.line, problem.col, message)


def read_document(path: str, what: str = "experiment") -> Map:
    """A JSON or YAML file -> its located tree; every problem located, none a traceback."""
    try:
        # O_NONBLOCK: a FIFO named by mistake must not hang the import; only a regular file is read.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with open(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise ExperimentError([Problem(path, 1, 1, f"is not a regular file; name the {what} file")])
            data = f.read(MAX_BYTES + 1)
    except OSError as err:
        raise ExperimentError([Problem(path, 1, 1, f"cannot read the {what}: {err.strerror or err}")]) from None
    if len(data) > MAX_BYTES:
        raise ExperimentError([Problem(path, 1, 1, f"the {what} is over 1 MiB; is this the right file?")])
    try:
        text = decode(data, path)
        try:
            json.loads(text)
        except (ValueError, RecursionError):
            pass
        else:
            # Valid JSON: its tabs (JSON whitespace, which YAML refuses) are outside strings, since JSON strings
            # cannot hold a raw tab; a space in their place keeps every line and column.
            text = text.replace("\t", " ")
        root, problems = parse_document(text, path)
    except ScenarioError as err:
        raise ExperimentError([_reword(p) for p in err.problems]) from None
    if problems:
        raise ExperimentError([_reword(p) for p in problems])
    return root


def read_mapping(path: str, ssh: str | None = None, *, kube_context: str | None = None,
                 allow_unleashed: bool = False) -> Mapping_:
    """The mapping file (-m): target, environment, verify, undoes, kubernetes and toxiproxy; -t DEST overrides its
    target, --kube-context its kubernetes context; --allow-unleashed is the user's consent to toxics with no leash."""
    m = Mapping_()
    if path:
        root = read_document(path, "mapping file")
        problems: list[Problem] = []

        def bad(node: Node, message: str) -> None:
            problems.append(Problem(path, node.line, node.col, message))

        for key, (knode, value) in root.entries.items():
            if key == "target" and isinstance(value, Map):
                m.target = {k: v.value for k, (_, v) in value.entries.items() if isinstance(v, Scalar)}
                if len(m.target) != len(value.entries):
                    bad(value, "target: the keys of a scenario target (ssh, sudo, interface, ...) with plain values")
            elif key in ("kubernetes", "toxiproxy") and isinstance(value, Map):
                allowed = ({"context", "kubeconfig"} if key == "kubernetes"
                           else {"ssh", "sudo", "identity_file", "known_hosts"})
                for k, (kn, v) in value.entries.items():
                    if k not in allowed or not isinstance(v, Scalar) or v.value is None:
                        bad(kn, f"{key}.{k}: a mapping file's {key}: has " + ", ".join(sorted(allowed))
                            + " with plain values")
                    elif key == "kubernetes":
                        m.kubernetes[k] = str(v.value)
                    else:
                        m.toxiproxy[k] = v.value
                if key == "kubernetes" and "context" in m.kubernetes:
                    m.kubernetes["context_from"] = f"the mapping file ({os.path.basename(path)}:{value.line})"
            elif key == "environment" and _s(value):
                m.environment = _s(value) or ENVIRONMENT
            elif key in ("verify", "undoes") and isinstance(value, Map):
                pairs = {k: _s(v) for k, (_, v) in value.entries.items()}
                for k, (kn, v) in value.entries.items():
                    m.where[f"{key}.{k}"] = Problem(path, kn.line, kn.col, "")
                    if not pairs[k]:
                        bad(v, f"{key}.{k}: expected a string")
                getattr(m, key).update({k: v for k, v in pairs.items() if v})
            else:
                bad(knode, f"{key!r}: a mapping file has target: {{...}}, environment: NAME, verify: {{ACTION: "
                    "COMMAND}, undoes: {ROLLBACK: ACTION}, kubernetes: {context: NAME} and toxiproxy: {ssh: DEST}")
        if problems:
            raise ExperimentError(problems)
    if ssh is not None:
        m.target = {"ssh": ssh}
    if kube_context is not None:
        m.kubernetes["context"] = kube_context
        m.kubernetes["context_from"] = "--kube-context"
    m.allow_unleashed = allow_unleashed
    return m


def import_experiment(path: str, mapping: Mapping_ | None = None, *, partial: bool = False,
                      env: Mapping[str, str] | None = None) -> Result:
    """Translate the experiment at `path`; raises ExperimentError (exit 2) with one located line per problem."""
    from controlroom.scenario import load_scenario_text

    root = read_document(path)
    imp = _Importer(path, root, mapping or Mapping_(), os.environ if env is None else env, partial)
    text = imp.run()
    try:
        sc = load_scenario_text(text, "<imported>")
    except ScenarioError as err:
        # The translation must never hand over what validation refuses (a mapping's bad ssh destination, a
        # command too long, ...): report it against the experiment, with what validation said.
        raise ExperimentError([Problem(path, 1, 1, f"the translated scenario does not validate: {p.message} "
                                       f"(scenario line {p.line})") for p in err.problems]) from None
    return Result(text, sorted(imp.untranslatable), len(sc.steps), len(imp.metrics))

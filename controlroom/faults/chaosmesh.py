"""Chaos Mesh experiments as game-day steps: a short form per kind (translated to the CR), or a raw CR spec.

Every manifest is checked against the bundled CRD schema at `validate` time (`faults.crd`), and sent with
`fieldValidation=Strict`. What a plan does, and why it is safe:
* inject: `render` labels the manifest (`controlroom.io/session`, `controlroom.io/step`,
  `controlroom.io/fault`), pins it to the pods the target's selector and mode choose now (`selector.pods`,
  mode `all`: the pods journaled are the pods hit), and answers it as the record the journal keeps
  (`fault-selected`) before `apply` creates exactly that object.
* leash: `spec.duration` = the step's duration + the leash window. Chaos Mesh ends the experiment by itself
  at that time if the room dies (cluster-side leash, no renewal needed).
* revert: delete the object(s) found by the session and fault labels, and wait until they are gone: Chaos
  Mesh keeps its finalizer until every container record is recovered, so gone means recovered (AllRecovered).
  Not gone within `revert_wait` = unconfirmed ("fault may persist: finalizer held"), never clean.
* verify: nothing with the fault's labels is left.
A raw spec with its own `selector` keeps it (Chaos Mesh selects; the manifest is journaled, the pods it hits
are then Chaos Mesh's choice and show in its records).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from controlroom.faults import crd
from controlroom.faults.base import FaultType, Param, PlanContext, arg
from controlroom.faults.kubernetes import (
    CHAOS_KINDS_FOR_CLOBBER,
    call,
    kube_ref,
    rbac_requirement,
    selection_text,
    selector_requirement,
)
from controlroom.faults.plan import FaultPlan, Requirement
from controlroom.scenario.model import FaultSpec, Target
from controlroom.units import format_duration, parse_duration, parse_percent, parse_rate, parse_size

DEFAULT_REVERT_WAIT = 30.0
CONTROLLER = ("chaos-mesh", "chaos-controller-manager")
PLACEHOLDER_SELECTOR = {"namespaces": ["default"], "labelSelectors": {"app": "placeholder"}}
NAME_LATER = "named-at-injection"  # controlroom-<fault hash>-<session id>, set by `render`


def go_duration(seconds: float) -> str:
    """Whole seconds, rounded up, as Go's time.ParseDuration reads them ('75s')."""
    return f"{max(1, math.ceil(seconds))}s"


def _ms(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


def _pct(value: float) -> str:
    return f"{value:g}"


# ---- short forms: params -> (kind, spec without selector/mode/duration) -------------------------------------

Translate = Callable[[FaultSpec], tuple[str, dict[str, Any]]]


def _containers(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"expected a container name or a list of them, got {value!r}")
    return list(value)


def _direction(value: Any) -> str:
    if value not in ("to", "from", "both"):
        raise ValueError(f"direction must be to, from or both, got {value!r}")
    return str(value)


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"expected a whole number (1 or more), got {value!r}")
    return value


def _patterns(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"expected a domain pattern or a list of them, e.g. ['*.example.com'], got {value!r}")
    return list(value)


def _offset(value: Any) -> str:
    text = str(value).strip()
    sign = "-" if text.startswith("-") else ""
    seconds = parse_duration(text.lstrip("+-"))
    return f"{sign}{round(seconds)}s"


CONTAINERS = Param("containers", _containers, required=True, doc="container name(s) to kill, e.g. [app]")
LATENCY = Param("latency", parse_duration, required=True, doc="added delay, e.g. '200ms'")
JITTER = Param("jitter", parse_duration, doc="delay variation, e.g. '20ms'")
LOSS = Param("loss", parse_percent, required=True, doc="share of packets dropped, e.g. '25%'")
DIRECTION = Param("direction", _direction, default="to", doc="to | from | both (default to)")
RATE = Param("rate", parse_rate, required=True, doc="bandwidth, e.g. '1mbit'")
WORKERS = Param("workers", _whole, default=1, doc="stress workers per container (default 1)")
LOAD = Param("load", parse_percent, default="100%", doc="CPU load per worker, e.g. '80%'")
SIZE = Param("size", parse_size, required=True, doc="memory to hold, e.g. '256MB'")
VOLUME = Param("volume_path", str, required=True, doc="the mount point to slow down, e.g. /var/lib/data")
DELAY = Param("delay", parse_duration, required=True, doc="added delay per request or I/O, e.g. '100ms'")
PORT = Param("port", _whole, required=True, doc="the container port of the HTTP server, e.g. 8080")
PATTERNS = Param("patterns", _patterns, required=True, doc="domains to fail, e.g. ['*.payments.internal']")
OFFSET = Param("offset", _offset, required=True, doc="clock skew, e.g. '-10m' or '5m'")
REVERT_WAIT = Param("revert_wait", parse_duration, default=f"{DEFAULT_REVERT_WAIT:g}s",
                    doc="how long a revert waits for the object to be gone before calling it unconfirmed")


def _pod_failure(spec: FaultSpec) -> tuple[str, dict[str, Any]]:
    return "PodChaos", {"action": "pod-failure"}


def _container_kill(spec: FaultSpec) -> tuple[str, dict[str, Any]]:
    return "PodChaos", {"action": "container-kill", "containerNames": arg(spec, CONTAINERS)}


def _network_delay(spec: FaultSpec) -> tuple[str, dict[str, Any]]:
    delay = {"latency": _ms(arg(spec, LATENCY))}
    if arg(spec, JITTER) is not None:
        delay["jitter"] = _ms(arg(spec, JITTER))
    return "NetworkChaos", {"action": "delay", "direction": arg(spec, DIRECTION), "delay": delay}


def _network_loss(spec: FaultSpec) -> tuple[str, dict[str, Any]]:
    return "NetworkChaos", {"action": "loss", "direction": arg(spec, DIRECTION), "loss": {"loss": _pct(arg(spec, LOSS))}}


def _network_partition(spec: FaultSpec) -> tuple[str, dict[str, Any]]:
    return "NetworkChaos", {"action": "partition", "direction": arg(spec, DIRECTION)}


def _network_bandwidth(spec: FaultSpec) -> tuple[str, dict[str, Any]]:
    rate = int(arg(spec, RATE))  # bits per second
    return "NetworkChaos", {"action": "bandwidth", "direction": arg(spec, DIRECTION),
                            "bandwidth": {"rate": f"{max(1, rate // 1000)}kbps", "limit": 20971520, "buffer": 10000}}


def _stress_cpu(spec: FaultSpec) -> tuple[str, dict[str, Any]]:
    return "StressChaos", {"stressors": {"cpu": {"workers": arg(spec, WORKERS), "load": round(arg(spec, LOAD))}}}


def _stress_memory(spec: FaultSpec) -> tuple[str, dict[str, Any]]:
    return "StressChaos", {"stressors": {"memory": {"workers": arg(spec, WORKERS), "size": f"{arg(spec, SIZE)}B"}}}


def _io_latency(spec: FaultSpec) -> tuple[str, dict[str, Any]]:
    return "IOChaos", {"action": "latency", "volumePath": arg(spec, VOLUME), "delay": _ms(arg(spec, DELAY)),
                       "percent": 100}


def _http_delay(spec: FaultSpec) -> tuple[str, dict[str, Any]]:
    return "HTTPChaos", {"target": "Request", "port": arg(spec, PORT), "delay": _ms(arg(spec, DELAY))}


def _dns_error(spec: FaultSpec) -> tuple[str, dict[str, Any]]:
    return "DNSChaos", {"action": "error", "patterns": arg(spec, PATTERNS)}


def _time_offset(spec: FaultSpec) -> tuple[str, dict[str, Any]]:
    return "TimeChaos", {"timeOffset": arg(spec, OFFSET)}


def _raw_cr(value: Any) -> dict[str, Any]:
    """`cr: {kind: NetworkChaos, spec: {...}}`: a Chaos Mesh kind and its spec as Chaos Mesh documents it."""
    if not isinstance(value, dict) or set(value) - {"kind", "spec"} or "kind" not in value:
        raise ValueError("expected {kind: <a Chaos Mesh kind>, spec: {...}}")
    kind = value["kind"]
    if kind not in crd.kinds(crd.CHAOS_MESH):
        raise ValueError(f"kind {kind!r} is not a Chaos Mesh kind ({', '.join(crd.kinds(crd.CHAOS_MESH))})")
    spec = value.get("spec") or {}
    if not isinstance(spec, dict):
        raise ValueError("spec must be a mapping, as in the Chaos Mesh docs")
    return {"kind": kind, "spec": spec}


CR = Param("cr", _raw_cr, required=True, doc="{kind: PodChaos|NetworkChaos|..., spec: {...}} as Chaos Mesh documents it")


def _raw(spec: FaultSpec) -> tuple[str, dict[str, Any]]:
    cr = arg(spec, CR)
    return cr["kind"], dict(cr["spec"])


# ---- the manifest and the plan --------------------------------------------------------------------------------


def label_selectors(selector: str) -> dict[str, str]:
    """'app=checkout,tier=web' -> {app: checkout, tier: web} (the equality terms Chaos Mesh's labelSelectors hold)."""
    out = {}
    for part in selector.split(","):
        key, op, value = part.strip().partition("=")
        if op and not key.endswith("!"):
            out[key.strip()] = value.strip().lstrip("=")
    return out


def manifest(kind: str, body: dict[str, Any], namespace: str, duration_s: float | None,
             target: Target | None = None) -> dict[str, Any]:
    """The CR as it will be applied, before `render` labels, names and pins it to the pods chosen."""
    api_version, _, _ = crd.resource(kind)
    spec = dict(body)
    if "selector" not in spec:
        ref = target.kubernetes if target is not None else None
        if ref is None:
            spec["selector"] = dict(PLACEHOLDER_SELECTOR)
            spec["mode"] = "all"
        else:  # what the target says; at injection the pods it chooses are pinned (selector.pods, mode all)
            spec["selector"] = {"namespaces": list(ref.all_namespaces),
                                "labelSelectors": label_selectors(ref.selector)}
            spec["mode"] = ref.mode
            if ref.value:
                spec["value"] = ref.value.rstrip("%")
    if duration_s is not None:
        theirs = spec.get("duration")
        ours = go_duration(duration_s)
        if theirs is None or parse_duration(str(theirs)) > parse_duration(ours):
            spec["duration"] = ours  # the cluster-side leash never outlives the step + the leash window
    return {"apiVersion": api_version, "kind": kind, "metadata": {"namespace": namespace, "name": NAME_LATER},
            "spec": spec}


def _checker(translate: Translate, name: str) -> Callable[[dict[str, Any]], list[tuple[str | None, str]]]:
    def check(params: dict[str, Any]) -> list[tuple[str | None, str]]:
        kind, body = translate(FaultSpec(type=name, target="", params=params))
        problem = crd.check(manifest(kind, body, "default", 60.0))
        return [("cr" if "cr" in params else None, f"{kind} is invalid for its CRD: {problem}")] if problem else []

    return check


def _builder(translate: Translate) -> Callable[[FaultSpec, Target, PlanContext], FaultPlan]:
    def build(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
        ref = kube_ref(target)
        kind, body = translate(spec)
        api_version, plural, crd_name = crd.resource(kind)
        ns = ref.all_namespaces[0]
        leash_s = (ctx.duration or 0.0) + ctx.leash_window
        doc = manifest(kind, body, ns, leash_s, target)
        pin = "selector" not in body
        wait = float(arg(spec, REVERT_WAIT))
        fid = ctx.fault_id
        step = fid.split("/", 1)[0]
        where: dict[str, Any] = {"version": api_version, "plural": plural, "namespaces": [ns]}
        action = body.get("action") or next(iter(body.get("stressors") or {}), "")
        what = selection_text(target) if pin else f"the pods its own selector picks in {ns}"
        return FaultPlan(
            fault_id=fid,
            spec=spec,
            target=target.name,
            summary=(f"Chaos Mesh {kind}{'/' + action if action else ''} on {what} — leash: spec.duration "
                     f"{doc['spec']['duration']} (Chaos Mesh ends it if the room dies)"),
            inject=(call("render", fid, manifest=doc, pin="spec" if pin else "", step=step, max_pods=ctx.max_pods),
                    call("apply", fid, plural=plural)),
            revert=(call("delete-labelled", fid, timeout=wait + 5.0, wait=wait, **where),),
            verify=(call("gone", fid, **where),),
            requires=(rbac_requirement(target, [("list", "pods", ""), ("create", plural, crd.CHAOS_MESH),
                                                ("deletecollection", plural, crd.CHAOS_MESH),
                                                ("list", plural, crd.CHAOS_MESH)]),
                      Requirement(f"CRD {crd_name}", call("crd", names=[crd_name], tool="Chaos Mesh"), ""),
                      Requirement("Chaos Mesh controller",
                                  call("controller", namespace=CONTROLLER[0], name=CONTROLLER[1], tool="Chaos Mesh"), ""),
                      *((selector_requirement(target, ctx),) if pin else ())),
            clobber_check=(call("clobber", kinds=CHAOS_KINDS_FOR_CLOBBER),),
        )

    return build


_SHORT: list[tuple[str, tuple[Param, ...], Translate, str]] = [
    ("chaos-pod-failure", (), _pod_failure, "Chaos Mesh PodChaos pod-failure: the pods stay unavailable for the step"),
    ("chaos-container-kill", (CONTAINERS,), _container_kill, "Chaos Mesh PodChaos container-kill of `containers`"),
    ("chaos-network-delay", (LATENCY, JITTER, DIRECTION), _network_delay, "Chaos Mesh NetworkChaos delay"),
    ("chaos-network-loss", (LOSS, DIRECTION), _network_loss, "Chaos Mesh NetworkChaos packet loss"),
    ("chaos-network-partition", (DIRECTION,), _network_partition, "Chaos Mesh NetworkChaos partition"),
    ("chaos-network-bandwidth", (RATE, DIRECTION), _network_bandwidth, "Chaos Mesh NetworkChaos bandwidth limit"),
    ("chaos-stress-cpu", (WORKERS, LOAD), _stress_cpu, "Chaos Mesh StressChaos CPU"),
    ("chaos-stress-memory", (WORKERS, SIZE), _stress_memory, "Chaos Mesh StressChaos memory"),
    ("chaos-io-latency", (VOLUME, DELAY), _io_latency, "Chaos Mesh IOChaos latency on a volume"),
    ("chaos-http-delay", (PORT, DELAY), _http_delay, "Chaos Mesh HTTPChaos request delay"),
    ("chaos-dns-error", (PATTERNS,), _dns_error, "Chaos Mesh DNSChaos error for `patterns`"),
    ("chaos-time-offset", (OFFSET,), _time_offset, "Chaos Mesh TimeChaos clock offset"),
    ("chaos-mesh", (CR,), _raw, "Any Chaos Mesh kind, as a raw CR spec (`cr: {kind, spec}`), checked against its CRD"),
]

# fault type -> its translation, for `controlroom export chaos-mesh` (the same translation, never a second one)
TRANSLATIONS: dict[str, Translate] = {name: translate for name, _params, translate, _doc in _SHORT}

FAULTS: list[FaultType] = [
    FaultType(name, (*params, REVERT_WAIT), frozenset({"kubernetes"}), _builder(translate),
              doc=doc + " (leashed by spec.duration).", check=_checker(translate, name))
    for name, params, translate, doc in _SHORT
]

__all__ = ["FAULTS", "TRANSLATIONS", "format_duration", "go_duration"]

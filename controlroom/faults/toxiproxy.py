"""Toxiproxy faults: one toxic per proxy of the target (or the proxy disabled), named after the session.

Why this is safe:
* Names. Every toxic is called `cr-<session>-<fault id>`, unique per proxy, so a revert deletes exactly the
  toxics this session created, by name, and never anybody else's. `POST /reset` (which removes every toxic and
  re-enables every proxy, whoever made them) is never part of a plan: only `controlroom recover --reset`, the
  facilitator's explicit action, sends it.
* Revert and verify. Revert is `DELETE /proxies/P/toxics/NAME` (204; a 404 means already gone: idempotent).
  Verify is a GET of the same toxic that must answer 404: "gone" is what the server says, not what we sent.
  `toxiproxy-down` reverts with `PATCH enabled: true` and verifies `enabled` in a GET.
* Leash. Toxiproxy has no TTL. With the target's `ssh:` host, the host leash (`faults.leash`) is armed there
  before the toxic is created; its guard deletes the toxics through the API on 127.0.0.1 when the room goes
  silent. Without an SSH host there is no leash: the plan says so, and validation refuses the fault unless
  `blast_radius.allow_unleashed` lists `toxiproxy`.
* Pre-flight: `/version` answers, every proxy exists and is enabled, and carries no toxic of another session
  (a clobber: its revert is not ours to send, and our figures would be its too).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from controlroom.faults.base import FaultType, Param, PlanContext, arg
from controlroom.faults.leash import leash_for
from controlroom.faults.plan import FaultPlan, Leash, Requirement
from controlroom.faults.shell import q
from controlroom.scenario.model import FaultSpec, Target, ToxiproxyRef
from controlroom.targets.api import JudgedRequest
from controlroom.targets.base import Action, HttpRequest, Shell
from controlroom.units import format_duration, parse_duration, parse_percent, parse_rate, parse_size

TOXIC_PREFIX = "cr-"
API_TIMEOUT = 5.0


def toxic_name(session: str, fault_id: str) -> str:
    """`cr-<session>-<fault id>`: the session id keeps sessions apart; the fault id, faults of one session."""
    return f"{TOXIC_PREFIX}{session}-" + re.sub(r"[^A-Za-z0-9_.-]", "_", fault_id)


def session_prefix(session: str) -> str:
    return f"{TOXIC_PREFIX}{session}-"


def _ref(target: Target) -> ToxiproxyRef:
    if target.toxiproxy is None:
        raise ValueError(f"target {target.name!r} is not a toxiproxy target")
    return target.toxiproxy


def _local_api(api: str) -> str:
    """The same API as seen from the host it runs on: what the leash guard calls."""
    port = urlsplit(api).port or (443 if api.startswith("https") else 80)
    scheme = "https" if api.startswith("https") else "http"
    return f"{scheme}://127.0.0.1:{port}"


def _guard_call(method: str, url: str, body: str | None = None) -> Shell:
    data = f" -H 'Content-Type: application/json' --data {q(body)}" if body is not None else ""
    # -A: a user agent Toxiproxy serves (it refuses Mozilla/); the guard ignores the answer: verify decides.
    return Shell(f"curl -s -o /dev/null -m 5 -A controlroom -X {method}{data} {q(url)}", timeout=10.0)


def _not_ours(session: str) -> Any:
    prefix = session_prefix(session)

    def judge(doc: Any) -> str:
        if not isinstance(doc, list):
            return "the toxics list is not a JSON list"
        others = [str(t.get("name")) for t in doc if isinstance(t, dict) and not str(t.get("name", "")).startswith(prefix)]
        if others:
            return (f"toxic(s) {', '.join(others[:3])} of another session or user are on the proxy; a revert here "
                    "would not remove them and the results would be theirs too: remove them first")
        return ""

    return judge


def _enabled(doc: Any) -> str:
    if not isinstance(doc, dict):
        return "the proxy answer is not a JSON object"
    return "" if doc.get("enabled") is True else f"proxy {doc.get('name')!r} is disabled; enable it first"


def _common(spec: FaultSpec, ref: ToxiproxyRef, target: Target, ctx: PlanContext, summary: str, inject: tuple[Action, ...],
            revert: tuple[HttpRequest, ...], verify: tuple[Action, ...], guard: tuple[Shell, ...]) -> FaultPlan:
    api = ref.api
    requires = [Requirement("toxiproxy api", HttpRequest("GET", f"{api}/version", timeout=API_TIMEOUT),
                            f"{target.name}: Toxiproxy does not answer at {api}/version; check toxiproxy.api")]
    for p in ref.proxies:
        requires.append(Requirement(
            f"proxy {p}", JudgedRequest("GET", f"{api}/proxies/{p}", timeout=API_TIMEOUT, judge=_enabled),
            f"{target.name}: proxy {p!r} is missing or disabled on {api}; check toxiproxy.proxies"))
    leash: Leash | None = None
    if ref.ssh is not None:
        requires.append(Requirement("curl", Shell("command -v curl >/dev/null", timeout=10.0),
                                    f"{target.name}: curl is missing on {ref.ssh}; the leash guard needs it"))
        leash = leash_for(f"toxiproxy-{toxic_name(ctx.session, ctx.fault_id)}", guard, ref.sudo)
    else:
        summary += " — NO LEASH (Toxiproxy has no TTL; allowed by blast_radius.allow_unleashed)"
    clobber = tuple(JudgedRequest("GET", f"{api}/proxies/{p}/toxics", timeout=API_TIMEOUT,
                                  judge=_not_ours(ctx.session)) for p in ref.proxies)
    return FaultPlan(fault_id=ctx.fault_id, spec=spec, target=target.name, summary=summary,
                     inject=inject, revert=revert, verify=verify, leash=leash, requires=tuple(requires),
                     clobber_check=clobber)


def _toxic_plan(spec: FaultSpec, target: Target, ctx: PlanContext, kind: str, attributes: dict[str, int],
                what: str) -> FaultPlan:
    ref = _ref(target)
    name = toxic_name(ctx.session, ctx.fault_id)
    stream = str(arg(spec, STREAM))
    toxicity = round(float(arg(spec, TOXICITY)) / 100.0, 6)
    body = {"name": name, "type": kind, "stream": stream, "toxicity": toxicity, "attributes": attributes}
    inject = tuple(HttpRequest("POST", f"{ref.api}/proxies/{p}/toxics", json=body, timeout=API_TIMEOUT,
                               ok_status=(200,)) for p in ref.proxies)
    # 404 on a delete: already gone (a retried revert, a guard that fired): the verify GET decides.
    revert = tuple(HttpRequest("DELETE", f"{ref.api}/proxies/{p}/toxics/{name}", timeout=API_TIMEOUT,
                               ok_status=(204, 404)) for p in ref.proxies)
    verify = tuple(HttpRequest("GET", f"{ref.api}/proxies/{p}/toxics/{name}", timeout=API_TIMEOUT, ok_status=(404,))
                   for p in ref.proxies)
    local = _local_api(ref.api)
    guard = tuple(_guard_call("DELETE", f"{local}/proxies/{p}/toxics/{name}") for p in ref.proxies)
    share = "" if toxicity >= 1 else f", {toxicity * 100:g}% of connections"
    summary = f"{what} ({stream}{share}) on {target.name} proxies {', '.join(ref.proxies)} [toxic {name}]"
    return _common(spec, ref, target, ctx, summary, inject, revert, verify, guard)


def _ms(seconds: float) -> int:
    return round(seconds * 1000.0)


def _build_latency(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    latency, jitter = float(arg(spec, LATENCY)), float(arg(spec, JITTER))
    what = f"{format_duration(latency)}" + (f" ±{format_duration(jitter)}" if jitter else "") + " latency"
    return _toxic_plan(spec, target, ctx, "latency", {"latency": _ms(latency), "jitter": _ms(jitter)}, what)


def _build_bandwidth(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    bits = int(arg(spec, RATE))
    kbytes = bits // 8000
    if kbytes < 1:
        raise ValueError(f"rate {bits} bit/s is below Toxiproxy's 1 KB/s (8kbit); a rate of 0 stops all traffic")
    return _toxic_plan(spec, target, ctx, "bandwidth", {"rate": kbytes}, f"bandwidth capped at {kbytes} KB/s")


def _build_slow_close(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    delay = float(arg(spec, CLOSE_DELAY))
    return _toxic_plan(spec, target, ctx, "slow_close", {"delay": _ms(delay)}, f"close delayed {format_duration(delay)}")


def _build_timeout(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    t = float(arg(spec, TIMEOUT))
    what = "connections stall until reverted" if t == 0 else f"data swallowed, connections closed after {format_duration(t)}"
    return _toxic_plan(spec, target, ctx, "timeout", {"timeout": _ms(t)}, what)


def _build_reset_peer(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    t = float(arg(spec, RESET_AFTER))
    return _toxic_plan(spec, target, ctx, "reset_peer", {"timeout": _ms(t)},
                       f"connections reset (RST) {format_duration(t)} after data")


def _build_slicer(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    avg, var, delay = int(arg(spec, AVERAGE_SIZE)), int(arg(spec, SIZE_VARIATION)), float(arg(spec, SLICE_DELAY))
    if avg < 1 or var >= avg:
        raise ValueError(f"slicer needs average_size >= 1 byte and size_variation below it (got {avg} and {var})")
    return _toxic_plan(spec, target, ctx, "slicer",
                       {"average_size": avg, "size_variation": var, "delay": round(delay * 1_000_000)},
                       f"data sliced into ~{avg}-byte pieces, {format_duration(delay)} apart")


def _build_limit_data(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    n = int(arg(spec, BYTES))
    return _toxic_plan(spec, target, ctx, "limit_data", {"bytes": n}, f"connections closed after {n} bytes")


def _build_down(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    ref = _ref(target)
    inject = tuple(HttpRequest("PATCH", f"{ref.api}/proxies/{p}", json={"enabled": False}, timeout=API_TIMEOUT,
                               ok_status=(200,)) for p in ref.proxies)
    revert = tuple(HttpRequest("PATCH", f"{ref.api}/proxies/{p}", json={"enabled": True}, timeout=API_TIMEOUT,
                               ok_status=(200,)) for p in ref.proxies)
    verify = tuple(HttpRequest("GET", f"{ref.api}/proxies/{p}", timeout=API_TIMEOUT, expect_json={"enabled": True})
                   for p in ref.proxies)
    local = _local_api(ref.api)
    guard = tuple(_guard_call("PATCH", f"{local}/proxies/{p}", '{"enabled": true}') for p in ref.proxies)
    summary = f"proxies {', '.join(ref.proxies)} on {target.name} disabled (live connections dropped)"
    return _common(spec, ref, target, ctx, summary, inject, revert, verify, guard)


def _stream(value: object) -> str:
    if value not in ("upstream", "downstream"):
        raise ValueError(f"stream must be upstream (client to server) or downstream (server to client), got {value!r}")
    return str(value)


def _bytes(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"expected a size of at least 0 bytes, got {value!r}")
        return value
    return parse_size(value)


STREAM = Param("stream", _stream, default="downstream", doc="upstream or downstream (default downstream)")
TOXICITY = Param("toxicity", parse_percent, default="100%", doc="share of connections affected (default 100%)")
LATENCY = Param("latency", parse_duration, required=True, doc="added delay per chunk, e.g. 300ms")
JITTER = Param("jitter", parse_duration, default="0ms", doc="random variation of the latency, e.g. 50ms")
RATE = Param("rate", parse_rate, required=True, doc="throughput cap, e.g. 800kbit (at least 8kbit)")
CLOSE_DELAY = Param("delay", parse_duration, required=True, doc="how late a close reaches the other side, e.g. 2s")
TIMEOUT = Param("timeout", parse_duration, required=True,
                doc="close the connection this long after data (0ms: hold it until reverted)")
RESET_AFTER = Param("timeout", parse_duration, default="0ms", doc="reset this long after the first data (default 0ms)")
AVERAGE_SIZE = Param("average_size", _bytes, required=True, doc="mean piece size in bytes, e.g. 64")
SIZE_VARIATION = Param("size_variation", _bytes, default=0, doc="variation of the piece size in bytes")
SLICE_DELAY = Param("delay", parse_duration, default="0ms", doc="pause between pieces, e.g. 10ms")
BYTES = Param("bytes", _bytes, required=True, doc="bytes let through before the connection closes, e.g. 1k")

KINDS = frozenset({"toxiproxy"})
_C = (STREAM, TOXICITY)
FAULTS: list[FaultType] = [
    FaultType("toxiproxy-latency", (LATENCY, JITTER, *_C), KINDS, _build_latency,
              doc="Delay every chunk through the proxies by `latency` ± `jitter` (a Toxiproxy latency toxic)."),
    FaultType("toxiproxy-bandwidth", (RATE, *_C), KINDS, _build_bandwidth,
              doc="Cap the proxies' throughput at `rate` (bandwidth toxic)."),
    FaultType("toxiproxy-slow-close", (CLOSE_DELAY, *_C), KINDS, _build_slow_close,
              doc="Deliver each close `delay` late (slow_close toxic)."),
    FaultType("toxiproxy-timeout", (TIMEOUT, *_C), KINDS, _build_timeout,
              doc="Swallow data and close after `timeout`; 0ms holds connections until reverted (timeout toxic)."),
    FaultType("toxiproxy-reset-peer", (RESET_AFTER, *_C), KINDS, _build_reset_peer,
              doc="Reset connections (TCP RST) `timeout` after their first data (reset_peer toxic)."),
    FaultType("toxiproxy-slicer", (AVERAGE_SIZE, SIZE_VARIATION, SLICE_DELAY, *_C), KINDS, _build_slicer,
              doc="Cut data into small pieces with a pause between them (slicer toxic)."),
    FaultType("toxiproxy-limit-data", (BYTES, *_C), KINDS, _build_limit_data,
              doc="Close each connection after `bytes` in the stream's direction (limit_data toxic)."),
    FaultType("toxiproxy-down", (), KINDS, _build_down,
              doc="Disable the proxies (enabled: false): nothing listens, live connections drop."),
]

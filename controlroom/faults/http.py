"""HTTP fault hooks: faults a service injects in itself when asked on an admin endpoint (like Spring's chaos monkey).

`http-latency` and `http-errors` speak the demo service's protocol
(`POST /admin/faults` with `ttl_s`, `DELETE /admin/faults/<kind>`,
`GET /admin/faults`); their leash lives in the service: every fault clears
itself `ttl_s` after it was last set. `ttl_s` is the heartbeat window
(`blast_radius.leash`, not the step's length), and the live control room renews
it by posting again with `"renew": true` — which the service refuses with 409
when the fault already cleared, so a renewal never re-injects a fault whose
leash fired. The generic `http` fault sends whatever requests a scenario
declares, for services with their own admin API; it has no leash of its own.
"""

from __future__ import annotations

from typing import Any

from controlroom.faults.base import FaultType, Param, PlanContext, arg
from controlroom.faults.plan import FaultPlan, Leash, Requirement
from controlroom.scenario.model import FaultSpec, Target
from controlroom.targets.base import HttpRequest
from controlroom.units import format_duration, parse_duration, parse_percent

ADMIN_PATH = "/admin/faults"
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def base_url(target: Target) -> str:
    if not target.url:
        raise ValueError(f"target {target.name!r} has no url: http faults need `url:` (the service's base URL)")
    return target.url.rstrip("/")


RENEW_GONE = 409  # the service's answer to a renewal of a fault that is no longer set


def _ttl(ctx: PlanContext) -> float:
    return ctx.leash_window


def _admin_plan(spec: FaultSpec, target: Target, ctx: PlanContext, kind: str, key: str, value: float,
                clean: Any, summary: str) -> FaultPlan:
    base = base_url(target)
    url = base + ADMIN_PATH

    def post(seconds: float) -> HttpRequest:
        return HttpRequest("POST", url, json={key: value, "ttl_s": round(seconds, 3)})

    def renew(seconds: float) -> HttpRequest:
        return HttpRequest("POST", url, json={key: value, "ttl_s": round(seconds, 3), "renew": True},
                           timeout=max(2.0, seconds / 2))

    # Only this kind is cleared, so a latency and an error fault on one service revert independently.
    clear = HttpRequest("DELETE", f"{url}/{kind}")
    verify = HttpRequest("GET", url, expect_json={key: clean})
    return FaultPlan(
        fault_id=ctx.fault_id,
        spec=spec,
        target=target.name,
        summary=summary,
        inject=(post(_ttl(ctx)),),
        revert=(clear,),
        verify=(verify,),
        leash=Leash(arm=post, disarm=clear, renew=renew, gone_status=(RENEW_GONE,)),
        requires=(Requirement("fault admin endpoint", HttpRequest("GET", url),
                              f"{target.name}: no fault admin endpoint answering at {url}; check the target's url"),),
        clobber_check=(verify,),
    )


def _build_latency(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    delay = float(arg(spec, DELAY))
    ms = round(delay * 1000.0, 3)
    return _admin_plan(spec, target, ctx, "latency", "latency_ms", ms, 0,
                       f"{format_duration(delay)} latency on {target.name} (admin endpoint)")


def _build_errors(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    rate = float(arg(spec, RATE))
    return _admin_plan(spec, target, ctx, "errors", "error_rate", round(rate / 100.0, 6), 0.0,
                       f"{rate:g}% errors on {target.name} (admin endpoint)")


def _request(value: object, *, body_key: str = "json") -> dict[str, Any]:
    """A declared request {method, path, json|expect_json} -> normalised; ValueError says what to fix."""
    if not isinstance(value, dict):
        raise ValueError(f"expected a mapping such as {{method: POST, path: /chaos/enable}}, got {value!r}")
    unknown = set(value) - {"method", "path", body_key}
    if unknown:
        raise ValueError(f"unknown keys {', '.join(sorted(map(str, unknown)))} (allowed: method, path, {body_key})")
    method = str(value.get("method", "")).upper()
    if method not in _METHODS:
        raise ValueError(f"method must be one of {', '.join(_METHODS)}, got {value.get('method')!r}")
    path = value.get("path")
    if not isinstance(path, str) or not path.startswith("/") or "://" in path or any(c.isspace() for c in path):
        raise ValueError(f"path must start with '/' and be relative to the target's url, got {path!r}")
    body = value.get(body_key)
    if body_key == "expect_json" and body is not None and not isinstance(body, dict):
        raise ValueError(f"expect_json must be a mapping of key: value, got {body!r}")
    return {"method": method, "path": path, body_key: body}


def _verify_request(value: object) -> dict[str, Any]:
    return _request(value, body_key="expect_json")


def _build_generic(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    base = base_url(target)
    inject, revert, verify = arg(spec, INJECT), arg(spec, REVERT), arg(spec, VERIFY)
    check = HttpRequest(verify["method"], base + verify["path"], expect_json=verify["expect_json"])
    return FaultPlan(
        fault_id=ctx.fault_id,
        spec=spec,
        target=target.name,
        summary=f"{inject['method']} {inject['path']} on {target.name} (admin endpoint, no service-side leash)",
        inject=(HttpRequest(inject["method"], base + inject["path"], json=inject["json"]),),
        revert=(HttpRequest(revert["method"], base + revert["path"], json=revert["json"]),),
        verify=(check,),
        clobber_check=(check,),
    )


DELAY = Param("delay", parse_duration, required=True, doc="added response time, e.g. '150ms'")
RATE = Param("rate", parse_percent, required=True, doc="share of requests answered 500, e.g. '50%'")
INJECT = Param("inject", _request, required=True, doc="request that turns the fault on: {method, path, json}")
REVERT = Param("revert", _request, required=True, doc="request that turns it off: {method, path, json}")
VERIFY = Param("verify", _verify_request, required=True,
               doc="request that succeeds only when the fault is off: {method, path, expect_json}")

FAULTS: list[FaultType] = [
    FaultType("http-latency", (DELAY,), frozenset({"http"}), _build_latency,
              doc="Slow every business request down by `delay`, via the service's /admin/faults hook (leashed by ttl_s)."),
    FaultType("http-errors", (RATE,), frozenset({"http"}), _build_errors,
              doc="Answer `rate` of business requests with HTTP 500, via /admin/faults (leashed by ttl_s)."),
    FaultType("http", (INJECT, REVERT, VERIFY), frozenset({"http"}), _build_generic,
              doc="Any admin endpoint: the declared inject / revert / verify requests (no service-side leash)."),
]

"""Pre-flight: before anything is injected, prove every target reachable (host key verified), every tool
present, nothing to clobber, the metrics answering and the environment allowed. Every check is journaled as
it finishes; hosts are checked in parallel.

It takes the engine context, the scenario, the planned faults, the metric sources and the heartbeat (which
keeps every claim it takes from lapsing) — not the session.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from controlroom.engine.context import EngineContext
from controlroom.engine.preflight_host import NOT_CONNECTED, Check, preflight_host
from controlroom.errors import PreflightError
from controlroom.faults.plan import FaultPlan
from controlroom.targets.apis import api_reachability
from controlroom.targets.base import Action, HttpRequest, KubeCall

if TYPE_CHECKING:
    from controlroom.engine.heartbeat import Heartbeat
    from controlroom.metrics.source import MetricSource
    from controlroom.scenario.model import Scenario


CLAIMED_KINDS = ("ssh", "local")
METRICS_WAIT = 3.0  # seconds at least a source gets to give every series a first real value
METRICS_WAIT_MAX = 15.0
METRICS_POLL = 0.1
STOP_POLL = 0.05  # seconds: how soon a stop reaches the connections pre-flight is still setting up


def http_reachability(url: str) -> Action:
    # Any HTTP answer proves the admin endpoint is there; the fault's own verify says whether it is clean.
    return HttpRequest("GET", url.rstrip("/") + "/", timeout=5.0, ok_status=tuple(range(100, 600)))


async def run_preflight(ctx: EngineContext, sc: Scenario, plans: Sequence[FaultPlan],
                        sources: Sequence[MetricSource], heartbeat: Heartbeat) -> set[str]:
    """Run every check; return the ids of optional faults to skip. Raises PreflightError when unsafe to start."""
    failures: list[str] = []
    skip: set[str] = set()

    ok = sc.environment in sc.blast_radius.allowed_environments
    ctx.emit("preflight-check", check="environment", target=None, ok=ok,
             detail="ok" if ok else f"environment {sc.environment!r} is not in blast_radius.allowed_environments")
    if not ok:
        failures.append(f"environment {sc.environment!r} is not allowed")

    by_target: dict[str, list[FaultPlan]] = {}
    for p in plans:
        by_target.setdefault(p.target, []).append(p)

    def journal(c: Check) -> None:
        ctx.emit("preflight-check", check=c.name, target=c.target, ok=c.ok, detail=c.detail)
        if c.name == "claim" and c.ok:
            # Renewed from this moment on by the heartbeat, so it cannot lapse during a long pre-flight.
            heartbeat.hold(c.target, sc.targets[c.target].sudo)
            if c.detail != "ok":
                ctx.emit("warning", message=c.detail)

    async def check_target(name: str) -> list[Check]:
        target = sc.targets[name]
        reach = http_reachability(target.url or "") if target.kind == "http" else api_reachability(target)
        if target.kind == "kubernetes":
            reach = KubeCall("version")  # the context answers; kubeconfig and context problems are named here
        # Hosts (ssh, local) are claimed: one room at a time. HTTP services have no claim yet (docs/faults.md).
        claim = (heartbeat.host_claim().take(heartbeat.claim_window, target.sudo)
                 if target.kind in CLAIMED_KINDS else None)
        try:
            return await preflight_host(ctx.executor(name), by_target[name], on_check=journal, reach=reach,
                                        claim=claim, stopped=stopped)
        except Exception as err:  # an executor that cannot even be built is an unreachable target
            c = Check("reachable", name, False, f"{name}: {err}")
            journal(c)
            return [c]

    for name in sorted(by_target):  # shown as running until each host's answer replaces it
        ctx.emit("preflight-check", check="reachable", target=name, ok=None, detail="checking…")
    # A stop during a fleet's pre-flight must not wait for every connection still queued or being set up.
    stopped = asyncio.Event()
    watch = asyncio.ensure_future(_watch_stop(ctx, stopped))
    try:
        results = await asyncio.gather(*(check_target(n) for n in sorted(by_target)))
    finally:
        watch.cancel()
    if ctx.stopping():
        left = sum(1 for checks in results for c in checks if c.detail.endswith(NOT_CONNECTED))
        raise PreflightError(f"pre-flight stopped: the session is stopping ({left} target(s) not connected)")
    for checks in results:
        for c in checks:
            if c.ok:
                continue
            # A missing capability only some optional faults need skips those faults instead of the session.
            needing = [p for p in by_target[c.target] if any(r.name == c.name for r in p.requires)]
            if needing and all(p.spec.optional for p in needing):
                skip.update(p.fault_id for p in needing)
                ctx.emit("warning", message=f"{c.detail}; optional fault(s) "
                                            f"{', '.join(p.fault_id for p in needing)} will be skipped")
            else:
                failures.append(c.detail)

    for src in sources:
        failures += await check_metrics(ctx, sc.observe.every, src)

    if failures:
        more = f" (and {len(failures) - 1} more, see the journal)" if len(failures) > 1 else ""
        raise PreflightError(f"pre-flight failed: {failures[0]}{more}")
    return skip


async def _watch_stop(ctx: EngineContext, stopped: asyncio.Event) -> None:
    """Set `stopped` once the session stops (looked at every STOP_POLL seconds on the session's clock)."""
    while not ctx.stopping():
        await ctx.clock.sleep(STOP_POLL)
    stopped.set()


def _real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


async def check_metrics(ctx: EngineContext, every: float, src: MetricSource) -> list[str]:
    """Every series of one source, by its own name: answering means a real, finite value (NaN, nothing, or a
    source that cannot be reached fails). A source's own pre-flight (Prometheus: one query per series) names
    what to change when it knows; the first samples then prove the values. Returns the failures."""
    series = list(src.series())
    own: dict[str, tuple[bool, str]] = {}
    failures: list[str] = []

    def journal(name: str, ok: bool, detail: str) -> None:
        ctx.emit("preflight-check", check="metrics", target=name, ok=ok, detail=detail)
        if not ok:
            failures.append(detail)

    try:
        await src.start()
        pre = getattr(src, "preflight", None)
        if pre is not None:
            for name, good, detail in await pre():
                own[str(name)] = (bool(good), str(detail))
    except Exception as err:
        for name in series or [src.name]:
            journal(name, False, f"metrics {name}: {err}")
        return failures
    wanted = [n for n in series if own.get(n, (True, ""))[0]]
    values, error, waited = await _first_real_values(ctx, every, src, wanted)
    for name in series:
        good, detail = own.get(name, (True, ""))
        value = values.get(name)
        if not good:
            journal(name, False, detail)
        elif error:
            journal(name, False, f"metrics {name}: {error}")
        elif _real(value):
            journal(name, True, f"{name} = {value:g}")
        else:
            got = "NaN" if isinstance(value, float) else "nothing"
            journal(name, False, f"metrics {name}: no real value within {waited:.0f}s (it answered {got}); a metric "
                                 "is answering only with a finite number")
    return failures


async def _first_real_values(ctx: EngineContext, every: float, src: MetricSource,
                             wanted: list[str]) -> tuple[dict[str, Any], str, float]:
    """Sample until every wanted series has a finite value, the source says it is unavailable, or the wait ends:
    (the latest values, an error or "", seconds waited). A prober needs a request or two before it has figures."""
    wait = min(METRICS_WAIT_MAX, max(METRICS_WAIT, 2 * every + float(getattr(src, "timeout", 0.0) or 0.0)))
    start = ctx.clock.monotonic()
    values: dict[str, Any] = {}
    while True:
        try:
            values = dict(await asyncio.wait_for(src.sample(), timeout=max(wait, 1.0)))
        except TimeoutError:
            return values, f"no answer within {wait:.0f}s", wait
        except Exception as err:  # SourceUnavailable (a dead probe, refused), or a broken source
            return values, str(err) or type(err).__name__, ctx.clock.monotonic() - start
        if all(_real(values.get(n)) for n in wanted):
            return values, "", ctx.clock.monotonic() - start
        if ctx.clock.monotonic() - start >= wait:
            return values, "", wait
        await ctx.clock.sleep(METRICS_POLL)

"""HTTP fault hooks through the HTTP executor against the demo service: inject, verify, leash renewal, revert."""

from __future__ import annotations

import asyncio
import time

import pytest

from controlroom.faults.catalogue import PlanContext, build_plan, catalogue, parse_params
from controlroom.lab.demo_service import DemoService
from controlroom.scenario.model import FaultSpec, Target
from controlroom.targets.base import HttpRequest
from controlroom.targets.http import HttpExecutor


@pytest.fixture
async def shop():
    svc = DemoService(seed=1)
    await svc.start()
    ex = HttpExecutor("shop")
    yield svc, ex, Target(name="shop", kind="http", url=svc.url + "/")
    await ex.close()
    await svc.stop()


def _plan(target: Target, kind: str, duration: float = 20.0, **params: object):
    return build_plan(FaultSpec(type=kind, target=target.name, params=dict(params)), target,
                      PlanContext(fault_id="step/0@shop", duration=duration, leash_window=7.0))


async def _all_ok(ex: HttpExecutor, actions) -> bool:
    for action in actions:
        if not (await ex.run(action)).ok:
            return False
    return True


async def test_latency_fault_round_trip(shop):
    svc, ex, target = shop
    plan = _plan(target, "http-latency", delay="150ms")
    assert plan.summary == "150ms latency on shop (admin endpoint)"
    assert plan.fault_id == "step/0@shop"
    inject = plan.inject[0]
    assert isinstance(inject, HttpRequest)
    assert inject.url == svc.url + "/admin/faults"  # the target's trailing slash is not doubled
    assert inject.json == {"latency_ms": 150.0, "ttl_s": 7.0}  # the heartbeat window, not the step's length
    assert await _all_ok(ex, [r.check for r in plan.requires])
    assert await _all_ok(ex, plan.clobber_check)
    assert await _all_ok(ex, plan.inject)
    assert not await _all_ok(ex, plan.verify)
    started = time.perf_counter()
    await ex.run(HttpRequest("GET", svc.url + "/checkout"))
    assert time.perf_counter() - started >= 0.15
    assert await _all_ok(ex, plan.revert)
    assert await _all_ok(ex, plan.verify)
    assert await _all_ok(ex, plan.revert)  # idempotent


async def test_leash_renewal_resets_the_service_side_ttl(shop):
    svc, ex, target = shop
    plan = _plan(target, "http-errors", rate="50%")
    assert plan.summary == "50% errors on shop (admin endpoint)"
    assert plan.leash is not None
    assert (await ex.run(plan.leash.arm(40.0))).ok
    left = svc.faults.snapshot()["error_rate_expires_in_s"]
    assert svc.faults.errors.value == 0.5 and 39 < left <= 40
    assert (await ex.run(plan.leash.arm(0.2))).ok
    assert svc.faults.snapshot()["error_rate_expires_in_s"] <= 0.2
    assert (await ex.run(plan.leash.disarm)).ok
    assert await _all_ok(ex, plan.verify)


async def test_a_renewal_extends_a_live_fault_and_never_reinjects_one_that_ran_out(shop):
    svc, ex, target = shop
    plan = _plan(target, "http-latency", delay="50ms")
    assert plan.leash is not None
    assert (await ex.run(plan.leash.arm(0.3))).ok
    renewed = await ex.run(plan.leash.renewal(7.0))  # the heartbeat's renewal: re-posting, marked as a renewal
    assert renewed.ok and 6.5 < svc.faults.snapshot()["latency_expires_in_s"] <= 7.0
    assert (await ex.run(plan.leash.arm(0.2))).ok
    await asyncio.sleep(0.3)  # the service-side leash runs out: the fault clears by itself
    late = await ex.run(plan.leash.renewal(7.0))
    assert not late.ok and late.status == 409 and plan.leash.fired(late)  # "the leash fired", not "unreachable"
    assert await _all_ok(ex, plan.verify)  # and the renewal did not put it back
    assert svc.faults.latency.value == 0.0


async def test_latency_and_errors_revert_independently(shop):
    _, ex, target = shop
    latency = _plan(target, "http-latency", delay="10ms")
    errors = _plan(target, "http-errors", rate="20%")
    assert await _all_ok(ex, latency.inject + errors.inject)
    assert await _all_ok(ex, latency.revert)
    assert await _all_ok(ex, latency.verify)
    assert not await _all_ok(ex, errors.verify)  # still active: reverting latency left it alone
    assert await _all_ok(ex, errors.revert)
    assert await _all_ok(ex, errors.verify)


async def test_generic_http_fault_sends_the_declared_requests(shop):
    svc, ex, target = shop
    plan = _plan(target, "http",
                 inject={"method": "post", "path": "/admin/faults", "json": {"error_rate": 1.0, "ttl_s": 30}},
                 revert={"method": "DELETE", "path": "/admin/faults"},
                 verify={"method": "GET", "path": "/admin/faults", "expect_json": {"error_rate": 0.0}})
    assert plan.leash is None and "no service-side leash" in plan.summary
    assert await _all_ok(ex, plan.inject)
    assert svc.faults.errors.value == 1.0
    assert not await _all_ok(ex, plan.verify)
    assert await _all_ok(ex, plan.revert)
    assert await _all_ok(ex, plan.verify)


def test_params_are_validated_with_units_and_shapes():
    lat = catalogue()["http-latency"]
    assert parse_params(lat, {"delay": "150ms"})[0] == {"delay": 0.15}
    assert parse_params(lat, {"delay": 150})[1]  # units are required
    assert parse_params(lat, {})[1][0][1].startswith("fault 'http-latency' needs parameter 'delay'")
    errs = catalogue()["http-errors"]
    assert parse_params(errs, {"rate": "50%"})[0] == {"rate": 50.0}
    generic = catalogue()["http"]
    _, problems = parse_params(generic, {
        "inject": {"method": "BREW", "path": "/x"},
        "revert": {"method": "DELETE", "path": "http://elsewhere/x"},
        "verify": {"method": "GET", "path": "/x", "extra": 1}})
    messages = " | ".join(m for _, m in problems)
    assert "method must be one of" in messages
    assert "path must start with '/'" in messages
    assert "unknown keys extra" in messages


def test_http_faults_need_a_target_url():
    with pytest.raises(ValueError, match="has no url"):
        _plan(Target(name="shop", kind="http"), "http-latency", delay="1s")

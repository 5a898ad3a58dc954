"""PrometheusSource against a real Prometheus scraping the demo service every second."""

from __future__ import annotations

import asyncio
import time
from itertools import pairwise

import pytest

from controlroom.errors import MetricsError
from controlroom.metrics.conditions import parse_condition
from controlroom.metrics.local_prometheus import LocalPrometheus, free_port
from controlroom.metrics.prometheus import PrometheusSource
from controlroom.metrics.source import MetricSource, SourceUnavailable
from controlroom.metrics.telemetry import TelemetryTracker, poll_sources
from controlroom.scenario.model import MetricSpec, PrometheusConfig
from tests.deps import require
from tests.prometheus.conftest import P99_MS, SUCCESS_RATE, Lab


def promql(**queries: str) -> dict[str, MetricSpec]:
    return {name: MetricSpec(name=name, source="promql", promql=q) for name, q in queries.items()}


async def test_instant_queries_reduce_each_series_to_one_number(prom_lab: Lab) -> None:
    src = PrometheusSource(
        PrometheusConfig(url=prom_lab.prometheus.url, timeout=2.0),
        promql(
            success_rate=SUCCESS_RATE,
            p99_ms=P99_MS,
            answer="vector(42)",
            scalar_answer="scalar(vector(3))",
            nan="vector(0) / 0",
        ),
    )
    assert isinstance(src, MetricSource)
    await src.start()
    try:
        values = await src.sample()
    finally:
        await src.close()
    assert src.series() == ["answer", "nan", "p99_ms", "scalar_answer", "success_rate"]
    assert values["answer"] == 42.0
    assert values["scalar_answer"] == 3.0
    assert values["nan"] is None  # 0/0 is "no data", not a number in the journal
    assert values["success_rate"] == pytest.approx(1.0)
    # The demo answers in ~2 ms (~20 ms on a loaded machine): a p99 well under its 150 ms latency fault.
    assert values["p99_ms"] is not None and 0 < values["p99_ms"] <= 100.0
    # NaN says why it is no data (and counts as lost telemetry when a condition names the series).
    assert list(src.last_errors) == ["nan"] and src.last_errors["nan"].startswith("NaN is not a number")


async def test_backfill_returns_the_recent_history_at_the_asked_step(prom_lab: Lab) -> None:
    src = PrometheusSource(PrometheusConfig(url=prom_lab.prometheus.url), promql(up='sum(up{job="sample"})'))
    await prom_lab.history(5)
    try:
        history = await src.backfill(seconds=4, step=1)
    finally:
        await src.close()
    points = history["up"]
    assert 3 <= len(points) <= 6
    assert all(value == 1.0 for _, value in points)
    times = [t for t, _ in points]
    assert times == sorted(times) and abs(times[-1] - time.time()) < 3
    assert all(b - a == pytest.approx(1.0) for a, b in pairwise(times))


async def test_preflight_explains_each_broken_query_in_one_line(prom_lab: Lab) -> None:
    src = PrometheusSource(
        PrometheusConfig(url=prom_lab.prometheus.url),
        promql(
            good=SUCCESS_RATE,
            typo="sum(rate(http_requests_total[5s]",
            empty='http_requests_total{path="/no-such-path"}',
            many='{__name__=~"up|scrape_duration_seconds", job="sample"}',
        ),
    )
    try:
        checks = {c.series: c for c in await src.preflight()}
    finally:
        await src.close()
    assert checks["good"].ok and checks["good"].detail.startswith("good = ")
    bad = checks["typo"]
    assert not bad.ok
    # Prometheus' own parser message comes through, after where to fix it.
    assert bad.detail.startswith("observe.metrics.typo: PromQL error: ")
    assert "unclosed left parenthesis" in bad.detail
    assert checks["empty"].detail == (
        "observe.metrics.empty: query returned no data; check the metric name and labels"
    )
    assert checks["many"].detail == "observe.metrics.many: query returns 2 series; aggregate it with sum() or sum by ()"
    assert all("\n" not in c.detail for c in checks.values())
    with pytest.raises(MetricsError, match=r"observe\.metrics\.empty: query returned no data"):
        await PrometheusSource(PrometheusConfig(url=prom_lab.prometheus.url), promql(empty='up{job="nope"}')).check()


async def test_a_refused_query_while_sampling_is_no_data_with_the_reason(prom_lab: Lab) -> None:
    src = PrometheusSource(
        PrometheusConfig(url=prom_lab.prometheus.url), promql(ok="vector(1)", broken="rate(up[5s]")
    )
    try:
        values = await src.sample()
    finally:
        await src.close()
    assert values == {"broken": None, "ok": 1.0}
    assert src.last_errors["broken"].startswith("PromQL error: ")


async def test_a_wrong_url_gives_a_clear_one_liner_and_unavailable_samples() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    src = PrometheusSource(PrometheusConfig(url=url, timeout=1.0), promql(success_rate="vector(1)"))
    try:
        [check] = await src.preflight()
        assert not check.ok
        assert check.detail == (
            f"observe.metrics.success_rate: cannot reach Prometheus at {url} (connection refused); "
            "check observe.prometheus.url"
        )
        with pytest.raises(SourceUnavailable, match="connection refused"):
            await src.sample()
    finally:
        await src.close()


async def test_a_url_that_is_not_prometheus_is_named_as_such(prom_lab: Lab) -> None:
    url = f"http://127.0.0.1:{prom_lab.service.port}"  # the demo service: HTTP, but 404 on /api/v1/query
    src = PrometheusSource(PrometheusConfig(url=url), promql(x="vector(1)"))
    try:
        [check] = await src.preflight()
    finally:
        await src.close()
    assert not check.ok
    assert check.detail == (
        f"observe.metrics.x: {url} does not answer like Prometheus (HTTP 404 on /api/v1/query); "
        "check observe.prometheus.url"
    )


async def test_killed_prometheus_is_lost_telemetry_with_the_scenario_policy() -> None:
    prom = LocalPrometheus(scrape=[], interval=1.0)
    if not prom.binary:
        require("prometheus")
    prom.start()
    src = PrometheusSource(PrometheusConfig(url=prom.url, timeout=0.5), promql(alive="vector(1)"))
    tracker = TelemetryTracker(policy="pause", lost_after=1.5)
    try:
        first = await poll_sources([src], tracker, time.monotonic(), deadline=1.0)
        assert first.values == {"alive": 1.0} and first.decisions == []
        prom.kill()
        killed_at = time.monotonic()
        decisions = []
        while not decisions and time.monotonic() - killed_at < 6:
            await asyncio.sleep(0.25)
            result = await poll_sources([src], tracker, time.monotonic(), deadline=1.0)
            assert result.values == {"alive": None}
            assert "cannot reach Prometheus" in result.errors["alive"]
            decisions = result.decisions
        lost_after = time.monotonic() - killed_at
    finally:
        prom.stop()
        await src.close()
    [decision] = decisions
    assert decision.kind == "lost" and decision.source == "prometheus"
    assert decision.action == "pause" and decision.event_type == "telemetry-lost"
    assert decision.payload["policy"] == "pause"
    assert "connection refused" in str(decision.payload["detail"])
    # Lost no sooner than lost_after after the last answer, and not long after it.
    assert 1.2 <= lost_after <= 3.5
    assert tracker.lost() == ["prometheus"]


async def test_the_lab_scenarios_promql_answers_against_the_sample_service(prom_lab: Lab) -> None:
    from dataclasses import replace
    from pathlib import Path

    from controlroom.scenario import load_scenario

    scenario = load_scenario(Path(__file__).parents[2] / "scenarios" / "lab-prometheus.yaml")
    assert scenario.observe.prometheus is not None
    config = replace(scenario.observe.prometheus, url=prom_lab.prometheus.url)
    src = PrometheusSource(config, scenario.observe.metrics)
    await prom_lab.history(11)  # rate()[10s] on a younger TSDB is extrapolated low
    assert src.series() == ["p99_ms", "rps", "success_rate"]
    try:
        checks = await src.preflight()
        values = await src.sample()
    finally:
        await src.close()
    assert [(c.series, c.ok) for c in checks] == [("p99_ms", True), ("rps", True), ("success_rate", True)]
    # The fixture's load is ~40 requests a second, all answered 200 in a few ms.
    assert values["rps"] is not None and 10 < values["rps"] < 60
    for cond in scenario.steady_state.require[:2]:
        assert parse_condition(cond).evaluate(values) is True, cond


# Last: it breaks the shared service for a while (and waits for it to recover).
async def test_a_stop_condition_on_promql_trips_when_the_service_fails(prom_lab: Lab) -> None:
    src = PrometheusSource(PrometheusConfig(url=prom_lab.prometheus.url), promql(success_rate=SUCCESS_RATE))
    stop = parse_condition("success_rate < 0.9")
    try:
        assert stop.evaluate(await src.sample()) is False
        prom_lab.service.inject_errors(0.5, ttl_s=20)
        injected = time.monotonic()
        tripped = None
        while time.monotonic() - injected < 15:
            values = await src.sample()
            if stop.evaluate(values):
                tripped = values["success_rate"]
                break
            await asyncio.sleep(0.5)
        assert tripped is not None, "success_rate never dropped below 0.9 with 50% errors"
        assert 0.2 < tripped < 0.9
        prom_lab.service.clear()
        cleared = time.monotonic()
        while time.monotonic() - cleared < 20:
            # Back to a clean window, so the tests after this one find a healthy shop.
            if (await src.sample())["success_rate"] == 1.0:
                break
            await asyncio.sleep(0.5)
        else:
            pytest.fail("success_rate did not recover after the fault was cleared")
    finally:
        prom_lab.service.clear()
        await src.close()


async def test_no_data_because_the_scrape_target_is_down_says_so() -> None:
    """The README walkthrough without the demo service: the query is right, the service is not running."""
    require("prometheus")
    with LocalPrometheus([f"127.0.0.1:{free_port()}"]) as prom:  # nothing listens there
        prom.wait_for_data("up == 0", timeout=30)
        src = PrometheusSource(PrometheusConfig(url=prom.url),
                               promql(success_rate='sum(rate(http_requests_total{path="/checkout"}[10s]))'))
        try:
            (check,) = await src.preflight()
        finally:
            await src.close()
    assert not check.ok
    assert check.detail.startswith("observe.metrics.success_rate: query returned no data, and Prometheus says its "
                                   "scrape target 127.0.0.1:")
    assert "is down (up == 0); start the service it scrapes" in check.detail
    assert "check the metric name" not in check.detail


def test_the_walkthrough_command_serves_the_shop_under_load_and_cleans_up() -> None:
    """README: `python -m controlroom.metrics.local_prometheus --demo-service 8089 -- controlroom run ...`:
    the command after `--` starts only once the checkout rate has data, and nothing is left running after."""
    import socket
    import subprocess
    import sys

    require("prometheus")
    shop, prom = free_port(), free_port()
    probe = ("import json, sys, urllib.parse, urllib.request\n"
             f"q = urllib.parse.urlencode({{'query': 'sum(rate(http_requests_total{{path=\"/checkout\"}}[10s]))'}})\n"
             f"r = json.load(urllib.request.urlopen('http://127.0.0.1:{prom}/api/v1/query?' + q))['data']['result']\n"
             "sys.exit(0 if r and float(r[0]['value'][1]) > 0 else 5)\n")
    done = subprocess.run([sys.executable, "-m", "controlroom.metrics.local_prometheus", "--demo-service", str(shop),
                           "--port", str(prom), "--", sys.executable, "-c", probe],
                          capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ready: the first scrape has landed" in done.stdout
    for port in (shop, prom):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still served after the command ended"

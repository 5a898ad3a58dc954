"""Metrics figures: the metrics loop's cost at 20 series a second, and error burst -> stop condition, Prometheus vs prober.

Everything stays on loopback: the demo sample service in a child process, a
throwaway Prometheus scraping it every second, and the load in this process.
Skipped (exit with a reason) when the `prometheus` binary is missing.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

SERIES = 20
ERROR_RATE = 0.5
STOP = "success_rate < 0.9"
WINDOW = "5s"  # rate() window in the PromQL; the prober's own window is 2 s


def _proc_cpu_ms(pid: int) -> float:
    """User + system CPU of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks * 1000.0 / os.sysconf("SC_CLK_TCK")


def _start_service() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "controlroom.lab.demo_service", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if not m:
        proc.kill()
        raise RuntimeError(f"demo service did not start: {line!r}")
    return proc, int(m.group(1))


def _queries() -> dict[str, str]:
    """20 series of the kinds a scenario uses: ratios, quantiles, rates."""
    path = '{path="/checkout"}'
    base = {
        "success_rate": f'sum(rate(http_requests_total{{path="/checkout",code!~"5.."}}[{WINDOW}])) / sum(rate(http_requests_total{path}[{WINDOW}]))',
        "p99_ms": f"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{path}[{WINDOW}]))) * 1000",
        "p50_ms": f"histogram_quantile(0.50, sum by (le) (rate(http_request_duration_seconds_bucket{path}[{WINDOW}]))) * 1000",
        "rps": f"sum(rate(http_requests_total{path}[{WINDOW}]))",
    }
    out = dict(base)
    i = 0
    while len(out) < SERIES:
        name, query = list(base.items())[i % len(base)]
        out[f"{name}_{i}"] = query.replace(WINDOW, f"{5 + i}s")
        i += 1
    return out


async def _overhead(prom_url: str, prom_pid: int, intervals: int = 20) -> dict[str, float]:
    from controlroom.metrics.conditions import parse_condition
    from controlroom.metrics.prometheus import PrometheusSource
    from controlroom.metrics.steady import SampleHistory, evaluate_steady
    from controlroom.metrics.telemetry import TelemetryTracker, poll_sources
    from controlroom.scenario.model import MetricSpec, PrometheusConfig

    metrics = {n: MetricSpec(name=n, source="promql", promql=q) for n, q in _queries().items()}
    src = PrometheusSource(PrometheusConfig(url=prom_url), metrics)
    tracker = TelemetryTracker()
    history = SampleHistory(keep=30)
    require = [parse_condition("success_rate >= 0.99"), parse_condition("p99_ms < 500")]
    await src.start()
    await poll_sources([src], tracker, time.monotonic(), deadline=2.0)  # warm the connection pool
    cpu0, prom0, wall = time.process_time(), _proc_cpu_ms(prom_pid), []
    for _ in range(intervals):
        t0 = time.perf_counter()
        result = await poll_sources([src], tracker, time.monotonic(), deadline=2.0)
        history.add(time.monotonic(), result.values)
        evaluate_steady(history.samples(), require, window=10, now=time.monotonic())
        wall.append(time.perf_counter() - t0)
        assert not result.decisions, result.decisions
        await asyncio.sleep(0.2)
    cpu = (time.process_time() - cpu0) * 1000 / intervals
    prom_cpu = (_proc_cpu_ms(prom_pid) - prom0) / intervals
    await src.close()
    return {"cpu_ms": cpu, "prom_cpu_ms": prom_cpu, "wall_ms": statistics.median(wall) * 1000}


async def _detection(prom_url: str, port: int, runs: int) -> tuple[list[float], list[float]]:
    import httpx

    from controlroom.lab.load import LoadGenerator
    from controlroom.metrics.conditions import parse_condition
    from controlroom.metrics.prober import HttpProber
    from controlroom.metrics.prometheus import PrometheusSource
    from controlroom.scenario.model import MetricSpec, PrometheusConfig

    shop = f"http://127.0.0.1:{port}"
    q = _queries()["success_rate"]
    prom = PrometheusSource(PrometheusConfig(url=prom_url), {"success_rate": MetricSpec("success_rate", "promql", promql=q)})
    prober = HttpProber("checkout", f"{shop}/checkout", every=1.0, timeout=1.0)
    load = LoadGenerator(f"{shop}/checkout", rps=40)
    stop_prom = parse_condition(STOP)
    stop_probe = parse_condition("checkout." + STOP)
    await prom.start()
    await prober.start()
    load.start()
    prom_delays: list[float] = []
    probe_delays: list[float] = []
    async with httpx.AsyncClient(base_url=shop, trust_env=False) as admin:
        await asyncio.sleep(12)  # a full rate() window of clean traffic in Prometheus
        for _ in range(runs):
            await admin.post("/admin/faults", json={"error_rate": ERROR_RATE, "ttl_s": 30})
            burst = time.monotonic()
            seen_prom = seen_probe = None
            while (seen_prom is None or seen_probe is None) and time.monotonic() - burst < 20:
                values_prom, values_probe = await asyncio.gather(prom.sample(), prober.sample())
                now = time.monotonic() - burst
                if seen_prom is None and stop_prom.evaluate(values_prom):
                    seen_prom = now
                if seen_probe is None and stop_probe.evaluate(values_probe):
                    seen_probe = now
                await asyncio.sleep(0.1)
            await admin.delete("/admin/faults")
            if seen_prom is not None:
                prom_delays.append(seen_prom)
            if seen_probe is not None:
                probe_delays.append(seen_probe)
            # Let both windows forget the burst before the next one.
            calm = time.monotonic()
            while time.monotonic() - calm < 30:
                v = await prom.sample()
                if (v.get("success_rate") or 0) >= 0.999:
                    break
                await asyncio.sleep(0.5)
            await asyncio.sleep(1)
    await load.stop()
    await prober.close()
    await prom.close()
    return prom_delays, probe_delays


def main() -> None:
    if shutil.which("prometheus") is None:
        raise SystemExit("needs the 'prometheus' binary (Debian package prometheus)")
    from controlroom.metrics.local_prometheus import LocalPrometheus

    service, port = _start_service()
    try:
        with LocalPrometheus([f"127.0.0.1:{port}"], interval=1.0) as prom:
            assert prom.proc is not None
            prom.wait_for_data("up", timeout=20)
            figures = asyncio.run(_overhead(prom.url, prom.proc.pid))
            print(f"   metrics loop, {SERIES} PromQL series per interval: {figures['cpu_ms']:.1f} ms CPU in controlroom, "
                  f"{figures['prom_cpu_ms']:.1f} ms CPU in Prometheus, {figures['wall_ms']:.1f} ms wall (median)")
            runs = int(os.environ.get("BENCH_METRICS_RUNS", "3"))
            prom_delays, probe_delays = asyncio.run(_detection(prom.url, port, runs))
            def show(d: list[float]) -> str:
                if not d:
                    return "never fired"
                return f"median {statistics.median(d):.1f} s (runs: {', '.join(f'{x:.1f}' for x in d)})"
            print(f"   error burst ({ERROR_RATE:.0%} errors, 40 req/s) -> '{STOP}' true:")
            print(f"     through Prometheus (scrape 1 s, rate[{WINDOW}]): {show(prom_delays)}")
            print(f"     built-in prober (2 s window):               {show(probe_delays)}")
    finally:
        service.terminate()
        service.wait(5)


if __name__ == "__main__":
    main()

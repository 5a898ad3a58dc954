"""The simulated Kubernetes cluster: start, 1,000 pods, list + selection by selector and mode, a 50-object delete.

Figures of the stand-in and of kr8s against it (the product's client), as the baseline for the
Kubernetes integration's own figures (issue 14: selection of 20 % of 1,000 pods <= 100 ms; e-stop of
50 Chaos Mesh objects across 5 namespaces <= 300 ms). `python -m benchmarks kube`.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _ms(samples: list[float]) -> str:
    samples = sorted(samples)
    return f"median {statistics.median(samples) * 1000:6.1f} ms, max {samples[-1] * 1000:6.1f} ms"


def import_time() -> float:
    code = "import time; t = time.perf_counter(); import kr8s.asyncio, kr8s.asyncio.objects; print(time.perf_counter() - t)"
    return min(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
               for _ in range(3))


async def run() -> None:
    import httpx
    import kr8s.asyncio

    from controlroom.lab.kube import SimulatedCluster, StandinConfig, Timings
    from controlroom.lab.kube.controllers.chaosmesh import filter_by_mode
    from controlroom.lab.kube.selectors import parse_label_selector

    t0 = time.perf_counter()
    cluster = SimulatedCluster(StandinConfig(timings=Timings.fast()))
    await cluster.start()
    print(f"stand-in start (CRDs loaded, TLS made):  {(time.perf_counter() - t0) * 1000:7.0f} ms")
    try:
        t0 = time.perf_counter()
        cluster.add_namespace("big")
        cluster.add_deployment("big", "web", replicas=1000)
        cluster.add_deployment("big", "other", replicas=50)
        await cluster.wait_ready("big", "web", timeout=120)
        print(f"1,000-replica Deployment ready:          {time.perf_counter() - t0:7.1f} s")
        rng = random.Random(1)
        labels = parse_label_selector("app=web")
        rt = cluster.rt("pods")
        inner = []
        for _ in range(20):
            t0 = time.perf_counter()
            chosen = filter_by_mode(cluster.store.query(rt, "big", labels), "fixed-percent", "20", rng)
            inner.append(time.perf_counter() - t0)
        assert len(chosen) == 200
        print(f"store: select app=web + 20 % of 1,000:   {_ms(inner)}")
        with tempfile.TemporaryDirectory() as d:
            kubeconfig = cluster.write_kubeconfig(Path(d) / "kubeconfig")
            async with httpx.AsyncClient(base_url=cluster.url, verify=cluster.client_ssl_context(),
                                         headers={"Authorization": f"Bearer {cluster.token}"}) as http:
                raw = []
                for _ in range(20):
                    t0 = time.perf_counter()
                    r = await http.get("/api/v1/namespaces/big/pods", params={"labelSelector": "app=web"})
                    items = r.json()["items"]
                    filter_by_mode(items, "fixed-percent", "20", rng)
                    raw.append(time.perf_counter() - t0)
                assert len(items) == 1000
                print(f"HTTPS list (httpx) + 20 % selection:     {_ms(raw)}")
            api = await kr8s.asyncio.api(kubeconfig=str(kubeconfig))
            timed = []
            for _ in range(10):
                t0 = time.perf_counter()
                pods = [p async for p in api.get("pods", namespace="big", label_selector="app=web")]
                filter_by_mode(pods, "fixed-percent", "20", rng)
                timed.append(time.perf_counter() - t0)
            assert len(pods) == 1000
            print(f"kr8s list (10 pages of 100) + 20 %:      {_ms(timed)}")
            timed = []
            for _ in range(10):
                t0 = time.perf_counter()
                async with api.call_api("GET", version="v1", url="pods", namespace="big",
                                        params={"labelSelector": "app=web"}) as r:
                    items = r.json()["items"]
                filter_by_mode(items, "fixed-percent", "20", rng)
                timed.append(time.perf_counter() - t0)
            print(f"kr8s call_api, one page, raw dicts:      {_ms(timed)}")
    finally:
        await cluster.stop()
    assert not cluster.errors, cluster.errors


async def delete_fifty(api: Any) -> None:
    """50 NetworkChaos across 5 namespaces, injected; delete 25 at once and 25 eight at a time, then GET each
    until 404 (10 ms polls). The stand-in runs in its own process, recover_delay 0: this is the client's cost."""
    from kr8s._exceptions import NotFoundError
    from kr8s.asyncio.objects import Deployment, Namespace, new_class

    _, plural, _ = await api.lookup_kind("NetworkChaos.chaos-mesh.org")
    kind = new_class("NetworkChaos", "chaos-mesh.org/v1alpha1", namespaced=True, plural=plural)
    for n in range(5):
        await Namespace({"metadata": {"name": f"team{n}"}}, api=api).create()
        await Deployment({"metadata": {"name": "svc", "namespace": f"team{n}"}, "spec": {
            "replicas": 2, "selector": {"matchLabels": {"app": "svc"}}, "template": {
                "metadata": {"labels": {"app": "svc"}}, "spec": {"containers": [{"name": "svc", "image": "x:1"}]}}}},
            api=api).create()
    for n in range(5):
        dep = await Deployment.get("svc", namespace=f"team{n}", api=api)
        await dep.wait("condition=Available", timeout=30)
    objs = []
    for i in range(50):
        obj = kind({"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "NetworkChaos",
                    "metadata": {"name": f"delay-{i}", "namespace": f"team{i % 5}"},
                    "spec": {"action": "delay", "mode": "all", "duration": "5m", "delay": {"latency": "100ms"},
                             "selector": {"labelSelectors": {"app": "svc"}}}}, api=api)
        await obj.create()
        objs.append(obj)
    for obj in objs:
        await obj.wait("condition=AllInjected", timeout=30)

    async def gone(o: Any) -> None:
        while True:
            try:
                await o.refresh()
            except NotFoundError:
                return
            await asyncio.sleep(0.01)

    one = []
    for _ in range(20):
        t0 = time.perf_counter()
        await objs[0].refresh()
        one.append(time.perf_counter() - t0)
    print(f"kr8s GET of one object (round trip):     {_ms(one)}")
    half = len(objs) // 2
    for label, batch, width in (("all at once", objs[:half], half), ("8 at a time", objs[half:], 8)):
        gate = asyncio.Semaphore(width)

        async def delete(o: Any, gate: asyncio.Semaphore = gate) -> None:
            async with gate:
                await o.delete()

        t0 = time.perf_counter()
        await asyncio.gather(*(delete(o) for o in batch))
        sent = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(gone(o) for o in batch)), 30)
        done = time.perf_counter()
        print(f"delete {len(batch)} NetworkChaos, {label}: answered {(sent - t0) * 1000:5.0f} ms, "
              f"all confirmed 404 {(done - t0) * 1000:5.0f} ms")


def against_process() -> None:
    import kr8s.asyncio

    with tempfile.TemporaryDirectory() as d:
        kubeconfig = Path(d) / "kubeconfig"
        proc = subprocess.Popen([sys.executable, "-m", "controlroom.lab.kube", "serve", "--fast", "--kubeconfig",
                                 str(kubeconfig)], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            while "ready" not in proc.stdout.readline():
                assert proc.poll() is None, "the simulated cluster exited"

            async def go() -> None:
                await delete_fifty(await kr8s.asyncio.api(kubeconfig=str(kubeconfig)))

            asyncio.run(go())
        finally:
            proc.terminate()
            proc.wait(10)


def main() -> None:
    print(f"import kr8s.asyncio (+objects):          {import_time() * 1000:7.0f} ms (best of 3, fresh interpreter)")
    asyncio.run(run())
    against_process()


if __name__ == "__main__":
    main()

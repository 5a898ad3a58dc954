"""The Kubernetes integration's figures (issue 14), against the simulated cluster in its own process:

* selection of 20 % of 1,000 pods by selector + mode, through the product's executor (kr8s `call_api`,
  a real kubeconfig, HTTPS): target <= 100 ms;
* the e-stop of 50 Chaos Mesh objects across 5 namespaces, through the session's one rollback path,
  to every object deleted and verified gone: target <= 300 ms;
* `controlroom --help` start-up (kr8s is never imported): target <= 150 ms.
`python -m benchmarks k8s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path


def _ms(samples: list[float]) -> str:
    samples = sorted(samples)
    return f"median {statistics.median(samples) * 1000:6.1f} ms, max {samples[-1] * 1000:6.1f} ms (n={len(samples)})"


@contextlib.contextmanager
def standin(d: Path, *args: str) -> Iterator[Path]:
    kubeconfig = d / "kubeconfig"
    proc = subprocess.Popen([sys.executable, "-m", "controlroom.lab.kube", "serve", "--fast", "--kubeconfig",
                             str(kubeconfig), *args], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        while "ready" not in proc.stdout.readline():
            assert proc.poll() is None, "the simulated cluster exited"
        yield kubeconfig
    finally:
        proc.terminate()
        proc.wait(10)


def _target(kubeconfig: Path, name: str, ns: str, selector: str, extra: str = "") -> str:
    return (f"  {name}: {{kubernetes: {{kubeconfig: {kubeconfig}, context: controlroom-sim, namespace: {ns}, "
            f"selector: {selector}{extra}}}}}\n")


def _scenario(d: Path, targets: str, steps: str, max_targets: int = 1) -> object:
    from controlroom.scenario import load_scenario

    path = d / "bench.yaml"
    path.write_text(textwrap.dedent(f"""\
        version: 1
        name: bench
        hypothesis: h
        environment: sim
        unobserved: true
        blast_radius: {{max_targets: {max_targets}, max_duration: 5m, allowed_environments: [sim], max_pods: 1000}}
        targets:
        """) + targets + "steps:\n" + textwrap.indent(textwrap.dedent(steps), "  "))
    return load_scenario(path)


async def _wait_ready(kubeconfig: Path, namespaces: list[str], replicas: int) -> None:
    from controlroom.scenario.model import KubernetesRef, Target
    from controlroom.targets.kubernetes import KubeExecutor, _ready

    ex = KubeExecutor(Target("w", "kubernetes", kubernetes=KubernetesRef(
        context="controlroom-sim", namespace=namespaces[0], selector="app", namespaces=tuple(namespaces),
        kubeconfig=str(kubeconfig))))
    try:
        async with asyncio.timeout(120):
            while True:
                pods = await ex.list_pods(namespaces, "app")
                if sum(1 for p in pods if _ready(p)) >= replicas * len(namespaces):
                    return
                await asyncio.sleep(0.2)
    finally:
        await ex.close()


def selection(d: Path) -> None:
    from controlroom.scenario.model import KubernetesRef, Target
    from controlroom.targets.base import KubeCall
    from controlroom.targets.kubernetes import KubeExecutor

    with standin(d, "--sample", "--replicas", "1000") as kubeconfig:
        async def go() -> None:
            await _wait_ready(kubeconfig, ["shop"], 1000)
            ex = KubeExecutor(Target("checkout", "kubernetes", kubernetes=KubernetesRef(
                context="controlroom-sim", namespace="shop", selector="app=checkout", mode="fixed-percent",
                value="20%", kubeconfig=str(kubeconfig))))
            ex.bind_session("bench")
            try:
                await ex.run(KubeCall("version"))  # connect once: a session's pre-flight has
                times = []
                for i in range(15):
                    result = await ex.run(KubeCall("select", fault=f"f{i}"))
                    assert result.ok and result.record is not None and len(result.record["pods"]) == 200, result
                    times.append(result.elapsed)
                print(f"select 20 % of 1,000 pods (executor, kr8s call_api, HTTPS): {_ms(times)}; target <= 100 ms")
            finally:
                await ex.close()

        asyncio.run(go())


def estop(d: Path) -> None:
    from controlroom.engine.session import Session
    from controlroom.journal import read_journal

    with standin(d) as kubeconfig:
        import httpx
        import yaml

        from tests.kube.fixtures import sync_client_from_kubeconfig

        namespaces = [f"team-{i}" for i in range(1, 6)]
        with sync_client_from_kubeconfig(kubeconfig) as http:
            for ns in namespaces:
                http.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                      "metadata": {"name": ns}}).raise_for_status()
                dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
                       "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                                "template": {"metadata": {"labels": {"app": "web"}},
                                             "spec": {"containers": [{"name": "web", "image": "sim/web:1"}]}}}}
                http.post(f"/apis/apps/v1/namespaces/{ns}/deployments", json=dep).raise_for_status()
        del httpx, yaml
        targets = "".join(_target(kubeconfig, ns, ns, "app=web", ", mode: one") for ns in namespaces)
        faults = "".join(f"    - {{type: chaos-network-delay, target: {ns}, latency: {10 + i}ms}}\n"
                         for ns in namespaces for i in range(10))
        steps = f"- id: storm\n  title: storm\n  confirm: false\n  duration: 2m\n  faults:\n{faults}"
        times = []
        for run_no in range(5):
            sc = _scenario(d, targets, steps, max_targets=5)
            journal = d / f"j{run_no}.jsonl"

            async def go(sc: object, journal: Path) -> float:
                await _wait_ready(kubeconfig, namespaces, 2)
                s = Session(sc, journal_path=journal, control=False)  # type: ignore[arg-type]
                injected = asyncio.Event()
                count = [0]

                def listen(event: object) -> None:
                    if getattr(event, "type", "") == "fault-injected":
                        count[0] += 1
                        if count[0] == 50:
                            injected.set()

                s.subscribe(listen)
                task = asyncio.ensure_future(s.run())
                async with asyncio.timeout(60):
                    await injected.wait()
                t0 = time.perf_counter()
                await s.emergency_stop("key", "bench")
                took = time.perf_counter() - t0
                outcome = await task
                assert outcome.unconfirmed == (), outcome
                return took

            took = asyncio.run(go(sc, journal))
            evs = read_journal(journal).events
            reverted = [e for e in evs if e.type == "fault-reverted" and e.data.get("verified")]
            assert len(reverted) == 50, len(reverted)
            times.append(took)
        print(f"e-stop of 50 Chaos Mesh objects in 5 namespaces, all deleted + verified gone: {_ms(times)}; "
              "target <= 300 ms")


def help_startup() -> None:
    def once() -> float:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "controlroom", "--help"], capture_output=True, check=True)
        return time.perf_counter() - t0

    print(f"`controlroom --help` (kr8s not imported): {_ms([once() for _ in range(7)])}; target <= 150 ms")


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        selection(Path(d))
    with tempfile.TemporaryDirectory() as d:
        estop(Path(d))
    help_startup()


if __name__ == "__main__":
    main()

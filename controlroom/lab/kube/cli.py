"""`python -m controlroom.lab.kube serve`: run a simulated cluster until interrupted, with its kubeconfig.

HTTPS with a throwaway CA (in the kubeconfig) and a bearer token; it only ever binds loopback. Every line it prints starts with
"simulated cluster", so a facilitator rehearsing on a laptop cannot mistake it for a real one.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from controlroom.errors import ControlroomError
from controlroom.lab.kube.config import SIM_CONTEXT, StandinConfig, Timings

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m controlroom.lab.kube",
                                 description="A SIMULATED Kubernetes cluster on loopback (API stand-in with "
                                             "Deployment, Chaos Mesh and Litmus controllers). Not a real cluster.")
    sub = ap.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the simulated cluster until Ctrl-C / SIGTERM")
    serve.add_argument("--kubeconfig", required=True, help="kubeconfig file to write (never overwrites one that "
                                                           "the simulated cluster did not write)")
    serve.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    serve.add_argument("--host", default="127.0.0.1", help="loopback address to bind (127.0.0.1 or ::1)")
    serve.add_argument("--context", default=SIM_CONTEXT, help=f"context name in the kubeconfig (default {SIM_CONTEXT})")
    serve.add_argument("--namespace", default="default", help="the context's namespace (default: default)")
    serve.add_argument("--sample", action="store_true", help="add namespace shop with Deployment checkout "
                                                             "(label app=checkout)")
    serve.add_argument("--replicas", type=int, default=5, help="replicas of the sample Deployment (default 5)")
    serve.add_argument("--fast", action="store_true", help="pods start and recover in ~0.1 s instead of ~2 s")
    serve.add_argument("--no-chaos-mesh", action="store_true", help="no Chaos Mesh CRDs nor controller")
    serve.add_argument("--no-chaos-mesh-controller", action="store_true",
                       help="Chaos Mesh CRDs installed, its controller absent")
    serve.add_argument("--no-litmus", action="store_true", help="no Litmus CRDs nor operator")
    serve.add_argument("--no-litmus-operator", action="store_true", help="Litmus CRDs installed, operator absent")
    serve.add_argument("--seed", type=int, default=None, help="seed for the chaos stand-ins' random choices")
    serve.add_argument("--plain-http", action="store_true", help="serve HTTP instead of HTTPS (kubectl then sends "
                                                                 "no token: only for debugging other clients)")
    return ap


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_serve(args))
    except ControlroomError as err:
        print(f"simulated cluster: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 0


async def _serve(args: argparse.Namespace) -> int:
    from controlroom.lab.kube.cluster import SimulatedCluster
    from controlroom.lab.kube.kubeconfig import KubeconfigError

    if args.host not in LOOPBACK:
        raise KubeconfigError(f"--host {args.host}: the simulated cluster binds loopback only "
                              f"({', '.join(LOOPBACK)})")
    if not 0 <= args.port <= 65535:
        raise KubeconfigError(f"--port {args.port}: must be 0..65535")
    config = StandinConfig(host="127.0.0.1" if args.host == "localhost" else args.host, port=args.port,
                           timings=Timings.fast() if args.fast else Timings(),
                           chaos_mesh_crds=not args.no_chaos_mesh,
                           chaos_mesh_controller=not (args.no_chaos_mesh or args.no_chaos_mesh_controller),
                           litmus_crds=not args.no_litmus,
                           litmus_operator=not (args.no_litmus or args.no_litmus_operator), seed=args.seed,
                           tls=not args.plain_http)
    cluster = SimulatedCluster(config)
    try:
        await cluster.start()
    except OSError as err:
        raise KubeconfigError(f"cannot listen on {args.host}:{args.port}: {err.strerror or err}") from None
    try:
        path = cluster.write_kubeconfig(args.kubeconfig, context=args.context, namespace=args.namespace)
        say(f"serving the Kubernetes API on {cluster.url} - NOT a real cluster")
        say(f"kubeconfig {path}, context {args.context} (export KUBECONFIG={path})")
        if args.sample:
            cluster.add_sample(replicas=args.replicas)
            say(f"sample: namespace shop, Deployment checkout, {args.replicas} replicas (label app=checkout)")
            if config.litmus_crds:
                install_litmus_experiment(cluster, "shop")
                say("sample: Litmus ChaosExperiment pod-delete in shop")
        installed = []
        if config.chaos_mesh_crds:
            installed.append("Chaos Mesh CRDs" + (" + controller" if config.chaos_mesh_controller else
                                                  " (controller absent)"))
        if config.litmus_crds:
            installed.append("Litmus CRDs" + (" + operator" if config.litmus_operator else " (operator absent)"))
        say("installed: " + (", ".join(installed) or "no chaos tooling"))
        say("ready (Ctrl-C or SIGTERM stops it)")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await cluster.stop()
    say("stopped")
    if cluster.errors:
        print("simulated cluster: a simulated controller failed:\n" + "\n".join(cluster.errors), file=sys.stderr)
        return 1
    return 0


def install_litmus_experiment(cluster: object, namespace: str) -> None:
    """The upstream pod-delete ChaosExperiment (bundled example, Apache-2.0) in `namespace`, as the ChaosHub
    installs it: a Litmus ChaosEngine step needs it there."""
    import copy
    from importlib import resources

    import yaml

    text = (resources.files("controlroom.lab.kube") / "data" / "litmus" / "examples" / "pod-delete-experiment.yaml"
            ).read_text(encoding="utf-8")
    doc = copy.deepcopy(next(d for d in yaml.safe_load_all(text) if d))
    doc["metadata"]["namespace"] = namespace
    cluster.create(doc)  # type: ignore[attr-defined]


def say(text: str) -> None:
    print(f"simulated cluster: {text}", flush=True)

"""`controlroom lab up [--hosts N] | down | status | kube`: the local rehearsal lab from the command line.

`controlroom lab kube` runs the simulated Kubernetes cluster (`controlroom.lab.kube`) in the foreground with
the sample Deployment (namespace shop, app=checkout) and writes its kubeconfig (default
`/tmp/controlroom-sim/kubeconfig`); everything it prints says "simulated cluster". It needs no root.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from controlroom.errors import ControlroomError
from controlroom.lab.netns import DEFAULT_STATE_DIR, Lab, LabConfig, LabError, subnet_for

STATE_DIR_ENV = "CONTROLROOM_LAB_DIR"


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="controlroom lab", description="Local rehearsal lab: hosts in network "
                                 "namespaces, each with its own sshd (needs root).")
    ap.add_argument("--dir", default=os.environ.get(STATE_DIR_ENV, str(DEFAULT_STATE_DIR)),
                    help=f"lab state directory (default {DEFAULT_STATE_DIR}, or ${STATE_DIR_ENV})")
    sub = ap.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="bring up N hosts h1..hN on 10.77.0.0/24 (wider above 244 hosts), with a "
                                   "sample service on h1 -> h2")
    up.add_argument("--hosts", type=int, default=3, help="number of hosts (default 3)")
    up.add_argument("--no-service", action="store_true", help="do not start the sample HTTP service")
    defaults = LabConfig()
    up.add_argument("--prefix", default=defaults.prefix,
                    help=f"namespace prefix, for a second lab beside the first (default {defaults.prefix})")
    up.add_argument("--bridge", default=defaults.bridge, help=f"bridge name (default {defaults.bridge})")
    up.add_argument("--subnet", default=None,
                    help=f"IPv4 subnet (default {defaults.subnet}, widened to a /23 above 244 hosts and a /22 "
                         f"above 500)")
    sub.add_parser("down", help="remove everything the lab made (also after a crash)")
    sub.add_parser("status", help="show the hosts and whether their sshd answers")
    toxi = sub.add_parser("toxiproxy", help="no root: the demo shop behind the Toxiproxy stand-in, for "
                                            "scenarios/toxiproxy-latency.yaml (until Ctrl-C)")
    toxi.add_argument("--api-port", type=int, default=8474)
    toxi.add_argument("--listen-port", type=int, default=20000)
    sub.add_parser("kube", help="run a SIMULATED Kubernetes cluster with a sample Deployment, in the foreground "
                                "(options: controlroom lab kube --help)", add_help=False)
    return ap


KUBE_KUBECONFIG = "/tmp/controlroom-sim/kubeconfig"


def kube_argv(argv: list[str]) -> list[str]:
    """`lab kube [options]` -> the simulated cluster's `serve` arguments, with the sample and a default kubeconfig."""
    out = ["serve", *argv]
    if not any(a == "--kubeconfig" or a.startswith("--kubeconfig=") for a in argv):
        os.makedirs(os.path.dirname(KUBE_KUBECONFIG), mode=0o700, exist_ok=True)
        out += ["--kubeconfig", KUBE_KUBECONFIG]
    if "--sample" not in argv and "--no-sample" not in argv:
        out.append("--sample")
    return [a for a in out if a != "--no-sample"]


def main(argv: list[str]) -> int:
    if argv[:1] == ["kube"]:
        from controlroom.lab.kube.cli import main as kube_main

        return kube_main(kube_argv(argv[1:]))
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except ControlroomError as err:
        print(f"controlroom lab: {err}", file=sys.stderr)
        return err.exit_code


def _run(args: argparse.Namespace) -> int:
    if args.command == "toxiproxy":
        from controlroom.lab.toxi_demo import main as toxi_main

        toxi_main(["--api-port", str(args.api_port), "--listen-port", str(args.listen_port)])
        return 0
    if args.command == "up":
        subnet = args.subnet or subnet_for(max(1, args.hosts))
        try:
            config = LabConfig(state_dir=Path(args.dir), prefix=args.prefix, bridge=args.bridge, subnet=subnet)
            config.network  # noqa: B018  (parses the subnet now, as a one-line error)
        except ValueError as err:
            raise LabError(f"--subnet {subnet!r}: {err}") from None
    else:
        config = LabConfig(state_dir=Path(args.dir))  # a lab that is up uses the names it recorded
    lab = Lab(config)
    cfg = lab.config
    if args.command == "up":
        started = time.monotonic()
        hosts = lab.up(args.hosts, service=not args.no_service)
        print(f"lab up: {len(hosts)} hosts in {time.monotonic() - started:.2f}s on {cfg.subnet} (bridge {cfg.bridge})")
        for h in hosts:
            print(f"  {h.name:<4} {h.ip:<15} netns {h.netns}")
        if lab.state and lab.state.service:
            svc = lab.state.service
            print(f"sample service: front {svc['front']} on {svc['front_host']} -> backend {svc['backend']} "
                  f"on {svc['backend_host']}")
        print(f"ssh:  ssh -F {cfg.ssh_config} h1")
        print(f"use:  export CONTROLROOM_SSH_CONFIG={cfg.ssh_config}   # then scenarios/lab-*.yaml reach h1..h{len(hosts)}")
        return 0
    if args.command == "down":
        removed = lab.down()
        print(f"lab down: removed {len(removed)} namespaces/bridges" if removed else "lab down: nothing to remove")
        return 0
    if not lab.is_up:
        print("lab: not up (start it with `controlroom lab up`)")
        return 1
    rows = lab.status()
    print(f"lab: {len(rows)} hosts, state {cfg.state_file}, ssh config {cfg.ssh_config}")
    for row in rows:
        state = "ssh ok" if row["ssh"] else ("sshd running, not answering" if row["alive"] else "DOWN")
        print(f"  {row['host']:<4} {row['ip']:<15} {state}")
    if lab.state and lab.state.service:
        print(f"sample service: {lab.state.service['front']}")
    return 0 if all(r["ssh"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

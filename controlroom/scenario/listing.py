"""`controlroom list`: the scenarios in a folder, one summary each, broken ones included with their first problem."""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from controlroom.errors import Problem, ScenarioError
from controlroom.scenario.model import Scenario

SUFFIXES = (".yaml", ".yml")
LAB_NETWORK = ipaddress.ip_network("10.77.0.0/24")  # controlroom lab's bridge (controlroom/lab/netns.py)
LAB_ALIAS = re.compile(r"h\d+")  # the lab's ssh_config names its hosts h1..hN
# Host faults that change the network stack (tc, nft) or services: root on the machine they land on.
ROOT_FAULTS = frozenset({"latency", "loss", "corrupt", "duplicate", "bandwidth", "partition", "blackhole",
                         "packet-loss-nft", "service-stop"})


def _host(destination: str) -> str:
    """`user@host:port`, `user@[::1]:22`, an alias -> the host part."""
    host = destination.rsplit("@", 1)[-1]
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.split(":", 1)[0] if host.count(":") == 1 else host


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _in_lab(host: str) -> bool:
    ip = _ip(host)
    return bool(LAB_ALIAS.fullmatch(host)) or (ip is not None and ip in LAB_NETWORK)


def _loopback(host: str) -> bool:
    ip = _ip(host)
    return host == "localhost" or (ip is not None and ip.is_loopback)


def needs(sc: Scenario) -> list[str]:
    """What must be in place before `run`: root, the lab, SSH hosts, Prometheus, a service on loopback.

    Read from the scenario alone (nothing is contacted), so `list` can say it for a whole folder.
    """
    out: list[str] = []
    if sc.template:
        out.append("editing first (template: placeholder hosts)")
    ssh_hosts = sorted({_host(t.ssh) for t in sc.targets.values() if t.kind == "ssh" and t.ssh})
    urls = [t.url for t in sc.targets.values() if t.kind == "http" and t.url]
    urls += [m.probe for m in sc.observe.metrics.values() if m.source == "probe" and m.probe]
    url_hosts = [(urlsplit(u).hostname or "", urlsplit(u).port) for u in urls]
    lab = any(_in_lab(h) for h in ssh_hosts) or any(_in_lab(h) for h, _ in url_hosts)
    local_root = any(t.kind == "local" and f.type in ROOT_FAULTS
                     for st in sc.steps for f in st.faults for t in sc.resolve_targets(f.target))
    if lab:
        out.append("root and the lab (controlroom lab up)")
    elif local_root:
        out.append("root")
    remote = [h for h in ssh_hosts if not _in_lab(h) and not _loopback(h)]
    if remote:
        out.append("SSH to " + ", ".join(remote))
    if sc.observe.prometheus is not None:
        out.append(f"Prometheus at {sc.observe.prometheus.url}")
    services = sorted({f"{h}:{port}" for h, port in url_hosts if _loopback(h) and port})
    if services:
        out.append("a service on " + ", ".join(services))
    toxi = sorted({t.toxiproxy.api for t in sc.targets.values() if t.kind == "toxiproxy" and t.toxiproxy})
    if toxi:
        out.append("Toxiproxy at " + ", ".join(toxi) + " (on a laptop: controlroom lab toxiproxy)")
    keys = sorted({f"${t.gremlin.key_env}" if t.gremlin.key_env else str(t.gremlin.key_file)
                   for t in sc.targets.values() if t.kind == "gremlin" and t.gremlin})
    if keys:
        out.append("a Gremlin API key in " + ", ".join(keys))
    return out


def list_scenarios(folder: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Each *.yaml / *.yml file in `folder` (not recursive), sorted by file name.

    Every entry has name, path, environment, steps (count), faults (sorted fault
    types), phases (names in order), needs (what must be in place to run it, see
    `needs`), template, and error: None for a valid scenario, else the first
    problem as `file:line:col: message` plus `problems`, the count.
    """
    from controlroom.scenario import load_scenario

    base = Path(folder)
    if not base.is_dir():
        message = "is not a folder; list scenarios in a folder such as scenarios/"
        raise ScenarioError([Problem(os.fspath(folder), 1, 1, message)])
    out: list[dict[str, Any]] = []
    for path in sorted(p for p in base.iterdir() if p.suffix in SUFFIXES and p.is_file()):
        entry: dict[str, Any] = {
            "name": path.stem, "path": str(path), "environment": None, "steps": 0, "faults": [], "phases": [],
            "needs": [], "template": False, "error": None, "problems": 0,
        }
        try:
            sc = load_scenario(path)
        except ScenarioError as err:
            entry["error"] = str(err.problems[0]) if err.problems else str(err)
            entry["problems"] = len(err.problems)
        else:
            entry.update(
                name=sc.name,
                environment=sc.environment,
                steps=len(sc.steps),
                faults=sorted({f.type for st in sc.steps for f in st.faults}),
                phases=list(dict.fromkeys(st.phase for st in sc.steps if st.phase)),
                needs=needs(sc),
                template=sc.template,
            )
        out.append(entry)
    return out


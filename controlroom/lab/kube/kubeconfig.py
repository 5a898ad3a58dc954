"""The kubeconfig file for a simulated cluster: a real one, read by kubectl and kr8s like any other.

It names the cluster, context and user `controlroom-sim...` and starts with a comment saying it is a
simulated cluster, so nobody mistakes it for a real one. An existing file is only replaced when it
is one of ours (that first line): a user's `~/.kube/config` is never overwritten. Written whole and
private (0600: it holds the bearer token).
"""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from controlroom.errors import ControlroomError
from controlroom.lab.kube.config import SIM_CLUSTER, SIM_CONTEXT, SIM_USER
from controlroom.safefile import write_atomically

MARK = "# controlroom: SIMULATED CLUSTER (python -m controlroom.lab.kube) - not a real Kubernetes cluster"


class KubeconfigError(ControlroomError):
    """A kubeconfig path the simulated cluster must not write to."""


def kubeconfig_text(server: str, token: str, context: str = SIM_CONTEXT, namespace: str = "default",
                    user: str = SIM_USER, cluster: str = SIM_CLUSTER, ca_pem: bytes | None = None) -> str:
    entry: dict[str, str] = {"server": server}
    if ca_pem:
        entry["certificate-authority-data"] = base64.b64encode(ca_pem).decode("ascii")
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": entry}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user, "namespace": namespace}}],
        "current-context": context,
        "users": [{"name": user, "user": {"token": token}}],
        "preferences": {},
    }
    return MARK + "\n" + yaml.safe_dump(doc, sort_keys=False)


def write_kubeconfig(path: str | Path, server: str, token: str, context: str = SIM_CONTEXT,
                     namespace: str = "default", ca_pem: bytes | None = None) -> Path:
    target = Path(path).expanduser()
    if target.exists():
        try:
            first = target.read_text(encoding="utf-8").splitlines()[:1]
        except (OSError, UnicodeDecodeError):
            first = []
        if first != [MARK]:
            raise KubeconfigError(f"{target}: exists and was not written by the simulated cluster; pass another "
                                  f"--kubeconfig path (a real kubeconfig is never overwritten)")
    if not target.parent.is_dir():
        raise KubeconfigError(f"{target.parent}: no such directory; create it or pass another --kubeconfig path")
    try:
        write_atomically(target, kubeconfig_text(server, token, context, namespace, ca_pem=ca_pem), mode=0o600)
    except OSError as err:
        raise KubeconfigError(f"{target}: cannot write the kubeconfig: {err.strerror or err}") from None
    return target

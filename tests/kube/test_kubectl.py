"""kubectl — client-go, the reference client — agrees with the stand-in: TLS, token, discovery, finalizers, errors."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import yaml

from controlroom.lab.kube import SimulatedCluster
from tests.deps import needs

pytestmark = needs("kubectl")

POD_FAILURE = {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "PodChaos", "metadata": {"name": "pf"},
               "spec": {"action": "pod-failure", "mode": "one", "duration": "1h",
                        "selector": {"labelSelectors": {"app": "checkout"}}}}


async def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    # a subprocess the event loop waits on: the cluster lives in this loop and must keep serving meanwhile
    proc = await asyncio.create_subprocess_exec(
        "kubectl", *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(kubeconfig.parent)})
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin else None), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_kubectl_lists_creates_and_waits_for_a_finalized_delete(kube_sample: SimulatedCluster,
                                                                      kubeconfig: Path) -> None:
    code, out, err = await kubectl(kubeconfig, "get", "pods", "-n", "shop", "-l", "app=checkout", "-o", "name")
    assert code == 0, err
    assert sorted(out.split()) == sorted(f"pod/{p['metadata']['name']}" for p in kube_sample.pods("shop"))
    code, out, err = await kubectl(kubeconfig, "create", "--validate=false", "-n", "shop", "-f", "-",
                                   stdin=yaml.safe_dump(POD_FAILURE))
    assert code == 0, err
    await kube_sample.wait_for(lambda: kube_sample.deployment_ready("shop", "checkout") == (4, 5), what="injected")
    code, out, err = await kubectl(kubeconfig, "delete", "podchaos", "-n", "shop", "pf", "--timeout=20s")
    assert code == 0, err
    assert kube_sample.get("podchaos", "shop", "pf", "chaos-mesh.org") is None  # kubectl waited for the finalizer


async def test_kubectl_shows_the_servers_refusals(kube_sample: SimulatedCluster, kubeconfig: Path) -> None:
    bad = {**POD_FAILURE, "spec": {**POD_FAILURE["spec"], "mode": "half"}}
    code, _, err = await kubectl(kubeconfig, "create", "--validate=false", "-n", "shop", "-f", "-",
                                 stdin=yaml.safe_dump(bad))
    assert code == 1 and 'spec.mode: Unsupported value: "half"' in err
    code, out, _ = await kubectl(kubeconfig, "auth", "can-i", "delete", "pods", "-n", "shop")
    assert (code, out.strip()) == (0, "yes")
    kube_sample.rbac.deny("delete", "pods", namespaces="shop")
    code, out, _ = await kubectl(kubeconfig, "auth", "can-i", "delete", "pods", "-n", "shop")
    assert (code, out.strip()) == (1, "no")
    code, _, err = await kubectl(kubeconfig, "delete", "pod", "-n", "shop", kube_sample.pods("shop")[0]["metadata"]["name"])
    assert code == 1 and "is forbidden" in err

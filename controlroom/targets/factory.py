"""One executor per target, chosen by how the scenario says the target is reached."""

from __future__ import annotations

from collections.abc import Callable

from controlroom.errors import TargetError
from controlroom.scenario.model import Target
from controlroom.targets.base import Executor

ExecutorFactory = Callable[[Target], Executor]


def make_executor(target: Target) -> Executor:
    if target.kind == "local":
        from controlroom.targets.local import LocalExecutor

        return LocalExecutor(target.name)
    if target.kind == "http":
        from controlroom.targets.http import HttpExecutor

        return HttpExecutor(target.name)
    if target.kind == "ssh":
        from controlroom.targets.ssh import SshExecutor

        return SshExecutor.for_target(target)
    if target.kind in ("toxiproxy", "gremlin"):
        from controlroom.targets.apis import api_executor

        return api_executor(target)
    if target.kind == "kubernetes":
        from controlroom.targets.kubernetes import KubeExecutor  # kr8s loads only with a Kubernetes target

        return KubeExecutor(target)
    raise TargetError(f"target {target.name!r}: {target.kind} targets are not supported yet; use ssh, local, http, "
                      "kubernetes, toxiproxy or gremlin")

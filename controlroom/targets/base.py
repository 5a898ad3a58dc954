"""The executor protocol: the one small interface every target kind (ssh, local, http) implements.

An executor runs *actions* — a shell script, an HTTP request — and answers with
an `ActionResult`. Fault plans are made of actions, so the engine never knows
how a target is reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Shell:
    """A POSIX sh script; every value in it was quoted by `controlroom.faults.shell`."""

    script: str
    sudo: bool = False
    timeout: float = 10.0
    ok_codes: tuple[int, ...] = (0,)

    def describe(self) -> str:
        return ("sudo -n sh -c " if self.sudo else "") + self.script


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    json: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    timeout: float = 5.0
    ok_status: tuple[int, ...] = (200, 201, 202, 204)
    expect_json: dict[str, Any] | None = None  # every key must match in the response body

    def describe(self) -> str:
        body = f" {self.json}" if self.json is not None else ""
        return f"{self.method} {self.url}{body}"


@dataclass(frozen=True)
class KubeCall:
    """One Kubernetes API operation for a `kubernetes` target, run by `targets.kubernetes.KubeExecutor`.

    `op` names the operation (see `KubeExecutor.OPS`); `args` are its plain-data arguments (JSON-able), so
    a plan prints and journals exactly what will be sent. `fault` ties the select / apply / revert of one
    fault together on the executor (the selection an apply uses is the one journaled before it).
    """

    op: str
    args: tuple[tuple[str, Any], ...] = ()
    fault: str = ""
    timeout: float = 15.0

    def arg(self, name: str, default: Any = None) -> Any:
        return dict(self.args).get(name, default)

    def describe(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.args if k != "manifest")
        return f"kubernetes {self.op}({shown})"


# A new kind of target (a proxy's admin request) adds its action type here.
Action = Shell | HttpRequest | KubeCall


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    status: int | None = None  # exit status or HTTP status
    stdout: str = ""
    stderr: str = ""
    elapsed: float = 0.0
    error: str = ""  # transport error (unreachable, timeout), empty when the action ran
    timed_out: bool = False  # the action ran into its timeout: slow, not known to be unreachable
    # What the action resolved and the journal must hold before the next action acts on it (a Kubernetes
    # selection: pods by name and uid, the manifest about to be applied). The engine journals it.
    record: dict[str, Any] | None = None

    @property
    def detail(self) -> str:
        return self.error or self.stderr.strip() or self.stdout.strip() or f"status {self.status}"


@runtime_checkable
class Executor(Protocol):
    """Runs actions on one target. Implementations: local, ssh, http, memory (tests)."""

    target: str

    async def run(self, action: Action) -> ActionResult: ...

    async def close(self) -> None: ...

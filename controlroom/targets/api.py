"""Executors for fault backends reached through an HTTP API (Toxiproxy, Gremlin): one client per API, judged checks.

An API fault's actions are `HttpRequest`s, so the engine, the journal and `plan` treat them like any other.
Two refinements only these executors read:

* `JudgedRequest`: a check whose answer needs more than a status (a proxy's list of toxics holds none of
  another session's). `judge(body)` returns "" when the check holds, else the one-line reason.
* `shell`: a Toxiproxy target with an SSH host runs its leash guard there, so `Shell` actions go to an SSH
  executor for that host; without one they are refused, never run on this machine.

Why not httpx: an e-stop sends every revert and verify of the session at once, and httpx's ~3 ms of CPU per
request would make 20 faults cost 200 ms; `targets.rawhttp` keeps connections alive and costs a fraction.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controlroom.targets.base import Action, ActionResult, Executor, HttpRequest, Shell
from controlroom.targets.http import answer_refused
from controlroom.targets.rawhttp import HttpError, RawHttp

USER_AGENT = "controlroom"  # Toxiproxy refuses a `Mozilla/` agent (403): never a browser's


@dataclass(frozen=True)
class JudgedRequest(HttpRequest):
    """An HttpRequest whose JSON answer `judge` reads: "" when the check holds, else why not."""

    judge: Callable[[Any], str] | None = None


def body_json(text: str) -> Any:
    """Toxiproxy serves its errors as text/plain JSON: parse whatever the content type says."""
    try:
        return json.loads(text)
    except ValueError:
        return None


def api_error(text: str) -> str:
    doc = body_json(text)
    if isinstance(doc, dict) and isinstance(doc.get("error"), str):
        return doc["error"]
    return text.strip().splitlines()[0][:200] if text.strip() else ""


class ApiExecutor:
    """Runs HttpRequest actions with one client; Shell actions on `shell` (the API's host over SSH) if given."""

    def __init__(self, target: str, *, shell: Executor | None = None,
                 headers: Callable[[], dict[str, str]] | None = None) -> None:
        self.target = target
        self._shell = shell
        self._headers = headers
        self._client = RawHttp(user_agent=USER_AGENT)

    def share_connect_limiter(self, limiter: Any) -> None:
        """The session's connect limiter, for the SSH connection to the API's host (the leash's)."""
        share = getattr(self._shell, "share_connect_limiter", None)
        if share is not None:
            share(limiter)

    async def run(self, action: Action) -> ActionResult:
        if isinstance(action, Shell):
            if self._shell is None:
                return ActionResult(ok=False, error=f"{self.target}: no ssh host named for this API target; "
                                                    f"cannot run a shell action ({action.describe()[:60]})")
            return await self._shell.run(action)
        if not isinstance(action, HttpRequest):
            return ActionResult(ok=False, error=f"{self.target}: {type(action).__name__} actions do not apply to an API "
                                                f"target")
        return await self.request(action)

    async def request(self, action: HttpRequest, url: str | None = None) -> ActionResult:
        url = url or action.url
        started = time.monotonic()
        headers = dict(action.headers)
        if self._headers is not None:
            headers.update(self._headers())  # credentials join here, never in the plan or the journal
        try:
            answer = await self._client.request(action.method, url, json_body=action.json, headers=headers,
                                                timeout=action.timeout)
        except TimeoutError:
            return ActionResult(ok=False, elapsed=time.monotonic() - started, timed_out=True,
                                error=f"timed out after {action.timeout:g}s: {action.method} {url}")
        except HttpError as err:
            return ActionResult(ok=False, elapsed=time.monotonic() - started, error=str(err))
        except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as err:
            return ActionResult(ok=False, elapsed=time.monotonic() - started,
                                error=f"{type(err).__name__} on {action.method} {url}: {err}")
        elapsed = time.monotonic() - started
        body = answer.text
        stderr = answer_refused(action, url, answer.status, body, said=api_error)
        ok = not stderr
        judge = getattr(action, "judge", None)  # JudgedRequest, or a backend's judged request (faults.gremlin)
        if ok and judge is not None:
            why = judge(body_json(body))
            if why:
                ok, stderr = False, why
        return ActionResult(ok=ok, status=answer.status, stdout=body, stderr=stderr, elapsed=elapsed)

    async def close(self) -> None:
        await self._client.aclose()
        if self._shell is not None:
            await self._shell.close()

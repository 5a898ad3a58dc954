"""The HTTP executor: runs `HttpRequest` actions (admin fault hooks) for `http` targets.

One `httpx.AsyncClient` per executor, so a leash renewal every few seconds
reuses its connection. Transport failures are results, not exceptions: the
engine reads `ActionResult.error` ("connection refused to http://...").
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from controlroom.targets.base import Action, ActionResult, HttpRequest


class HttpExecutor:
    def __init__(self, target: str, client: httpx.AsyncClient | None = None) -> None:
        self.target = target
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(follow_redirects=False, trust_env=False)

    async def run(self, action: Action) -> ActionResult:
        if not isinstance(action, HttpRequest):
            kind = type(action).__name__
            return ActionResult(ok=False, error=f"http target {self.target!r} cannot run {kind} actions ({action.describe()})")
        started = time.monotonic()
        try:
            response = await self._client.request(
                action.method,
                action.url,
                json=action.json,
                headers=dict(action.headers),
                timeout=action.timeout,
            )
        except httpx.TimeoutException:
            return ActionResult(ok=False, elapsed=time.monotonic() - started,
                                error=f"timed out after {action.timeout:g}s: {action.method} {action.url}",
                                timed_out=True)
        except httpx.ConnectError as err:
            return ActionResult(ok=False, elapsed=time.monotonic() - started, error=describe_connect_error(action.url, err))
        except httpx.HTTPError as err:
            return ActionResult(ok=False, elapsed=time.monotonic() - started,
                                error=f"{type(err).__name__} on {action.method} {action.url}: {err}")
        elapsed = time.monotonic() - started
        body = response.text
        why = answer_refused(action, action.url, response.status_code, body)
        return ActionResult(ok=not why, status=response.status_code, stdout=body, stderr=why, elapsed=elapsed)

    async def close(self) -> None:
        if self._own_client:
            await self._client.aclose()


def answer_refused(action: HttpRequest, url: str, status: int, body: str,
                   said: Callable[[str], str] | None = None) -> str:
    """'' when an answer is what `action` wanted (a status in its ok_status, the JSON keys its expect_json
    names), else the one line that says why not; on a refused status `said(body)`, where given, adds what the
    server said (an API's error message). One judgement for the http target and the API targets."""
    if status not in action.ok_status:
        told = said(body) if said is not None else ""
        return f"HTTP {status} from {action.method} {url}" + (f": {told}" if told else "")
    if action.expect_json is not None:
        mismatch = json_mismatch(body, action.expect_json)
        if mismatch:
            return f"{action.method} {url}: {mismatch}"
    return ""


def json_mismatch(body: str, expected: dict[str, Any]) -> str:
    """'' when every expected key has the expected value in the JSON body, else what differs."""
    try:
        doc = json.loads(body)
    except ValueError:
        return "response is not JSON"
    if not isinstance(doc, dict):
        return "response is not a JSON object"
    for key, want in expected.items():
        if key not in doc:
            return f"response has no {key!r}"
        if doc[key] != want:
            return f"{key} is {doc[key]!r}, expected {want!r}"
    return ""


def describe_connect_error(url: str, err: BaseException) -> str:
    """A one-line reason for a failed connect; httpx hides "refused" behind "All connection attempts failed"."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError) or "refused" in str(seen).lower():
            return f"connection refused to {url}"
        seen = seen.__cause__ or seen.__context__
    return f"cannot connect to {url}: {err or type(err).__name__}"

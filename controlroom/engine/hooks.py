"""Event hooks (docs/hooks.md): webhooks and local commands told of the session's events, OFF the engine's path.

Why this can never delay a rollback: the session hears of an event through `HookRunner.listen`, a plain
function that only puts the event on a bounded per-hook queue with `put_nowait` — it never awaits, and a full
queue drops the delivery (journaled `hook-dropped`) instead of blocking. Each hook has its own worker task that
delivers in order, each try bounded by the hook's timeout, a bounded number of retries with backoff. Every
outcome is journaled (`hook-delivered`, `hook-failed`) and none raises into the session. At the session's end
the pending deliveries get a short bounded grace, then are abandoned (journaled `hook-dropped`).

Secrets (header values, a URL given as `{env:}`/`{file:}`) are resolved only at delivery and never journaled:
an error text that quotes one has it replaced with `***` before it is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from controlroom.engine.context import Emit
from controlroom.journal.events import Event
from controlroom.scenario.hooks import ALIASES
from controlroom.scenario.model import Hook, Secret

PAYLOAD_VERSION = 1
DEFAULT_QUEUE = 64  # pending deliveries per hook; more means the receiver is gone: drop, never block
DEFAULT_GRACE = 2.0  # seconds the session's end waits for pending deliveries
MAX_BACKOFF = 5.0
_ALIAS_OF = {event: alias for alias, event in ALIASES.items()}


class HookError(Exception):
    """A delivery that did not succeed (its message is journaled, with any secret value masked)."""


@dataclass
class _Delivery:
    hook: Hook
    event: str  # the hook event
    payload: dict[str, Any]

    @property
    def page(self) -> bool:
        return self.hook.page and self.event == "rollback-unconfirmed"


def hook_events(ev: Event, already_unconfirmed: bool) -> list[str]:
    """The hook events a journal event raises, in order (rollback-unconfirmed follows its rollback-finished)."""
    d = ev.data
    if ev.type in ("session-started", "fault-injected", "condition-breached", "rollback-started"):
        return [ev.type]
    if ev.type == "rollback-finished":
        return ["rollback-finished"] + ([] if d.get("clean", True) or already_unconfirmed
                                        else ["rollback-unconfirmed"])
    if ev.type == "session-ended":
        # A session that ends with faults not confirmed gone pages even when no stop's rollback ran.
        return ([] if not d.get("unconfirmed") or already_unconfirmed else ["rollback-unconfirmed"]) + ["session-ended"]
    return []


def describe(event: str, d: dict[str, Any]) -> str:
    """One line a person reads (the Slack form's `text`)."""
    if event == "session-started":
        return "session started"
    if event == "fault-injected":
        return f"fault {d.get('fault')} injected on {d.get('target')}" + (f" (step {d['step']})" if d.get("step") else "")
    if event == "condition-breached":
        return f"stop condition breached: {d.get('condition')}"
    if event == "rollback-started":
        return f"rollback started: {d.get('reason') or 'stop'}"
    if event == "rollback-finished":
        return "rollback finished: clean" if d.get("clean") else \
            f"rollback finished: {', '.join(d.get('unconfirmed') or [])} not confirmed clean"
    if event == "rollback-unconfirmed":
        return (f"PAGE: rollback unconfirmed, a fault may persist on {', '.join(d.get('unconfirmed') or []) or '?'}; "
                "run `controlroom recover`")
    if event == "session-ended":
        return f"session ended: {d.get('outcome')}"
    return event


def _read_secret(secret: Secret, what: str) -> str:
    if secret.env is not None:
        value = os.environ.get(secret.env)
        if value is None:
            raise HookError(f"{what}: ${secret.env} is not set")
        return value
    assert secret.file is not None
    try:
        with open(secret.file, encoding="utf-8") as f:
            return f.read().strip()
    except OSError as err:
        raise HookError(f"{what}: cannot read {secret.file} ({err.strerror})") from None


def _mask(text: str, secrets: Iterable[str]) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text


class HookRunner:
    """Delivers the session's events to its hooks; `listen` is the session's listener (never blocks)."""

    def __init__(self, emit: Emit, hooks: Iterable[Hook], *, session_id: str, scenario: str, environment: str,
                 queue_size: int = DEFAULT_QUEUE, backoff: float = 0.5) -> None:
        self.emit = emit
        self.hooks = tuple(hooks)
        self.session_id = session_id
        self.scenario = scenario
        self.environment = environment
        self.backoff = backoff
        self._queues: dict[str, asyncio.Queue[_Delivery]] = {h.name: asyncio.Queue(queue_size) for h in self.hooks}
        self._current: dict[str, _Delivery | None] = {h.name: None for h in self.hooks}
        self._workers: list[asyncio.Task[None]] = []
        self._unconfirmed = False
        self._closed = False
        self._client: Any = None  # httpx.AsyncClient, made on the first webhook (httpx loads only then)

    # ---- the engine's side: never awaits ----------------------------------------------------------------

    def listen(self, ev: Event) -> None:
        """The session's listener: queue a delivery per matching hook; a full queue drops (journaled)."""
        if self._closed or not self.hooks:
            return
        events = hook_events(ev, self._unconfirmed)
        for event in events:
            if event == "rollback-unconfirmed":
                self._unconfirmed = True
            for hook in self.hooks:
                if event not in hook.on:
                    continue
                delivery = _Delivery(hook, event, self._payload(hook, event, ev))
                try:
                    self._queues[hook.name].put_nowait(delivery)
                except asyncio.QueueFull:
                    self.emit("hook-dropped", hook=hook.name, event=event, page=delivery.page,
                              reason=f"queue full ({self._queues[hook.name].maxsize} deliveries pending)")

    def _payload(self, hook: Hook, event: str, ev: Event) -> dict[str, Any]:
        text = f"controlroom · {self.scenario} ({self.environment}): {describe(event, ev.data)}"
        if hook.format == "slack":
            return {"text": text}
        payload: dict[str, Any] = {
            "version": PAYLOAD_VERSION, "event": event, "session": self.session_id, "scenario": self.scenario,
            "environment": self.environment, "t": ev.t, "mono": round(ev.mono, 3),
            "page": hook.page and event == "rollback-unconfirmed", "text": text, "data": ev.data,
        }
        if event in _ALIAS_OF:
            payload["alias"] = _ALIAS_OF[event]
        return payload

    # ---- the workers ------------------------------------------------------------------------------------

    def start(self) -> None:
        for hook in self.hooks:
            self._workers.append(asyncio.get_running_loop().create_task(self._worker(hook),
                                                                        name=f"hook {hook.name}"))

    async def _worker(self, hook: Hook) -> None:
        queue = self._queues[hook.name]
        while True:
            delivery = await queue.get()
            self._current[hook.name] = delivery
            try:
                await self._deliver(delivery)
            finally:
                self._current[hook.name] = None
                queue.task_done()

    async def _deliver(self, d: _Delivery) -> None:
        hook = d.hook
        for attempt in range(1, hook.retries + 2):
            started = time.monotonic()
            secrets: list[str] = []
            try:
                async with asyncio.timeout(hook.timeout):
                    await self._send(d, secrets)
            except Exception as err:  # never fatal: journaled, retried while tries are left
                what = "timed out" if isinstance(err, TimeoutError) else (str(err) or type(err).__name__)
                final = attempt > hook.retries
                self.emit("hook-failed", hook=hook.name, event=d.event, attempt=attempt, final=final, page=d.page,
                          error=_mask(what, secrets)[:300])
                if final:
                    return
                await asyncio.sleep(min(MAX_BACKOFF, self.backoff * 2 ** (attempt - 1)))
                continue
            self.emit("hook-delivered", hook=hook.name, event=d.event, attempt=attempt, page=d.page,
                      seconds=round(time.monotonic() - started, 3))
            return

    async def _send(self, d: _Delivery, secrets: list[str]) -> None:
        body = json.dumps(d.payload, default=str).encode()
        if d.hook.command:
            await self._run_command(d.hook, body)
            return
        url = d.hook.url
        if isinstance(url, Secret):
            url = _read_secret(url, "webhook.url")
            secrets.append(url)
        assert isinstance(url, str)
        headers = {"content-type": "application/json"}
        for name, secret in d.hook.headers:
            value = _read_secret(secret, f"header {name}")
            secrets.append(value)
            headers[name] = value
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(follow_redirects=False)
        import httpx

        try:
            response = await self._client.post(url, content=body, headers=headers,
                                               timeout=httpx.Timeout(d.hook.timeout))
        except httpx.HTTPError as err:
            raise HookError(f"{type(err).__name__}: {err}") from None
        if not 200 <= response.status_code < 300:
            raise HookError(f"HTTP {response.status_code}")

    async def _run_command(self, hook: Hook, body: bytes) -> None:
        proc = await asyncio.create_subprocess_exec(
            *hook.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, start_new_session=True)  # its own group: a timeout ends all of it
        try:
            _, err = await proc.communicate(body)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                await proc.wait()
            raise
        if proc.returncode != 0:
            last = (err or b"").decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            raise HookError(f"exit {proc.returncode}" + (f": {last[0][:200]}" if last[0] else ""))

    # ---- the end ----------------------------------------------------------------------------------------

    async def close(self, grace: float = DEFAULT_GRACE) -> None:
        """Give pending deliveries `grace` seconds, then abandon the rest (each journaled `hook-dropped`)."""
        self._closed = True
        if self._workers:
            joins = [asyncio.ensure_future(q.join()) for q in self._queues.values()]
            _, pending = await asyncio.wait(joins, timeout=grace)
            for j in joins:
                j.cancel()
            if pending:
                for hook in self.hooks:
                    left = [self._current[hook.name]] if self._current[hook.name] else []
                    q = self._queues[hook.name]
                    while not q.empty():
                        left.append(q.get_nowait())
                    for d in left:
                        assert d is not None
                        self.emit("hook-dropped", hook=hook.name, event=d.event, page=d.page,
                                  reason=f"abandoned at the session's end (grace {grace:g}s)")
            for w in self._workers:
                w.cancel()
            await asyncio.gather(*self._workers, return_exceptions=True)
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()

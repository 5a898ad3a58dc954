"""What every simulated controller shares: a wake-up on relevant changes, deadlines, status writes, Events.

A controller reconciles everything it owns in one synchronous pass (the store is synchronous, so a
pass is atomic) and says when it next needs to look (a delay, or None to wait for a change). Changes
coalesce: a burst of 1,000 pod writes wakes a controller once more, not 1,000 times. An exception in
a pass is a bug of the stand-in: it is kept in `cluster.errors` (the test fixtures fail on it) and the
controller carries on after a short pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import traceback
from typing import TYPE_CHECKING, Any

from controlroom.lab.kube._util import deep_copy, random_suffix, rfc3339
from controlroom.lab.kube.resources import ResourceType
from controlroom.lab.kube.status import ApiError
from controlroom.lab.kube.store import Change

if TYPE_CHECKING:
    from controlroom.lab.kube.cluster import SimulatedCluster

Obj = dict[str, Any]


class Controller:
    name = "controller"
    component = "controlroom-sim"  # Event source
    watches: tuple[str, ...] = ()  # resource keys (`group/plural`) whose changes wake this controller

    def __init__(self, cluster: SimulatedCluster):
        self.cluster = cluster
        self.store = cluster.store
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.passes = 0

    def on_change(self, change: Change) -> None:
        if change.rt_key in self.watches:
            self._wake.set()

    def poke(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self.store.listeners.append(self.on_change)
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"sim-{self.name}")

    async def stop(self) -> None:
        """End the loop by flag and wake-up (not by cancelling a wait: 3.11's wait_for can swallow that)."""
        self._stopping = True
        if self.on_change in self.store.listeners:
            self.store.listeners.remove(self.on_change)
        self._wake.set()
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=5)
            if not done:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                delay = self.reconcile(time.monotonic())
                self.passes += 1
            except Exception:
                self.cluster.errors.append(f"{self.name}: {traceback.format_exc()}")
                delay = 0.5
            if self._stopping:
                return
            if delay is None:
                await self._wake.wait()
            elif delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
            else:
                await asyncio.sleep(0)

    def reconcile(self, now: float) -> float | None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- helpers -------------------------------------------------------------------------------------------

    def write(self, rt: ResourceType, obj: Obj) -> Obj | None:
        """Update `obj` (a modified copy of the stored object); None if it vanished meanwhile."""
        meta = obj["metadata"]
        try:
            new, _ = self.store.update(rt, meta.get("namespace", ""), meta["name"], obj)
        except ApiError as err:
            if err.code == 404:
                return None
            raise
        return new

    def write_status(self, rt: ResourceType, obj: Obj) -> Obj | None:
        meta = obj["metadata"]
        try:
            new, _ = self.store.update(rt, meta.get("namespace", ""), meta["name"], obj,
                                       subresource="status" if rt.status_subresource else "")
        except ApiError as err:
            if err.code == 404:
                return None
            raise
        return new

    def event(self, rt: ResourceType, obj: Obj, type_: str, reason: str, message: str) -> None:
        """A core/v1 Event about `obj`, as controllers record them (kubectl describe shows these)."""
        meta = obj["metadata"]
        ns = meta.get("namespace") or "default"
        ev_rt = self.cluster.rt("events")
        now = rfc3339()
        body = {"metadata": {"name": f"{meta['name']}.{random_suffix(8)}{random_suffix(8)}", "namespace": ns},
                "involvedObject": {"kind": rt.kind, "namespace": meta.get("namespace", ""), "name": meta["name"],
                                   "uid": meta.get("uid", ""), "apiVersion": rt.api_version,
                                   "resourceVersion": meta.get("resourceVersion", "")},
                "reason": reason, "message": message, "type": type_, "count": 1,
                "source": {"component": self.component}, "reportingComponent": self.component,
                "firstTimestamp": now, "lastTimestamp": now}
        with contextlib.suppress(ApiError):  # a namespace being deleted refuses new Events: nothing to record
            self.store.create(ev_rt, ns, body)


def copy_of(obj: Obj) -> Obj:
    return deep_copy(obj)


def owned_by(obj: Obj, uid: str) -> bool:
    return any(r.get("uid") == uid and r.get("controller") for r in obj["metadata"].get("ownerReferences") or [])


def owner_ref(rt: ResourceType, owner: Obj) -> Obj:
    meta = owner["metadata"]
    return {"apiVersion": rt.api_version, "kind": rt.kind, "name": meta["name"], "uid": meta["uid"],
            "controller": True, "blockOwnerDeletion": True}


def condition(obj: Obj, type_: str) -> Obj | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == type_), None)


def set_condition(status: Obj, type_: str, value: bool | str, reason: str = "", message: str = "",
                  with_times: bool = True) -> bool:
    """Set one condition; keeps lastTransitionTime unless the status flips. True if anything changed."""
    text = value if isinstance(value, str) else ("True" if value else "False")
    conds = status.setdefault("conditions", [])
    for c in conds:
        if c.get("type") == type_:
            changed = c.get("status") != text
            if changed:
                c["status"] = text
                if with_times:
                    c["lastTransitionTime"] = rfc3339()
            if reason and c.get("reason") != reason:
                c["reason"] = reason
                changed = True
            if message and c.get("message") != message:
                c["message"] = message
                changed = True
            return changed
    entry: Obj = {"type": type_, "status": text}
    if with_times:
        entry["lastProbeTime"] = None
        entry["lastTransitionTime"] = rfc3339()
    if reason:
        entry["reason"] = reason
    if message:
        entry["message"] = message
    conds.append(entry)
    return True

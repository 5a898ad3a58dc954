"""Pre-flight connection progress: how many targets are connected, still connecting, or failed — counted from
the `preflight-check` events the engine journals anyway, so the room, `watch`, a replay and the headless
lines all count the same way, from the same record.

No event of its own: each host's connection is already journaled as its `host key` (SSH: the connection is up,
its key verified) or `reachable` check, as it happens, with the reason when it fails. Counts are a fold over
those facts; journaling them too would only repeat the record 200 times over. What is not in the journal —
how many attempts wait for a connection slot right now — is live only and not needed to judge the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CONNECT_CHECKS = frozenset({"host key", "reachable"})


@dataclass(frozen=True)
class ConnectCounts:
    connected: int = 0
    pending: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.connected + self.pending + self.failed

    def line(self) -> str:
        return f"{self.connected}/{self.total} connected, {self.pending} pending, {self.failed} failed"


@dataclass
class ConnectTally:
    """Per target: None while its connection is being set up, True once connected (and nothing failed since),
    False once its connection or reachability check failed (for good: a failure is never undone)."""

    state: dict[str, bool | None] = field(default_factory=dict)

    def feed(self, check: str, target: str | None, ok: bool | None) -> bool:
        """One `preflight-check`; True when the counts changed."""
        if target is None or check not in CONNECT_CHECKS:
            return False
        known = target in self.state
        old = self.state.get(target)
        if ok is None:
            if known:
                return False  # the check started again: pending already, or already answered
            new: bool | None = None
        elif old is False:
            return False  # a failure is final
        else:
            new = bool(ok)
        if known and new == old:
            return False
        self.state[target] = new
        return True

    def counts(self) -> ConnectCounts:
        values = list(self.state.values())
        return ConnectCounts(connected=values.count(True), pending=values.count(None), failed=values.count(False))

"""Setting up many SSH connections: the shared limiter, a connect timeout counted from the attempt, retries.

No sshd here: `asyncssh.create_connection` is replaced by a fake whose handshake needs the one event-loop
"CPU" for a while — what makes 200 real handshakes at once each take seconds — and which, like asyncssh,
times out `connect_timeout` after it is called. The lab test (tests/lab/test_fleet_connect_e2e.py) does the
same with real hosts.
"""

from __future__ import annotations

import asyncio
import errno
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import asyncssh
import pytest

from controlroom.targets.connect_limit import ConnectLimiter, SlotTimeout, default_size
from controlroom.targets.ssh import ConnectTimedOut, HostKeyMismatch, LoginRefused, SshExecutor

HANDSHAKE_CPU = 0.05  # seconds of the (single) loop a handshake needs
ROUND_TRIPS = 4  # version exchange, key exchange, host-key check, login
OPTIONS_CPU = 0.03  # seconds the loop is blocked building one host's connection options (17-30 ms at 200 lab hosts)


class _Conn:
    def get_extra_info(self, name: str) -> Any:
        return "root" if name == "username" else None

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    async def wait_closed(self) -> None:
        pass


class FakeSsh:
    """What the fake network does per host: 'ok' (a handshake), 'never' (no answer), or a list of answers,
    one per attempt (an exception to raise, or 'ok')."""

    def __init__(self) -> None:
        self.cpu = asyncio.Lock()
        self.plan: dict[str, Any] = {}
        self.calls: dict[str, int] = {}
        self.started: dict[str, list[float]] = {}

    async def create_connection(self, factory: Any, host: str, *, options: Any, config: Any) -> tuple[Any, Any]:
        self.calls[host] = self.calls.get(host, 0) + 1
        self.started.setdefault(host, []).append(time.monotonic())
        answer = self.plan.get(host, "ok")
        if isinstance(answer, list):
            answer = answer.pop(0) if answer else "ok"
        if isinstance(answer, BaseException):
            raise answer

        async def handshake() -> tuple[Any, Any]:
            if answer == "never":
                await asyncio.sleep(3600)
            for _ in range(ROUND_TRIPS):  # each round trip of the key exchange needs the one shared thread
                async with self.cpu:
                    await asyncio.sleep(HANDSHAKE_CPU / ROUND_TRIPS)
            client = factory()
            conn = _Conn()
            client.connection_made(conn)
            return conn, client

        # asyncssh's own connect_timeout counts from this call, as this does.
        return await asyncio.wait_for(handshake(), timeout=options.connect_timeout)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSsh]:
    net = FakeSsh()
    monkeypatch.setattr(asyncssh, "create_connection", net.create_connection)

    def options(self: SshExecutor) -> Any:
        time.sleep(OPTIONS_CPU)  # reading the ssh config, keys and known_hosts blocks the loop
        return SimpleNamespace(connect_timeout=self.connect_timeout)

    async def offered(self: SshExecutor) -> str:
        return "ssh-ed25519 SHA256:fake"

    monkeypatch.setattr(SshExecutor, "_options", options)
    monkeypatch.setattr(SshExecutor, "_connect_config", lambda self, opts: self.config)  # the fake has no config
    monkeypatch.setattr(SshExecutor, "_offered_fingerprint", offered)
    yield net


def executors(n: int, limiter: ConnectLimiter | None, **kw: Any) -> list[SshExecutor]:
    out = []
    for i in range(1, n + 1):
        ex = SshExecutor(f"h{i}", f"h{i}", config=[], known_hosts="/dev/null", **kw)
        if limiter is not None:
            ex.share_connect_limiter(limiter)
        out.append(ex)
    return out


def test_the_default_limit_is_sized_to_the_machine() -> None:
    assert default_size(1) == 8 and default_size(2) == 16 and default_size(4) == 32
    assert default_size(64) == 64  # a big machine still does not open hundreds of handshakes at once
    with pytest.raises(ValueError):
        ConnectLimiter(0)


async def test_the_limiter_lets_at_most_its_size_attempt_at_once() -> None:
    limiter = ConnectLimiter(3)
    peak = 0

    async def attempt() -> None:
        nonlocal peak
        async with limiter.slot():
            peak = max(peak, limiter.attempting)
            await asyncio.sleep(0.01)

    await asyncio.gather(*(attempt() for _ in range(12)))
    assert peak == 3 and limiter.attempting == 0 and limiter.waiting == 0


async def test_a_bounded_wait_for_a_slot_gives_up_without_taking_one() -> None:
    limiter = ConnectLimiter(1)
    async with limiter.slot():
        with pytest.raises(SlotTimeout, match="1 connecting at once"):
            async with limiter.slot(wait=0.05):
                pass
    async with limiter.slot(wait=0.05):  # the slot given back is free again: nothing leaked
        assert limiter.attempting == 1


async def test_a_fleet_connecting_at_once_does_not_time_out_while_queued(
        fake: FakeSsh, monkeypatch: pytest.MonkeyPatch) -> None:
    # 60 handshakes of 50 ms on the one loop: started together, each ends after about 3 s, past a 2 s connect
    # timeout counted from its call. Through a limiter of 2, each attempt's timeout starts once its slot is
    # held, and it takes about 100 ms (20 times less than its timeout: a loaded machine still passes).
    monkeypatch.setattr(SshExecutor, "_options", lambda self: SimpleNamespace(connect_timeout=self.connect_timeout))
    fleet = executors(60, ConnectLimiter(2), connect_timeout=2.0, connect_attempts=1)
    results = await asyncio.gather(*(ex.connect() for ex in fleet), return_exceptions=True)
    assert [r for r in results if r is not None] == []
    assert all(ex.connected for ex in fleet)
    assert set(fake.calls.values()) == {1}  # every host on its first attempt: nothing needed a retry


async def test_a_queued_connect_gets_its_whole_timeout_once_it_holds_a_slot(fake: FakeSsh) -> None:
    limiter = ConnectLimiter(1)
    fake.plan["h1"] = "never"
    slow, queued = executors(2, limiter, connect_timeout=0.3, connect_attempts=1)
    t0 = time.monotonic()
    first = asyncio.ensure_future(slow.connect())
    await asyncio.sleep(0.01)
    await queued.connect()  # waited ~0.3 s for h1's slot, longer than its own connect timeout
    assert queued.connected and time.monotonic() - t0 >= 0.3
    with pytest.raises(ConnectTimedOut):
        await first


async def test_a_host_that_never_answers_fails_connect_timeout_after_its_attempt(fake: FakeSsh) -> None:
    limiter = ConnectLimiter(1)
    fake.plan["h2"] = "never"
    _busy, dead = executors(2, limiter, connect_timeout=0.3, connect_attempts=1)
    hold = asyncio.Event()

    async def hog() -> None:  # another host's attempt holds the only slot for 0.4 s
        async with limiter.slot():
            hold.set()
            await asyncio.sleep(0.4)

    hogging = asyncio.ensure_future(hog())
    await hold.wait()
    t0 = time.monotonic()
    with pytest.raises(ConnectTimedOut, match=r"no answer within 0\.3s"):
        await dead.connect()
    waited = time.monotonic() - t0
    attempt_started = fake.started["h2"][0] - t0
    assert 0.35 <= attempt_started < 0.5  # the attempt began once the slot came free
    assert 0.65 <= waited < 1.0  # and failed its connect timeout after that, not after the whole wait
    await hogging
    assert limiter.attempting == 0


async def test_transient_failures_of_the_first_connect_are_retried_with_backoff(fake: FakeSsh) -> None:
    (ex,) = executors(1, ConnectLimiter(4), connect_timeout=0.2, connect_attempts=3, backoff=0.05)
    fake.plan["h1"] = [ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
                       asyncssh.ConnectionLost("Connection lost"), "ok"]
    await ex.connect()
    assert ex.connected and fake.calls["h1"] == 3
    gaps = [b - a for a, b in zip(fake.started["h1"], fake.started["h1"][1:], strict=False)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1  # the pause doubles between attempts


async def test_a_timed_out_first_connect_is_tried_again_then_reported(fake: FakeSsh) -> None:
    (ex,) = executors(1, ConnectLimiter(4), connect_timeout=0.1, connect_attempts=2, backoff=0.01)
    fake.plan["h1"] = "never"
    with pytest.raises(ConnectTimedOut):
        await ex.connect()
    assert fake.calls["h1"] == 2


async def test_a_refused_login_or_a_wrong_host_key_is_never_retried(fake: FakeSsh) -> None:
    refused, mismatched = executors(2, ConnectLimiter(4), connect_timeout=0.2, connect_attempts=5, backoff=0.01)
    fake.plan["h1"] = [asyncssh.PermissionDenied("no such key")] * 5
    fake.plan["h2"] = [asyncssh.HostKeyNotVerifiable("Host key is not trusted")] * 5
    with pytest.raises(LoginRefused, match="refused"):
        await refused.connect()
    with pytest.raises(HostKeyMismatch, match="SHA256:fake"):
        await mismatched.connect()
    assert fake.calls == {"h1": 1, "h2": 1}


async def test_a_command_waits_for_a_slot_no_longer_than_its_own_timeout(fake: FakeSsh) -> None:
    from controlroom.targets.base import Shell

    limiter = ConnectLimiter(1)
    (ex,) = executors(1, limiter, connect_timeout=5.0, reconnect_attempts=1)
    async with limiter.slot():  # another host holds the only slot for longer than the command may wait
        t0 = time.monotonic()
        res = await ex.run(Shell("true", timeout=0.2))
    assert not res.ok and "no connection slot came free" in res.error
    assert time.monotonic() - t0 < 1.0 and "h1" not in fake.calls  # never dialled


async def test_building_a_hosts_connection_options_does_not_hold_up_the_loop(
        fake: FakeSsh, monkeypatch: pytest.MonkeyPatch) -> None:
    # asyncssh parses the whole ssh config for every host: at 200 hosts, up to 200 ms each under load. Meanwhile
    # the loop must go on: other handshakes, leash renewals, an emergency stop.
    def slow_options(self: SshExecutor) -> Any:
        time.sleep(0.3)
        return SimpleNamespace(connect_timeout=self.connect_timeout)

    monkeypatch.setattr(SshExecutor, "_options", slow_options)
    fleet = executors(3, ConnectLimiter(3), connect_timeout=2.0, connect_attempts=1)
    lags: list[float] = []

    async def ticker() -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.01)
            lags.append(time.monotonic() - before - 0.01)

    ticking = asyncio.ensure_future(ticker())
    try:
        await asyncio.gather(*(ex.connect() for ex in fleet))
    finally:
        ticking.cancel()
    assert all(ex.connected for ex in fleet) and len(lags) > 20
    assert max(lags) < 0.2  # on the loop, each 0.3 s parse would have stopped it for 0.3 s

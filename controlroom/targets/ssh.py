"""The SSH executor: runs `Shell` actions on a host over one reused asyncssh connection.

Host-key checking is always on: keys come from the target's `known_hosts`, the
OpenSSH config's `UserKnownHostsFile`, or `~/.ssh/known_hosts`, and a config
that tries to switch checking off is refused. The OpenSSH config file (Host
aliases, User, Port, IdentityFile, ProxyJump) is `~/.ssh/config`, or the file
named by `$CONTROLROOM_SSH_CONFIG` (what `controlroom lab up` prints). Commands
never get a pty (a pty's SIGHUP would kill detached leashes) and always have a
timeout; a lost connection fails the running action and is re-dialled, with
backoff, by the next one.

Connections are set up through a shared `ConnectLimiter` (targets/connect_limit.py): at most N handshakes at
once per session, the connect timeout counted from the moment a slot is held. The first connect retries, with
backoff, what load explains (no answer in time, a reset, a connection closed mid-handshake), never a host key
that does not match nor a refused login.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import asyncssh

from controlroom.errors import TargetError
from controlroom.faults.shell import MAX_COMMAND_BYTES, q
from controlroom.scenario.model import Target
from controlroom.targets.base import Action, ActionResult, Executor, Shell
from controlroom.targets.connect_limit import ConnectLimiter, SlotTimeout, loop_limiter
from controlroom.targets.destination import default_config_paths, parse_destination

KEEPALIVE_INTERVAL = 2.0  # seconds between keepalives on an idle connection
KEEPALIVE_COUNT = 3  # unanswered keepalives before the connection counts as dead
# After a dial found the host gone, commands within this many seconds get that answer at once instead of each
# dialling again (a rollback's revert and verify right after one another; a LAN dial to a vanished address
# takes ~3 s of ARP). Later commands — the reconfirm loop — dial again.
GONE_HOLD = 1.0
KNOWN_HOSTS_ENV = "CONTROLROOM_KNOWN_HOSTS"


class HostKeyMismatch(TargetError):
    """The host offered a key that is not in known_hosts: never connect, show what was offered."""


class HostGone(TargetError):
    """Nothing to retry within this command: the host refused the connection, there is no route to it, it did
    not answer within the connect timeout, or its ssh config is gone (a lab brought down). Reported at once;
    a later command (the reconfirm loop) tries again."""


class LoginRefused(TargetError):
    """The host answered and refused our login (user, key): trying again cannot change its mind."""


class ConnectTimedOut(HostGone):
    """No answer within connect_timeout of the attempt. Within a command it counts as gone; the first connect
    (`SshExecutor.connect`) tries again, since under load a live host can be that slow once."""


class ConnectBroken(TargetError):
    """The connection was cut while being set up (reset, closed by the peer mid-handshake: sshd's MaxStartups
    under a burst): transient, worth another attempt."""


# Builds connection options off the loop (`SshExecutor._connect_locked`); one thread, shared by every executor.
_OPTIONS_THREAD = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="controlroom-ssh-options")

# connect() errors that say the host is not there, as opposed to slow: refused, no route, network unreachable.
_GONE_ERRNOS = frozenset({errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH})


class _Client(asyncssh.SSHClient):
    def __init__(self, owner: SshExecutor) -> None:
        self._owner = owner
        self._conn: asyncssh.SSHClientConnection | None = None

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        self._conn = conn

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._lost(self._conn, exc)


class SshExecutor:
    """One host, one connection, reused for the session."""

    def __init__(self, target: str, destination: str, *, config: Sequence[str] | None = None,
                 known_hosts: str | None = None, identity_file: str | None = None,
                 connect_timeout: float = 5.0, reconnect_attempts: int = 3, backoff: float = 0.2,
                 max_backoff: float = 5.0, connect_attempts: int = 3,
                 limiter: ConnectLimiter | None = None) -> None:
        self.target = target
        self.destination = destination
        self.user, self.host, self.port = parse_destination(destination)
        self.config = list(config) if config is not None else default_config_paths()
        self.known_hosts = known_hosts or os.environ.get(KNOWN_HOSTS_ENV) or None
        self.identity_file = identity_file
        self.connect_timeout = connect_timeout
        self.reconnect_attempts = reconnect_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.connect_attempts = connect_attempts  # attempts of the first connect, for transient failures only
        self.limiter = limiter  # None: the event loop's default (`connect_limit.loop_limiter`)
        self._conn: asyncssh.SSHClientConnection | None = None
        self._lock = asyncio.Lock()
        self._remote_user: str | None = None
        self.last_error = ""
        self.connects = 0  # how many times a connection was (re)established
        self._gone_at: float | None = None  # when a dial last found the host gone (HostGone)
        # (the files the options were read from, their stats then, the options): see `_options`
        self._opts_cache: tuple[list[str], tuple[tuple[int, int, int] | None, ...],
                                asyncssh.SSHClientConnectionOptions] | None = None

    @classmethod
    def for_target(cls, target: Target, **kw: Any) -> SshExecutor:
        if not target.ssh:
            raise TargetError(f"target {target.name!r} has no ssh destination; set ssh: user@host or an alias")
        return cls(target.name, target.ssh, known_hosts=target.known_hosts, identity_file=target.identity_file, **kw)

    # -- connection ----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._conn is not None

    @property
    def remote_user(self) -> str | None:
        return self._remote_user

    @property
    def control_peer(self) -> tuple[str, int, str, int] | None:
        """(local ip, local port, remote ip, remote port) of the live control channel — what the host's
        `$SSH_CONNECTION` reports; fault scripts read that variable at run time rather than this value."""
        if self._conn is None:
            return None
        local = self._conn.get_extra_info("sockname")
        peer = self._conn.get_extra_info("peername")
        if not local or not peer:
            return None
        return str(local[0]), int(local[1]), str(peer[0]), int(peer[1])

    def _lost(self, conn: asyncssh.SSHClientConnection | None, exc: Exception | None) -> None:
        # Only the live connection counts: a late callback from one already replaced must not drop the new one.
        if conn is not None and conn is self._conn:
            self._conn = None
            if exc is not None:
                self.last_error = f"connection lost: {exc}"

    def _options(self) -> asyncssh.SSHClientConnectionOptions:
        """The connection options, parsed once and reused while the files they come from are unchanged.

        asyncssh parses the whole OpenSSH config for every set of options it builds, and reads the whole
        known_hosts at every connect: a fleet's generated files have a line or a block per host, so each cost
        O(hosts) per connect (~25 ms of CPU at 100 hosts; the config was parsed twice). Reused, they hold the same
        values a fresh read gives, and the host-key checks below run at every connect, so reuse changes no
        decision: a config, identity or known_hosts file whose stat changed (mtime, size, inode; a new key
        written after a mismatch) is read afresh, and a missing one is never served from the cache.
        """
        cached = self._opts_cache
        if cached is not None and None not in cached[1] and _stat_all(cached[0]) == cached[1]:
            opts = cached[2]
        else:
            files = [*self.config, *([self.identity_file] if self.identity_file else [])]
            before = _stat_all(files)
            opts, known = self._build_options()
            self._opts_cache = (files + known, before + _stat_all(known), opts)
        if opts.known_hosts is None:
            # `UserKnownHostsFile none` in a config would turn checking off in asyncssh; we never allow that.
            raise TargetError(f"{self.target}: the ssh config disables host-key checking for {self.host}; "
                              f"set UserKnownHostsFile to a file or give the target a known_hosts: path")
        if not opts.known_hosts:
            default = Path("~/.ssh/known_hosts").expanduser()
            if not default.is_file():
                raise TargetError(f"{self.target}: no known_hosts for {self.host}: add its key to {default} "
                                  f"or give the target a known_hosts: path")
        return opts

    def _connect_config(self, opts: asyncssh.SSHClientConnectionOptions) -> Sequence[str] | None:
        """The config paths `create_connection` parses again: None (nothing: `opts` already holds the parsed
        config) unless a later step needs the files themselves — a ProxyJump's own connection, hostname
        canonicalization or `Match final`, which re-read them for another host name."""
        if opts.tunnel or opts.proxy_command or opts.canonicalize_hostname or opts.config.has_match_final():
            return self.config
        return None

    def _build_options(self) -> tuple[asyncssh.SSHClientConnectionOptions, list[str]]:
        """The options, with the known_hosts files (the target's or the config's) read into them; and those
        files' paths, whose changes make `_options` build them again."""
        # Keepalives notice a silently dead link (a cut cable, a host that vanished) within ~6-8 s even in the
        # middle of a command, which then fails at once instead of running into its own timeout.
        kw: dict[str, Any] = {"config": self.config, "host": self.host, "connect_timeout": self.connect_timeout,
                              "keepalive_interval": KEEPALIVE_INTERVAL, "keepalive_count_max": KEEPALIVE_COUNT}
        if self.port is not None:
            kw["port"] = self.port
        if self.user is not None:
            kw["username"] = self.user
        if self.identity_file:
            kw["client_keys"] = [os.path.expanduser(self.identity_file)]
        if self.known_hosts:
            kw["known_hosts"] = os.path.expanduser(self.known_hosts)
        try:
            opts = asyncssh.SSHClientConnectionOptions(**kw)
        except FileNotFoundError as err:
            raise HostGone(f"{self.target}: cannot reach {self.destination}: the ssh config or key file "
                           f"{err.filename} is gone") from None
        except (OSError, ValueError, asyncssh.Error) as err:
            raise TargetError(f"{self.target}: ssh options for {self.destination!r} are invalid: {err}") from None
        known = opts.known_hosts
        names: list[object] = [known] if isinstance(known, str | os.PathLike) else list(known) if isinstance(
            known, list) else []
        if not names or not all(isinstance(x, str | os.PathLike) for x in names):
            return opts, []  # none (refused by the caller), asyncssh's default, or not only files: read at connect
        paths = [os.path.expanduser(str(x)) for x in names]
        try:
            loaded = _read_known_hosts(paths)
        except (OSError, ValueError):
            return opts, []  # asyncssh reads them at connect and reports what is wrong, as without this cache
        # config=None: the options' own parsed config carries over; nothing is parsed again.
        return asyncssh.SSHClientConnectionOptions(opts, config=None, known_hosts=loaded), paths

    def share_connect_limiter(self, limiter: ConnectLimiter) -> None:
        """Set up connections through the session's limiter (every SshExecutor of a session shares one)."""
        self.limiter = limiter

    async def connect(self) -> None:
        """Open the connection now; raises TargetError / HostKeyMismatch with a one-line reason.

        A transient failure (ConnectTimedOut, ConnectBroken) is tried again up to `connect_attempts` times with
        backoff, the slot given back while waiting; a wrong host key, a refused login, a host that refuses or
        has no route are answered at once. Each attempt gets the whole connect timeout from its own start.
        """
        delay = self.backoff
        for attempt in range(max(1, self.connect_attempts)):
            try:
                async with self._lock:
                    await self._connect_locked()
                return
            except (ConnectTimedOut, ConnectBroken) as err:
                self.last_error = str(err)
                if attempt + 1 >= max(1, self.connect_attempts):
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_backoff)

    async def _connect_locked(self, slot_wait: float | None = None) -> None:
        if self._conn is not None:
            return
        limiter = self.limiter or loop_limiter()
        try:
            async with limiter.slot(slot_wait):
                # Built once the slot is held, on the one options thread: asyncssh parses the whole ssh config
                # for every host (17 ms idle, 100-200 ms under load, for a 200-host config). Built on the loop for
                # the whole queue up front, that stalled the attempts already under way past their timeout; on
                # the loop one at a time, each parse still held up every handshake, renewal and stop for its
                # length. One thread, not a pool: several would take the GIL from the loop in turn. The timeout
                # starts after: queueing is not unreachability. (No loop needed: no passphrase callback.) The
                # options are cached per executor (`_options`), so a reconnect reuses them without a parse.
                opts = await asyncio.get_running_loop().run_in_executor(_OPTIONS_THREAD, self._options)
                conn, _ = await asyncio.wait_for(
                    asyncssh.create_connection(lambda: _Client(self), self.host, options=opts,
                                                config=self._connect_config(opts)),
                    timeout=self.connect_timeout + 1)
        except SlotTimeout as err:
            raise TargetError(f"{self.target}: not connected to {self.destination}: {err}") from None
        except asyncssh.HostKeyNotVerifiable:
            offered = await self._offered_fingerprint()
            raise HostKeyMismatch(f"{self.target}: host key of {self.host} is not trusted "
                                  f"(offered {offered}); if the host was rebuilt, update its known_hosts entry"
                                  ) from None
        except asyncssh.PermissionDenied as err:
            raise LoginRefused(f"{self.target}: ssh login to {self.destination} refused ({err.reason}); "
                              f"check the user and IdentityFile") from None
        except TimeoutError:
            # Nothing answered for connect_timeout: dialling again within this command would only spend its
            # timeout the same way (a powered-off host, an address no longer on the wire).
            raise ConnectTimedOut(f"{self.target}: cannot reach {self.destination} over ssh: no answer within "
                                  f"{self.connect_timeout:g}s") from None
        except (asyncssh.Error, OSError) as err:
            reason = str(err) or type(err).__name__
            gone = isinstance(err, OSError) and err.errno in _GONE_ERRNOS
            broken = isinstance(err, (ConnectionResetError, asyncssh.ConnectionLost)) or (
                isinstance(err, OSError) and err.errno == errno.ECONNRESET)
            raise (HostGone if gone else ConnectBroken if broken else TargetError)(
                f"{self.target}: cannot reach {self.destination} over ssh: {reason}") from None
        self._conn = conn
        self.connects += 1
        self.last_error = ""

    async def _offered_fingerprint(self) -> str:
        # Only to show the user what the host offered; this key is never trusted.
        try:
            key = await asyncio.wait_for(
                asyncssh.get_server_host_key(self.host, config=self.config, port=self.port or ()),
                timeout=self.connect_timeout)
        except (TimeoutError, asyncssh.Error, OSError):
            return "an unknown key"
        if key is None:
            return "no key"
        return f"{key.get_algorithm()} {key.get_fingerprint('sha256')}"

    async def _ensure(self, deadline: float) -> str:
        """Connect if needed, retrying with backoff until the deadline; '' when connected, else why not."""
        delay = self.backoff
        if self._conn is None and self._gone_at is not None and time.monotonic() - self._gone_at < GONE_HOLD:
            return self.last_error
        for attempt in range(max(1, self.reconnect_attempts)):
            if self._conn is not None:
                return ""
            try:
                async with self._lock:
                    # A slot is queued for no longer than the command has left: its own timeout still holds.
                    await self._connect_locked(slot_wait=max(0.0, deadline - time.monotonic()))
                return ""
            except (HostKeyMismatch, HostGone, LoginRefused) as err:
                self.last_error = str(err)
                if isinstance(err, HostGone):
                    self._gone_at = time.monotonic()
                # Retrying now cannot fix a wrong key or a refused login, nor bring back a host that is not there.
                return str(err)
            except TargetError as err:
                self.last_error = str(err)
            if attempt + 1 < self.reconnect_attempts and time.monotonic() + delay < deadline:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
            else:
                break
        return self.last_error

    # -- running actions -----------------------------------------------------------------------

    def command(self, action: Shell) -> str:
        """The exact command line sent to the host's login shell."""
        cmd = "sh -c " + q(action.script)
        if action.sudo and self._remote_user != "root":
            # sudo resets the environment; fault scripts need $SSH_CONNECTION to exempt the control channel.
            cmd = 'sudo -n env SSH_CONNECTION="$SSH_CONNECTION" ' + cmd
        return cmd

    async def run(self, action: Action) -> ActionResult:
        started = time.monotonic()
        if not isinstance(action, Shell):
            return ActionResult(ok=False, error=f"ssh target {self.target!r} cannot run {type(action).__name__} "
                                                f"actions ({action.describe()})")
        why = await self._ensure(started + action.timeout)
        conn = self._conn
        if why or conn is None:
            return ActionResult(ok=False, error=why or f"{self.target}: not connected", elapsed=time.monotonic() - started)
        if self._remote_user is None:
            self._remote_user = conn.get_extra_info("username") or ""
        remaining = max(0.1, action.timeout - (time.monotonic() - started))
        command = self.command(action)
        size = len(command.encode())
        if size > MAX_COMMAND_BYTES:
            # Sent, it would fail on the host ("Argument list too long") or make sshd drop the connection.
            return ActionResult(ok=False, error=f"{self.target}: the command is {size // 1024} KiB, over the "
                                                f"{MAX_COMMAND_BYTES // 1024} KiB one command can carry; not sent",
                                elapsed=time.monotonic() - started)
        try:
            proc = await conn.run(command, check=False, timeout=remaining, request_pty=False,
                                  stdin=asyncssh.DEVNULL, errors="replace")
        except asyncssh.TimeoutError as err:
            return ActionResult(ok=False, status=err.exit_status, stdout=_text(err.stdout), stderr=_text(err.stderr),
                                error=f"timed out after {action.timeout:g}s on {self.target}",
                                elapsed=time.monotonic() - started, timed_out=True)
        except (asyncssh.Error, OSError, EOFError) as err:
            self._drop()
            return ActionResult(ok=False, error=f"{self.target}: ssh connection lost: {err or type(err).__name__}",
                                elapsed=time.monotonic() - started)
        code = proc.exit_status
        if code is None:
            # No exit status means the channel closed under us (a signal or a dropped connection).
            if proc.exit_signal is None:
                self._drop()
            return ActionResult(ok=False, stdout=_text(proc.stdout), stderr=_text(proc.stderr),
                                error=f"{self.target}: command ended without an exit status ({proc.exit_signal})",
                                elapsed=time.monotonic() - started)
        return ActionResult(ok=code in action.ok_codes, status=code, stdout=_text(proc.stdout),
                            stderr=_text(proc.stderr), elapsed=time.monotonic() - started)

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.abort()

    def abort(self) -> None:
        """Cut the connection abruptly (tests and benchmarks: a control room that vanished)."""
        self._drop()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            try:
                await asyncio.wait_for(conn.wait_closed(), timeout=2)
            except (TimeoutError, asyncssh.Error, OSError):
                conn.abort()


# known_hosts files as read, shared by every executor: a fleet's file has a line per host, and decoding its keys
# once per host made each connect O(hosts). Keyed by the files' stats: a changed file is read again.
_KNOWN_HOSTS: dict[tuple[str, ...], tuple[tuple[tuple[int, int, int] | None, ...], asyncssh.SSHKnownHosts]] = {}


def _read_known_hosts(paths: list[str]) -> asyncssh.SSHKnownHosts:
    key = tuple(paths)
    stats = _stat_all(paths)
    cached = _KNOWN_HOSTS.get(key)
    if cached is not None and cached[0] == stats and None not in stats:
        return cached[1]
    loaded = asyncssh.read_known_hosts(paths)
    if len(_KNOWN_HOSTS) > 64:
        _KNOWN_HOSTS.clear()  # bounded: a session has a handful of known_hosts files
    _KNOWN_HOSTS[key] = (stats, loaded)
    return loaded


def _stat_all(paths: list[str]) -> tuple[tuple[int, int, int] | None, ...]:
    """Each file's (inode, size, mtime) now, None when it cannot be read: what tells a cached read is stale."""
    out: list[tuple[int, int, int] | None] = []
    for path in paths:
        try:
            st = os.stat(os.path.expanduser(path))
        except OSError:
            out.append(None)
        else:
            out.append((st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)


async def fan_out(executors: Iterable[Executor], action: Action) -> dict[str, ActionResult]:
    """Run one action on many targets at once; results by target name, never raising for one host's failure."""
    execs = list(executors)

    async def one(ex: Executor) -> ActionResult:
        try:
            return await ex.run(action)
        except Exception as err:  # one broken host must not hide the others' results
            return ActionResult(ok=False, error=f"{ex.target}: {err}")

    results = await asyncio.gather(*(one(ex) for ex in execs))
    return {ex.target: res for ex, res in zip(execs, results, strict=True)}

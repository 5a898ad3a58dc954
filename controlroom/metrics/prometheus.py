"""Prometheus as a metric source: one PromQL instant query per series each interval, a range query to backfill.

prometheus-api-client is synchronous (requests), so every query runs in a
thread of this source's own pool and the event loop never blocks. A query
must reduce to one number: a scalar, or a vector with exactly one series.

An answer that does not tell the room anything new is no value for that
series, with the reason in `last_errors` (metrics/telemetry.py then counts
it as lost telemetry when a condition names the series):

* an empty result (the target went away, a metric stopped being scraped);
* NaN or ±Inf (0/0 with no traffic in the range, an empty histogram bucket),
  also so that the journal stays plain JSON;
* HTTP 5xx (or any refusal) for the query; when *every* query is refused,
  the whole source counts as not answering;
* a **stale** answer: its evaluation timestamp is not later than the previous
  answer's for the same query. Prometheus stamps an instant query with the time
  it evaluated it (now, since we send no `time`), so a live Prometheus never
  repeats one; a repeated stamp is a replayed answer (a cache or a stuck proxy
  in front of it). Equal *values* are not staleness: a success rate of 1.0 or
  an error rate of 0 is constant when all is well.
"""

from __future__ import annotations

import ast
import asyncio
import json
import math
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import requests
import urllib3
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.util.retry import Retry

from controlroom.errors import MetricsError
from controlroom.metrics.source import History, SourceUnavailable
from controlroom.scenario.model import MetricSpec, PrometheusConfig

_T = TypeVar("_T")
_STATUS_RE = re.compile(r"HTTP Status Code (\d+) \((b(['\"]).*\3)\)", re.DOTALL)
_MAX_THREADS = 16


class _Unreachable(Exception):
    """Prometheus did not answer at all (refused, timed out, TLS failure, not a Prometheus API)."""


class _QueryFailed(Exception):
    """Prometheus answered but refused this query (PromQL error, auth, 5xx); the message is for the user."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class _Answer:
    """One instant query's result: the value (None when not finite), how many series, and its time stamp."""

    value: float | None
    count: int
    at: float | None = None  # the evaluation time Prometheus stamped on the answer (Unix seconds)
    raw: str = ""  # the value as Prometheus wrote it, e.g. "NaN", "+Inf"


@dataclass(frozen=True)
class CheckResult:
    """One pre-flight line: the series, whether its query works, and a one-line detail."""

    series: str
    ok: bool
    detail: str

    def __iter__(self) -> Iterator[Any]:
        # Lets callers unpack `for series, ok, detail in await src.preflight()`.
        return iter((self.series, self.ok, self.detail))


def _finite(value: str | float) -> float | None:
    v = float(value)
    return v if math.isfinite(v) else None


def _prometheus_message(err: PrometheusApiClientException) -> tuple[int | None, str]:
    """The HTTP status and Prometheus' own `error` text out of the client's exception message."""
    text = str(err)
    m = _STATUS_RE.fullmatch(text)
    if not m:
        return None, text
    status = int(m.group(1))
    try:
        body = ast.literal_eval(m.group(2))
        doc = json.loads(body)
    except (ValueError, SyntaxError):
        return status, ""
    if isinstance(doc, dict) and isinstance(doc.get("error"), str):
        return status, doc["error"]
    return status, ""


class PrometheusSource:
    """A MetricSource for the `promql:` series of a scenario.

    `sample()` raises SourceUnavailable when Prometheus does not answer; a query
    Prometheus refuses gives None for that series and an entry in `last_errors`.
    """

    name = "prometheus"

    def __init__(self, config: PrometheusConfig, metrics: dict[str, MetricSpec]) -> None:
        self.config = config
        self._queries = {n: m.promql for n, m in sorted(metrics.items()) if m.source == "promql" and m.promql}
        self._client: PrometheusConnect | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._pending: set[Future[Any]] = set()
        self.last_errors: dict[str, str] = {}
        self._answered_at: dict[str, float] = {}  # series -> time stamp of its last fresh answer

    def series(self) -> list[str]:
        return list(self._queries)

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._client is None:
            self._client = self._connect()
            self._pool = ThreadPoolExecutor(
                max_workers=max(1, min(_MAX_THREADS, len(self._queries))), thread_name_prefix="prometheus"
            )

    async def close(self) -> None:
        pool, client = self._pool, self._client
        self._pool = self._client = None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if client is not None:
            client._session.close()

    def _connect(self) -> PrometheusConnect:
        cfg = self.config
        url = cfg.url.rstrip("/")
        if not re.match(r"^https?://[^/\s]+", url):
            raise MetricsError(f"observe.prometheus.url: {cfg.url!r} is not an http(s) URL; write e.g. http://prometheus:9090")
        headers: dict[str, str] = {}
        if cfg.bearer_token_file:
            headers["Authorization"] = "Bearer " + _read_secret(cfg.bearer_token_file, "bearer_token_file")
        auth: tuple[str, str] | None = None
        if cfg.basic_auth_user is not None:
            password = ""
            if cfg.basic_auth_password_file:
                password = _read_secret(cfg.basic_auth_password_file, "basic_auth_password_file")
            auth = (cfg.basic_auth_user, password)
        session = requests.Session()
        if cfg.insecure_skip_verify:
            session.verify = False
            # The scenario asked for it explicitly; a warning per query would flood the terminal.
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        elif cfg.ca_file:
            if not Path(cfg.ca_file).is_file():
                raise MetricsError(f"observe.prometheus.ca_file: {cfg.ca_file} does not exist; give the PEM file of the CA")
            session.verify = cfg.ca_file
        # No retries: a sample that misses its interval is worth less than the next one.
        return PrometheusConnect(
            url=url, headers=headers or None, auth=auth, session=session, retry=Retry(total=0), timeout=cfg.timeout
        )

    # -- queries -------------------------------------------------------------------------------

    async def _call(self, fn: Callable[[], _T]) -> _T:
        if self._client is None:
            await self.start()
        assert self._pool is not None
        future = self._pool.submit(fn)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        return await asyncio.wrap_future(future)

    def _refuse_if_behind(self) -> None:
        # A caller that gave up waiting (the engine's per-interval deadline) cannot stop the
        # threads; queueing more queries behind them would only deliver stale values late.
        if self._pending:
            raise SourceUnavailable(
                f"Prometheus at {self.config.url} has not answered the previous queries yet "
                f"(timeout {self.config.timeout:g}s)"
            )

    def _request(self, fn: Callable[[], _T]) -> _T:
        """Run one client call, sorting failures into 'Prometheus is not answering' and 'this query failed'."""
        url = self.config.url
        try:
            return fn()
        except requests.exceptions.SSLError as err:
            raise _Unreachable(
                f"TLS to {url} failed ({_short(err)}); set observe.prometheus.ca_file or insecure_skip_verify"
            ) from None
        except requests.exceptions.Timeout:
            raise _Unreachable(f"Prometheus at {url} did not answer within {self.config.timeout:g}s") from None
        except requests.exceptions.ConnectionError as err:
            # Without retries, urllib3 reports a read timeout as a ConnectionError too.
            if "timeout" in str(err).lower() or "timed out" in str(err).lower():
                raise _Unreachable(f"Prometheus at {url} did not answer within {self.config.timeout:g}s") from None
            why = "connection refused" if "refused" in str(err).lower() else _short(err)
            raise _Unreachable(f"cannot reach Prometheus at {url} ({why}); check observe.prometheus.url") from None
        except PrometheusApiClientException as err:
            status, message = _prometheus_message(err)
            if status in (401, 403):
                raise _QueryFailed(
                    f"Prometheus at {url} refused the credentials (HTTP {status}); "
                    "check bearer_token_file or basic_auth in observe.prometheus"
                ) from None
            if status in (400, 422) and message:
                raise _QueryFailed(f"PromQL error: {message}") from None
            if status is not None and status >= 500 and message:
                raise _QueryFailed(f"Prometheus could not run the query (HTTP {status}): {message}", status) from None
            if status is not None and status >= 500:
                raise _Unreachable(f"{url} answered HTTP {status}; is Prometheus (or the proxy in front of it) up?") from None
            raise _Unreachable(
                f"{url} does not answer like Prometheus (HTTP {status} on /api/v1/query); check observe.prometheus.url"
            ) from None
        except (ValueError, KeyError, TypeError):
            # A 200 that is not the Prometheus JSON API: some other web server.
            raise _Unreachable(
                f"{url} does not answer like Prometheus (no /api/v1 JSON); check observe.prometheus.url"
            ) from None

    def _instant(self, query: str) -> _Answer:
        """One instant query -> its value, the number of series returned, and the answer's time stamp."""
        assert self._client is not None
        client = self._client
        result: Any = self._request(lambda: client.custom_query(query))
        if not isinstance(result, list):
            raise _Unreachable(f"{self.config.url} returned an unexpected query result; is it Prometheus?")
        # A scalar result is [timestamp, "value"]; a vector is a list of {metric, value: [timestamp, "value"]}.
        if len(result) == 2 and not isinstance(result[0], dict):
            point = result
        elif len(result) != 1:
            return _Answer(None, len(result))
        else:
            point = result[0]["value"]
        return _Answer(_finite(point[1]), 1, float(point[0]), str(point[1]))

    def _scrape_health(self) -> tuple[list[str], int]:
        """(scrape targets Prometheus marks down with `up == 0`, how many targets it scrapes at all)."""
        assert self._client is not None
        client = self._client
        result: Any = self._request(lambda: client.custom_query("up"))
        if not isinstance(result, list):
            return [], 0
        down = []
        for item in result:
            if isinstance(item, dict) and _finite(item.get("value", [0, "1"])[1]) == 0:
                labels = item.get("metric") or {}
                down.append(str(labels.get("instance") or labels.get("job") or "?"))
        return sorted(down), len(result)

    async def _no_data(self, where: str) -> str:
        """Why a query returned nothing, as Prometheus itself knows it: a scrape target that is down
        (`up == 0`) is the usual cause, and the metric name is then not what to change."""
        try:
            down, targets = await self._call(self._scrape_health)
        except (_Unreachable, _QueryFailed):
            down, targets = [], -1
        if down:
            which = ", ".join(down)
            return (f"{where}: query returned no data, and Prometheus says its scrape target {which} is down "
                    "(up == 0); start the service it scrapes, or fix the scrape config")
        if targets == 0:
            return (f"{where}: query returned no data, and Prometheus has no scrape results at all (`up` is empty): "
                    "a Prometheus started moments ago needs a few seconds, else check its scrape config")
        return f"{where}: query returned no data; check the metric name and labels"

    async def sample(self) -> dict[str, float | None]:
        self._refuse_if_behind()
        names = list(self._queries)
        outcomes = await asyncio.gather(
            *(self._call(partial(self._instant, self._queries[n])) for n in names), return_exceptions=True
        )
        values: dict[str, float | None] = {}
        errors: dict[str, str] = {}
        refused: list[_QueryFailed] = []
        for name, outcome in zip(names, outcomes, strict=True):
            values[name] = None
            if isinstance(outcome, _Unreachable):
                self.last_errors = {n: str(outcome) for n in names}
                raise SourceUnavailable(str(outcome))
            if isinstance(outcome, _QueryFailed):
                errors[name] = str(outcome)
                refused.append(outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
            elif outcome.count == 0:
                errors[name] = "empty result: the query matches no series now (a target down, a metric gone?)"
            elif outcome.count > 1:
                errors[name] = f"query returns {outcome.count} series; aggregate it with sum() or sum by ()"
            elif outcome.value is None:
                errors[name] = f"{outcome.raw} is not a number (0/0 with no traffic in the range, an empty bucket?)"
            elif outcome.at is not None and outcome.at <= self._answered_at.get(name, float("-inf")):
                errors[name] = (f"stale: the answer is stamped {outcome.at:.3f}, no later than the previous one "
                                "(a cache or a stuck proxy in front of Prometheus?)")
            else:
                values[name] = outcome.value
                if outcome.at is not None:
                    self._answered_at[name] = outcome.at
        self.last_errors = errors
        if names and len(refused) == len(names):
            # Every query refused (HTTP 5xx, credentials gone): Prometheus answers, but gives nothing to see.
            raise SourceUnavailable(f"Prometheus at {self.config.url} refused every query: {refused[0]}")
        return values

    async def preflight(self) -> list[CheckResult]:
        """Run every query once: a one-line verdict per series, naming the metric and what to change."""
        names = list(self._queries)
        outcomes = await asyncio.gather(
            *(self._call(partial(self._instant, self._queries[n])) for n in names), return_exceptions=True
        )
        checks: list[CheckResult] = []
        for name, outcome in zip(names, outcomes, strict=True):
            where = f"observe.metrics.{name}"
            if isinstance(outcome, _Unreachable):
                checks.append(CheckResult(name, False, f"{where}: {outcome}"))
            elif isinstance(outcome, _QueryFailed):
                hint = "; fix the promql" if str(outcome).startswith("PromQL error") else ""
                checks.append(CheckResult(name, False, f"{where}: {outcome}{hint}"))
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                value, count = outcome.value, outcome.count
                if count == 0:
                    checks.append(CheckResult(name, False, await self._no_data(where)))
                elif count > 1:
                    checks.append(
                        CheckResult(
                            name, False, f"{where}: query returns {count} series; aggregate it with sum() or sum by ()"
                        )
                    )
                else:
                    shown = "NaN" if value is None else f"{value:g}"
                    checks.append(CheckResult(name, True, f"{name} = {shown}"))
        return checks

    async def check(self) -> None:
        """Pre-flight that raises MetricsError with the first failing series' message."""
        for result in await self.preflight():
            if not result.ok:
                raise MetricsError(result.detail)

    async def backfill(self, seconds: float, step: float) -> History:
        """The last `seconds` of every series at `step` resolution, for the sparklines at session start.

        Times are Unix epoch seconds as Prometheus stamps them. A series whose
        query fails or returns several series comes back empty; Prometheus not
        answering raises SourceUnavailable.
        """
        end = datetime.fromtimestamp(time.time(), tz=UTC)
        start = datetime.fromtimestamp(end.timestamp() - seconds, tz=UTC)
        step_s = f"{max(step, 0.001):g}"  # float seconds: Prometheus refuses "0.5s" as a duration
        names = list(self._queries)

        def one(query: str) -> list[tuple[float, float | None]]:
            assert self._client is not None
            client = self._client
            result: Any = self._request(lambda: client.custom_query_range(query, start, end, step_s))
            if not isinstance(result, list) or len(result) != 1:
                return []
            return [(float(t), _finite(v)) for t, v in result[0]["values"]]

        outcomes = await asyncio.gather(
            *(self._call(partial(one, self._queries[n])) for n in names), return_exceptions=True
        )
        out: dict[str, list[tuple[float, float | None]]] = {}
        for name, outcome in zip(names, outcomes, strict=True):
            if isinstance(outcome, _Unreachable):
                raise SourceUnavailable(str(outcome))
            if isinstance(outcome, _QueryFailed):
                out[name] = []
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                out[name] = outcome
        return out


def _read_secret(path: str, key: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as err:
        raise MetricsError(f"observe.prometheus.{key}: cannot read {path} ({err.strerror}); fix the path") from None


def _short(err: BaseException) -> str:
    """The innermost reason of a requests/urllib3 error, on one line, without the pool's noise."""
    text = " ".join(str(err).split())
    for pattern in (
        r"(certificate verify failed: [^(]+?)\s*\(_ssl",
        r"\[SSL: [A-Z_]+\] ([^(]+?)\s*\(_ssl",
        r"\[Errno -?\d+\] ([^'\")]+)",
    ):
        m = re.search(pattern, text)
        if m:
            return m.group(1).strip()
    m = re.search(r"Caused by \w+\((.*)$", text)
    reason = m.group(1) if m else text
    return reason.strip(" ()'\"")[:120]

"""Bearer token, basic auth and TLS options reach the wire; refusals give one-line errors naming the setting.

A small stand-in for Prometheus' query API on loopback records what it was
sent (the real binary would need a bcrypt web config and certificates; the
client side is what these options configure).
"""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from controlroom.errors import MetricsError
from controlroom.metrics.prometheus import PrometheusSource
from controlroom.metrics.source import SourceUnavailable
from controlroom.scenario.model import MetricSpec, PrometheusConfig
from tests.deps import require

METRICS = {"up": MetricSpec(name="up", source="promql", promql="up")}


class _Api(BaseHTTPRequestHandler):
    seen: list[dict[str, str]]
    want_auth: str | None
    delay: float = 0.0
    status: int = 0  # answer this status with a non-JSON body (a proxy in front of a dead Prometheus)

    def do_GET(self) -> None:
        type(self).seen.append(dict(self.headers))
        time.sleep(self.delay)
        if self.status:
            self.send_response(self.status)
            self.send_header("Content-Length", "11")
            self.end_headers()
            self.wfile.write(b"Bad Gateway")
            return
        if self.want_auth is not None and self.headers.get("Authorization") != self.want_auth:
            body = json.dumps({"status": "error", "errorType": "unauthorized", "error": "no"}).encode()
            self.send_response(401)
        else:
            result = [{"metric": {}, "value": [1.0, "1"]}]
            body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}).encode()
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


def _serve(want_auth: str | None, context: ssl.SSLContext | None = None) -> tuple[ThreadingHTTPServer, type[_Api]]:
    handler = type("Api", (_Api,), {"seen": [], "want_auth": want_auth})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, handler


@pytest.fixture
def api() -> Iterator[tuple[str, type[_Api]]]:
    server, handler = _serve(want_auth="Bearer s3cret")
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


async def test_the_bearer_token_is_read_from_its_file_and_sent(api, tmp_path: Path) -> None:
    url, handler = api
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    src = PrometheusSource(PrometheusConfig(url=url, bearer_token_file=str(token)), METRICS)
    try:
        assert await src.sample() == {"up": 1.0}
    finally:
        await src.close()
    assert handler.seen[-1]["Authorization"] == "Bearer s3cret"


async def test_refused_credentials_name_the_settings_to_check(api, tmp_path: Path) -> None:
    url, _ = api
    token = tmp_path / "token"
    token.write_text("wrong")
    src = PrometheusSource(PrometheusConfig(url=url, bearer_token_file=str(token)), METRICS)
    try:
        [check] = await src.preflight()
    finally:
        await src.close()
    assert check.detail == (
        f"observe.metrics.up: Prometheus at {url} refused the credentials (HTTP 401); "
        "check bearer_token_file or basic_auth in observe.prometheus"
    )
    assert not check.ok


async def test_basic_auth_password_comes_from_its_file(tmp_path: Path) -> None:
    expected = "Basic " + base64.b64encode(b"grafana:pa ss").decode()
    server, handler = _serve(want_auth=expected)
    password = tmp_path / "password"
    password.write_text("pa ss\n")
    src = PrometheusSource(
        PrometheusConfig(url=f"http://127.0.0.1:{server.server_address[1]}", basic_auth_user="grafana",
                         basic_auth_password_file=str(password)),
        METRICS,
    )
    try:
        assert await src.sample() == {"up": 1.0}
    finally:
        await src.close()
        server.shutdown()
        server.server_close()
    assert handler.seen[-1]["Authorization"] == expected


async def test_an_unreadable_secret_file_is_a_one_line_error() -> None:
    src = PrometheusSource(PrometheusConfig(url="http://127.0.0.1:9", bearer_token_file="/nonexistent/token"), METRICS)
    with pytest.raises(MetricsError, match=r"^observe\.prometheus\.bearer_token_file: cannot read /nonexistent/token"):
        await src.start()


def test_a_url_without_a_scheme_is_refused() -> None:
    src = PrometheusSource(PrometheusConfig(url="prometheus:9090"), METRICS)
    with pytest.raises(MetricsError, match=r"is not an http\(s\) URL; write e\.g\. http://prometheus:9090"):
        src._connect()


@pytest.fixture
def tls_api(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    require("openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server, _ = _serve(want_auth=None, context=context)
    yield f"https://127.0.0.1:{server.server_address[1]}", cert
    server.shutdown()
    server.server_close()


async def test_tls_needs_the_ca_file_or_an_explicit_skip(tls_api) -> None:
    url, cert = tls_api
    untrusted = PrometheusSource(PrometheusConfig(url=url, timeout=2), METRICS)
    try:
        [check] = await untrusted.preflight()
        assert not check.ok
        assert check.detail == (
            f"observe.metrics.up: TLS to {url} failed (certificate verify failed: self-signed certificate); "
            "set observe.prometheus.ca_file or insecure_skip_verify"
        )
        with pytest.raises(SourceUnavailable, match="TLS"):
            await untrusted.sample()
    finally:
        await untrusted.close()
    for config in (PrometheusConfig(url=url, ca_file=str(cert)), PrometheusConfig(url=url, insecure_skip_verify=True)):
        src = PrometheusSource(config, METRICS)
        try:
            assert await src.sample() == {"up": 1.0}
        finally:
            await src.close()


async def test_a_hung_prometheus_does_not_pile_up_queries_behind_the_engines_deadline() -> None:
    import asyncio

    server, handler = _serve(want_auth=None)
    handler.delay = 1.0
    src = PrometheusSource(PrometheusConfig(url=f"http://127.0.0.1:{server.server_address[1]}", timeout=3), METRICS)
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(src.sample(), timeout=0.2)  # the engine gives up on this interval
        with pytest.raises(SourceUnavailable, match="has not answered the previous queries yet"):
            await src.sample()
        assert len(handler.seen) == 1  # the second interval sent nothing
        await asyncio.sleep(1.2)
        handler.delay = 0.0
        assert await src.sample() == {"up": 1.0}
    finally:
        await src.close()
        server.shutdown()
        server.server_close()


async def test_a_slow_prometheus_and_a_failing_proxy_give_one_liners() -> None:
    server, handler = _serve(want_auth=None)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        handler.delay = 0.6
        slow = PrometheusSource(PrometheusConfig(url=url, timeout=0.2), METRICS)
        [check] = await slow.preflight()
        await slow.close()
        assert check.detail == f"observe.metrics.up: Prometheus at {url} did not answer within 0.2s"
        handler.delay, handler.status = 0.0, 502
        proxied = PrometheusSource(PrometheusConfig(url=url), METRICS)
        with pytest.raises(SourceUnavailable) as err:
            await proxied.sample()
        await proxied.close()
        assert str(err.value) == f"{url} answered HTTP 502; is Prometheus (or the proxy in front of it) up?"
    finally:
        server.shutdown()
        server.server_close()

"""`start_demo_service` (the Prometheus walkthrough's shop) returns once the shop answers, and says why when it
cannot start instead of waiting out its timeout."""

from __future__ import annotations

import socket
import time
import urllib.request

import pytest

from controlroom.errors import MetricsError
from controlroom.metrics.local_prometheus import start_demo_service


def test_the_shop_answers_when_it_returns() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = start_demo_service(port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as answer:
            assert answer.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()


def test_a_shop_that_cannot_listen_is_an_error_naming_why_at_once() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(MetricsError) as err:
            start_demo_service(port, timeout=30)
    assert time.monotonic() - started < 20  # the exit is noticed, not the 30 s timeout waited out
    message = str(err.value)
    assert message.startswith(f"the demo service on port {port} exited with status 2: "), message
    assert f"cannot listen on 127.0.0.1:{port}" in message, message

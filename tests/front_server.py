"""A front that always answers 200, on loopback: the probe target of the shipped fleet templates in tests, where
the fault goes to a stand-in (Gremlin, the simulated cluster) and touches no real traffic."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PLACEHOLDER = "http://front.zone-a.staging.example:8080/"  # what the fleet templates probe


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def front_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def for_test(text: str, url: str) -> str:
    """A shipped fleet template made runnable here: no template line, the probe on `url`, 1 s steps and windows."""
    assert "template: true\n" in text and PLACEHOLDER in text
    return (text.replace("template: true\n", "").replace(PLACEHOLDER, url)
            .replace("duration: 60s", "duration: 1s").replace("window: 3s", "window: 1s"))

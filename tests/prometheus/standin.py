"""A stand-in Prometheus on loopback that lies on demand: HTTP 500, an empty vector, NaN, or a replayed answer.

It speaks just enough of the HTTP API (`/api/v1/query`, `/api/v1/query_range`) for PrometheusSource; each
query string answers 1 in the mode set for it (or the default mode). A real Prometheus cannot be made to
do these on cue, and a proxy or cache in front of one does them in the field.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MODES = ("ok", "500", "empty", "nan", "stale")


class StandInPrometheus:
    def __init__(self) -> None:
        self.mode = "ok"
        self.modes: dict[str, str] = {}  # query -> mode, over `mode`
        self._stamps: dict[str, float] = {}
        self.queries = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def _answer(self, query: str) -> None:
                path = urlsplit(self.path).path
                if path == "/api/v1/query_range":
                    self._send(200, {"status": "success", "data": {"resultType": "matrix", "result": []}})
                    return
                if path != "/api/v1/query":
                    self._send(404, {"status": "error", "error": "not found"})
                    return
                owner.queries += 1
                mode = owner.modes.get(query, owner.mode)
                if mode == "500":
                    self._send(500, {"status": "error", "errorType": "internal",
                                     "error": "query processing would load too many samples into memory"})
                    return
                if mode == "stale":
                    stamp = owner._stamps.get(query, time.time())
                else:
                    stamp = owner._stamps[query] = round(time.time(), 3)
                if mode == "empty":
                    result: list[object] = []
                else:
                    result = [{"metric": {}, "value": [stamp, "NaN" if mode == "nan" else "1"]}]
                self._send(200, {"status": "success", "data": {"resultType": "vector", "result": result}})

            def _send(self, code: int, doc: object) -> None:
                body = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._answer(parse_qs(urlsplit(self.path).query).get("query", [""])[0])

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                self._answer((form.get("query") or parse_qs(urlsplit(self.path).query).get("query") or [""])[0])

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="standin-prometheus", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> StandInPrometheus:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

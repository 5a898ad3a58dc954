"""The lab's sample service: an HTTP front on one host calling a backend on another, stdlib only.

Run inside a lab host (`python sample_service.py front|backend ...`) so that a
partition, a bandwidth limit or a paused backend shows up as errors or slow
answers on the front: `GET /` on the front calls the backend's `GET /`;
`GET /blob?bytes=N` on either returns N bytes, for throughput checks.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

_CHUNK = b"x" * 65536


class _Handler(BaseHTTPRequestHandler):
    server_version = "controlroom-lab/1"
    role = "backend"
    backend = ""
    timeout_s = 2.0

    def log_message(self, format: str, *args: object) -> None:  # quiet: the lab runs many requests
        pass

    def _send(self, code: int, body: bytes, ctype: str = "text/plain") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path == "/blob":
            n = int(parse_qs(url.query).get("bytes", ["1048576"])[0])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            while n > 0:
                chunk = _CHUNK[: min(n, len(_CHUNK))]
                self.wfile.write(chunk)
                n -= len(chunk)
            return
        if url.path in ("/", "/health"):
            if self.role == "backend":
                self._send(200, b"backend ok\n")
                return
            try:
                with urllib.request.urlopen(self.backend + "/", timeout=self.timeout_s) as resp:
                    body = resp.read()
                self._send(200, b"front ok; " + body)
            except (urllib.error.URLError, OSError) as err:
                self._send(502, f"front: backend unreachable: {err}\n".encode())
            return
        self._send(404, b"not found\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("role", choices=["front", "backend"])
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--backend", default="http://127.0.0.1:8081")
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--pidfile")
    args = ap.parse_args(argv)
    handler = type("Handler", (_Handler,), {"role": args.role, "backend": args.backend.rstrip("/"),
                                            "timeout_s": args.timeout})
    server = ThreadingHTTPServer((args.bind, args.port), handler)
    server.daemon_threads = True
    if args.pidfile:
        Path(args.pidfile).write_text(f"{os.getpid()}\n")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A throwaway Prometheus on loopback, for the tests, the benchmarks and rehearsals without a real one.

Runs the distribution's `prometheus` binary with a temporary TSDB and a
scrape config for the given loopback targets. Readiness (`/-/ready`) comes in
~0.1 s but the first sample only after a few seconds, so `wait_for_data`
polls a query until it returns something.
"""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO

from controlroom.errors import MetricsError
from controlroom.lab._proc import die_with_parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalPrometheus:
    """`with LocalPrometheus(["127.0.0.1:8080"]) as prom: prom.url` — stopped and its TSDB removed on exit."""

    def __init__(self, scrape: list[str], interval: float = 1.0, binary: str | None = None, port: int = 0,
                 *, die_with_parent: bool = False) -> None:
        self.scrape = scrape
        # The child gets SIGTERM when the thread that started it dies (even by SIGKILL): only for a process that
        # starts it from its main thread and lives as long as it, like `main` below.
        self.die_with_parent = die_with_parent
        self.interval = interval
        self.binary = binary or shutil.which("prometheus") or ""
        self.wanted_port = port
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> LocalPrometheus:
        if not self.binary:
            raise MetricsError("prometheus is not installed; install the Debian package 'prometheus'")
        try:
            return self._start(timeout)
        except BaseException:  # failed, timed out, or a signal mid-way: no child, no temp dir left behind
            self.stop()
            raise

    def _start(self, timeout: float) -> LocalPrometheus:
        self._dir = tempfile.TemporaryDirectory(prefix="controlroom-prom-")
        root = Path(self._dir.name)
        interval = f"{max(1, round(self.interval * 1000))}ms"
        config = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": interval},
            "scrape_configs": [{"job_name": "sample", "static_configs": [{"targets": self.scrape}]}],
        }
        # JSON is YAML: no YAML writer needed.
        (root / "prometheus.yml").write_text(json.dumps(config), encoding="utf-8")
        self.port = self.wanted_port or free_port()
        self._log = open(root / "prometheus.log", "wb")  # closed in stop()
        self.proc = subprocess.Popen(
            [
                self.binary,
                f"--config.file={root / 'prometheus.yml'}",
                f"--storage.tsdb.path={root / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            start_new_session=True,
            preexec_fn=die_with_parent if self.die_with_parent else None,
        )
        proc = self.proc

        def exited() -> str:
            log = (root / "prometheus.log").read_text(errors="replace")[-400:]
            return f"prometheus exited with status {proc.returncode}: {log.strip()}"

        if _answers_200(proc, f"{self.url}/-/ready", timeout, exited):
            return self
        raise MetricsError(f"prometheus did not become ready within {timeout:g}s")

    def query(self, promql: str) -> list[dict[str, object]]:
        """One instant query straight over HTTP (no client): the raw `result` list."""
        qs = urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{qs}", timeout=2) as r:
            return list(json.loads(r.read())["data"]["result"])

    def wait_for_data(self, promql: str, timeout: float = 20.0) -> float:
        """Poll until `promql` returns a result; the seconds it took (the first scrape takes ~6 s)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            try:
                if self.query(promql):
                    return time.monotonic() - t0
            except (urllib.error.URLError, OSError, KeyError, ValueError):
                pass
            time.sleep(0.1)
        raise MetricsError(f"prometheus returned no data for {promql!r} within {timeout:g}s")

    def kill(self) -> None:
        """SIGKILL, as a crash would: no clean shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> LocalPrometheus:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _answers_200(proc: subprocess.Popen[bytes], url: str, timeout: float, exited: Callable[[], str]) -> bool:
    """Whether `url` answers 200 within `timeout` seconds (asked every 50 ms, 1 s each), while `proc`, which
    serves it, runs: if it exits first, MetricsError(exited()) says why."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise MetricsError(exited())
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    return False


def start_demo_service(port: int, timeout: float = 10.0) -> subprocess.Popen[bytes]:
    """The demo's sample shop on 127.0.0.1:`port`, in its own process, answering /health before this returns."""
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "controlroom.lab.demo_service", "--port", str(port)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def exited() -> str:
        err = (proc.stderr.read() if proc.stderr else b"").decode(errors="replace").strip()[-300:]
        return f"the demo service on port {port} exited with status {proc.returncode}: {err}"

    if _answers_200(proc, f"http://127.0.0.1:{port}/health", timeout, exited):
        return proc
    proc.terminate()
    raise MetricsError(f"the demo service did not answer on 127.0.0.1:{port} within {timeout:g}s")


def steady_load(port: int, stop: threading.Event, rps: float = 20.0) -> threading.Thread:
    """A gentle, steady stream of GET /checkout to the shop on loopback, so its rates are never empty.

    Only 127.0.0.1, one request in flight: it is the walkthrough's background traffic, not a load test.
    """

    def run() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        while not stop.is_set():
            try:
                conn.request("GET", "/checkout")
                conn.getresponse().read()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            stop.wait(1.0 / rps)
        conn.close()

    thread = threading.Thread(target=run, name="demo-load", daemon=True)
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> None:
    """`python -m controlroom.metrics.local_prometheus --scrape 127.0.0.1:8089 --port 9090` until Ctrl-C.

    `--demo-service 8089` also runs the demo's sample shop on that port, under a gentle steady load of
    /checkout requests, and scrapes it. A command after `--`
    runs once the first scrape has landed, and everything stops when it ends: the README's walkthrough is
    `python -m controlroom.metrics.local_prometheus --demo-service 8089 -- controlroom run scenarios/lab-prometheus.yaml`.
    """
    import argparse

    parser = argparse.ArgumentParser(description="Run a throwaway Prometheus on loopback scraping the given targets.")
    parser.add_argument("--scrape", action="append", default=[], help="host:port to scrape (repeatable)")
    parser.add_argument("--port", type=int, default=9090, help="port to listen on, on 127.0.0.1 (default 9090)")
    parser.add_argument("--interval", type=float, default=1.0, help="scrape interval in seconds (default 1)")
    parser.add_argument("--demo-service", type=int, metavar="PORT",
                        help="also run the demo's sample shop on 127.0.0.1:PORT and scrape it")
    parser.add_argument("command", nargs=argparse.REMAINDER,
                        help="after --: a command to run once Prometheus has data; everything stops when it ends")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command

    running: list[subprocess.Popen[bytes]] = []

    def on_signal(signum: int, frame: object) -> None:
        child = running[0] if running else None
        if child is not None and child.poll() is None:
            # The command (a `controlroom run`, say) gets the signal and rolls back; we wait for it to end.
            child.send_signal(signum)
            return
        raise SystemExit(128 + signum)  # unwinds through `with` and `finally`: Prometheus and the shop are stopped

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    shop: subprocess.Popen[bytes] | None = None
    stop_load = threading.Event()
    try:
        if args.demo_service:
            shop = start_demo_service(args.demo_service)
            steady_load(args.demo_service, stop_load)
            args.scrape.append(f"127.0.0.1:{args.demo_service}")
            print(f"demo service on http://127.0.0.1:{args.demo_service}, ~20 checkouts/s", flush=True)
        with LocalPrometheus(args.scrape, args.interval, port=args.port, die_with_parent=True) as prom:
            print(f"prometheus on {prom.url} scraping {', '.join(args.scrape) or 'nothing'}", flush=True)
            if args.scrape:
                # The first sample lands ~6 s after start: a query before it finds nothing at all; a rate
                # needs two samples of traffic.
                prom.wait_for_data("up", timeout=30)
                if args.demo_service:
                    prom.wait_for_data("sum(rate(http_requests_total[10s])) > 0", timeout=30)
            print("ready: the first scrape has landed" + ("" if command else "; Ctrl-C stops it"), flush=True)
            assert prom.proc is not None
            if command:
                running.append(subprocess.Popen(command))
                raise SystemExit(running[0].wait())
            prom.proc.wait()
    except KeyboardInterrupt:
        pass
    except MetricsError as err:
        raise SystemExit(f"controlroom: {err}") from None
    finally:
        stop_load.set()
        if shop is not None:
            shop.terminate()
            try:
                shop.wait(timeout=5)
            except subprocess.TimeoutExpired:
                shop.kill()


if __name__ == "__main__":
    main()

"""A Toxiproxy stand-in: Shopify/toxiproxy's HTTP API on loopback, really proxying TCP with real toxics.

No Toxiproxy server can be installed on the machines this project is built on, so the lab,
the demo and the tests talk to this one. It follows toxiproxy v2.12 (`api.go`,
`proxy.go`, `proxy_collection.go`, `toxic_collection.go`, `link.go`, `toxics/`): the
same routes, status codes, JSON fields and types, error bodies and messages, and toxics
ported line by line onto asyncio streams (controlroom/lab/_toxics.py), so a latency
toxic really delays the bytes, `enabled: false` really refuses and drops connections,
and deleting a toxic really restores the link.

    python -m controlroom.lab.toxiproxy --port 8474 --proxy shop=127.0.0.1:20000=127.0.0.1:8080

In tests: `stand_in = ToxiproxyStandIn(port=0); await stand_in.start(); ...; await stand_in.stop()`,
or `ToxiproxyProcess` for a server in a process of its own (one that must outlive a killed room).

API (all JSON; errors are `{"error": "...", "status": N}` served as text/plain, as Go's http.Error does):
  GET /proxies (map name → proxy) · POST /proxies (201; 409 exists; 400 missing name/upstream)
  POST /populate (201, or the failing status with the proxies done so far)
  GET|POST(deprecated)|PATCH|DELETE /proxies/{p} (delete 204; 404 proxy not found)
  GET|POST /proxies/{p}/toxics (create **200**; 409 toxic already exists; 400 bad type/stream/body)
  GET|POST(deprecated)|PATCH|DELETE /proxies/{p}/toxics/{t} (delete 204; 404 toxic not found)
  POST /reset (204: every proxy enabled, every toxic removed) · GET /version
  A `Mozilla/` User-Agent gets 403 on every matched route; an unknown path 404, a wrong method 405.

Where it differs from the real Toxiproxy (on purpose or for want of the real thing):
  * Listens on loopback only (by default): a proxy `listen` on another address is refused with a 500
    listen error; `listen: ""` or `":0"` binds 127.0.0.1 (the real server binds every interface).
  * Go's JSON decoder is imitated, not embedded: the same field names and types (toxic attributes are
    ints: 1.5 or "100" is a 400), unknown fields ignored, keys matched case-insensitively; the wording
    of decode errors is close to Go's, not byte-identical. A PATCH whose body has a bad value changes
    nothing (Go applies the good fields before failing).
  * Toxicity is shown as given (0.3 stays 0.3; Go rounds through float32).
  * slicer: Go recurses forever (average_size 0) or panics (size_variation past the piece) and takes
    the whole server down; here pieces are kept at least one byte and inside the chunk.
  * Back-pressure: a link holds at most 4 MiB before it stops reading its source (Go: channel
    buffers; a latency toxic buffers 1024 chunks).
  * No /metrics (the real one serves it only with --proxy-metrics/--runtime-metrics); no config file;
    no 25 s handler timeout; no hostname listen addresses other than `localhost`.
Kept on purpose, because the product must cope with them: the `TYPE_STREAM` default name,
toxic create answering 200 (not 201), `POST /reset` re-enabling proxies, reset_peer setting SO_LINGER 0
only on connections opened while it exists (one added later closes with FIN), a timeout toxic
closing its connections when removed, and toxics keyed by name across both streams.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import random
import re
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controlroom.lab._http import HttpServer, Request, Response, text
from controlroom.lab._proc import (
    StandInError,
    StandInProcess,
    served_from_the_command_line,
    start_stand_in,
    until_stopped,
)
from controlroom.lab._toxics import (
    DIRECTIONS,
    DOWNSTREAM,
    TOXIC_TYPES,
    UPSTREAM,
    Connection,
    Link,
    NoopToxic,
    Toxic,
)

DEFAULT_PORT = 8474
VERSION = "2.12.0"


class ApiError(Exception):
    """An error the API answers with `{"error": message, "status": status}`."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def _bad_body(detail: str) -> ApiError:
    return ApiError(f"bad request body: {detail}", 400)


ERR_PROXY_NOT_FOUND = ("proxy not found", 404)
ERR_PROXY_EXISTS = ("proxy already exists", 409)
ERR_INVALID_STREAM = ("stream was invalid, can be either upstream or downstream", 400)
ERR_INVALID_TOXIC_TYPE = ("invalid toxic type", 400)
ERR_TOXIC_EXISTS = ("toxic already exists", 409)
ERR_TOXIC_NOT_FOUND = ("toxic not found", 404)


# --- Go's encoding/json, as far as the API's bodies need it -------------------------------------------------

def _go_decode(body: bytes) -> Any:
    """The first JSON value of the body, as json.NewDecoder(body).Decode does (trailing data is ignored)."""
    source = body.decode("utf-8", errors="replace").lstrip()
    if not source:
        raise _bad_body("EOF")
    try:
        value, _ = json.JSONDecoder().raw_decode(source)
    except json.JSONDecodeError as err:
        if err.pos >= len(source.rstrip()):
            raise _bad_body("unexpected EOF") from None
        raise _bad_body(f"invalid character {source[err.pos]!r} looking for beginning of value") from None
    return value


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object" if isinstance(value, dict) else "value"


def _decode_fields(doc: Any, go_struct: str, types: dict[str, str], prefix: str = "") -> dict[str, Any]:
    """The fields of `doc` Go would set on a struct with these fields: keys matched case-insensitively,
    unknown keys and nulls skipped, a value of the wrong type a 400 naming the field as Go does."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        name = key if key in types else next((n for n in types if n.lower() == key.lower()), None)
        if name is None or value is None:
            continue
        want = types[name]
        where = f"Go struct field {go_struct}.{prefix}{name} of type {want}"
        ok = {
            "string": isinstance(value, str),
            "bool": isinstance(value, bool),
            "float32": isinstance(value, (int, float)) and not isinstance(value, bool),
            "int64": isinstance(value, int) and not isinstance(value, bool) and -2**63 <= value < 2**63,
            "int": isinstance(value, int) and not isinstance(value, bool) and -2**63 <= value < 2**63,
        }[want]
        if not ok:
            shown = _json_kind(value)
            if shown == "number":
                shown = f"number {value!r}"
            raise _bad_body(f"json: cannot unmarshal {shown} into {where}")
        out[name] = value
    return out


def _expect_object(doc: Any, go_type: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise _bad_body(f"json: cannot unmarshal {_json_kind(doc)} into Go value of type {go_type}")
    return doc


PROXY_FIELDS = {"name": "string", "listen": "string", "upstream": "string", "enabled": "bool"}
WRAPPER_FIELDS = {"name": "string", "type": "string", "stream": "string", "toxicity": "float32"}


# --- addresses ----------------------------------------------------------------------------------------------

def split_host_port(address: str) -> tuple[str, str]:
    """Go's net.SplitHostPort, with its error wording."""
    if address.startswith("["):
        end = address.find("]")
        if end < 0:
            raise ValueError(f"address {address}: missing ']' in address")
        host, rest = address[1:end], address[end + 1:]
        if not rest.startswith(":"):
            raise ValueError(f"address {address}: missing port in address")
        return host, rest[1:]
    if ":" not in address:
        raise ValueError(f"address {address}: missing port in address")
    host, _, port = address.rpartition(":")
    if ":" in host:
        raise ValueError(f"address {address}: too many colons in address")
    return host, port


def _join(host: str, port: int | str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _resolve(address: str) -> tuple[str, int]:
    """(ip, port) for a listen address, as net.ResolveTCPAddr; '' stays '' (any address)."""
    host, port_text = split_host_port(address or ":0")  # Go listens on "" as on ":0"
    if not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"address {address}: invalid port")
    port = int(port_text)
    if host == "":
        return "", port
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(host)), port
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise ValueError(f"lookup {host}: no such host") from None
    infos.sort(key=lambda info: info[0] != socket.AF_INET)  # Go prefers IPv4
    return str(infos[0][4][0]), port


# --- toxics of one proxy ------------------------------------------------------------------------------------

class ToxicCollection:
    """A proxy's toxics: one chain per stream, each starting with a hidden noop, and the live links."""

    def __init__(self, rng: random.Random) -> None:
        self.chain: list[list[Toxic]] = [[NoopToxic()], [NoopToxic()]]
        self.links: set[Link] = set()
        self._rng = rng
        self._lock = asyncio.Lock()

    def all(self) -> list[Toxic]:
        return self.chain[UPSTREAM][1:] + self.chain[DOWNSTREAM][1:]

    def find(self, name: str) -> Toxic | None:
        return next((t for t in self.all() if t.name == name), None)

    def _links(self, direction: int) -> list[Link]:
        return [link for link in self.links if link.direction == direction]

    async def add_json(self, body: bytes) -> Toxic:
        async with self._lock:
            doc = _expect_object(_go_decode(body), "toxics.ToxicWrapper")
            top = _decode_fields(doc, "ToxicWrapper", WRAPPER_FIELDS)
            raw_attributes = next((v for k, v in doc.items() if k.lower() == "attributes"), None)
            if raw_attributes is not None and not isinstance(raw_attributes, dict):
                raise _bad_body(f"json: cannot unmarshal {_json_kind(raw_attributes)} into Go struct field "
                                "ToxicWrapper.attributes of type toxics.NoopToxic")
            stream = top.get("stream", "downstream")
            if stream.lower() not in DIRECTIONS:
                raise ApiError(*ERR_INVALID_STREAM)
            kind = top.get("type", "")
            name = top.get("name", "") or f"{kind}_{stream}"
            cls = TOXIC_TYPES.get(kind)
            if cls is None:
                raise ApiError(*ERR_INVALID_TOXIC_TYPE)
            if self.find(name) is not None:
                raise ApiError(*ERR_TOXIC_EXISTS)
            attributes = _decode_fields(raw_attributes or {}, cls.go_struct, cls.go_types, "attributes.")
            toxic = cls(name=name, stream=stream, toxicity=float(top.get("toxicity", 1.0)), **attributes)
            chain = self.chain[toxic.direction]
            chain.append(toxic)
            await asyncio.gather(*(_quietly(link.add_toxic(toxic)) for link in self._links(toxic.direction)))
            return toxic

    async def update_json(self, name: str, body: bytes) -> Toxic:
        async with self._lock:
            toxic = self.find(name)
            if toxic is None:
                raise ApiError(*ERR_TOXIC_NOT_FOUND)
            doc = _expect_object(_go_decode(body), "struct { Attributes interface {}; Toxicity float32 }")
            top = _decode_fields(doc, "", {"toxicity": "float32"})
            raw_attributes = next((v for k, v in doc.items() if k.lower() == "attributes"), None)
            if raw_attributes is not None and not isinstance(raw_attributes, dict):
                raise _bad_body(f"json: cannot unmarshal {_json_kind(raw_attributes)} into Go struct field "
                                f".attributes of type *toxics.{type(toxic).go_struct}")
            attributes = _decode_fields(raw_attributes or {}, type(toxic).go_struct, type(toxic).go_types,
                                        "attributes.")
            for key, value in attributes.items():
                setattr(toxic, key, value)
            if "toxicity" in top:
                toxic.toxicity = float(top["toxicity"])
            index = _index(self.chain[toxic.direction], toxic)
            await asyncio.gather(*(_quietly(link.update_toxic(index, toxic))
                                   for link in self._links(toxic.direction)))
            return toxic

    async def remove(self, name: str) -> None:
        async with self._lock:
            toxic = self.find(name)
            if toxic is None:
                raise ApiError(*ERR_TOXIC_NOT_FOUND)
            await self._remove(toxic)

    async def reset(self) -> None:
        async with self._lock:
            for direction in (UPSTREAM, DOWNSTREAM):
                while len(self.chain[direction]) > 1:
                    await self._remove(self.chain[direction][1])

    async def _remove(self, toxic: Toxic) -> None:
        chain = self.chain[toxic.direction]
        index = _index(chain, toxic)
        del chain[index]
        await asyncio.gather(*(_quietly(link.remove_toxic(index, toxic))
                               for link in self._links(toxic.direction)))

    async def start_link(self, direction: int, source: asyncio.StreamReader, dest: asyncio.StreamWriter,
                         conn: Connection, on_done: Callable[[Link], None]) -> None:
        async with self._lock:
            def done(link: Link) -> None:
                self.links.discard(link)
                on_done(link)

            link = Link(direction, self.chain[direction], source, dest, conn, self._rng, done)
            self.links.add(link)
            link.start()


def _index(chain: list[Toxic], toxic: Toxic) -> int:
    return next(i for i, t in enumerate(chain) if t is toxic)


async def _quietly(op: Any) -> None:
    # A link that is closing may no longer line up with the chain (Go leaves it as it is too); it ends by itself.
    with contextlib.suppress(IndexError):
        await op


# --- proxies ------------------------------------------------------------------------------------------------

class Proxy:
    """One proxy: a listener on `listen` whose every client gets its own connection to `upstream`."""

    def __init__(self, owner: ToxiproxyStandIn, name: str, listen: str, upstream: str) -> None:
        self.name, self.listen, self.upstream = name, listen, upstream
        self.enabled = False
        self.toxics = ToxicCollection(owner.rng)
        self.connections: set[Connection] = set()
        self._owner = owner
        self._server: asyncio.Server | None = None
        self._lock = asyncio.Lock()

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "listen": self.listen, "upstream": self.upstream, "enabled": self.enabled,
                "toxics": [t.to_json() for t in self.toxics.all()]}

    async def start(self) -> None:
        async with self._lock:
            await self._start()

    async def stop(self) -> None:
        async with self._lock:
            await self._stop()

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        async with self._lock:
            if await self.differs(listen, upstream):
                await self._stop()
                self.listen, self.upstream = listen, upstream
            if enabled != self.enabled:
                if enabled:
                    await self._start()
                else:
                    await self._stop()

    async def differs(self, listen: str, upstream: str) -> bool:
        try:
            host, port = await _resolve(listen)
        except ValueError as err:
            raise ApiError(str(err), 500) from None
        return self.listen != _join(host, port) or self.upstream != upstream

    async def _start(self) -> None:
        if self.enabled:
            raise ProxyAlreadyStarted
        try:
            host, port = await _resolve(self.listen)
        except ValueError as err:
            raise ApiError(f"listen tcp: {err}", 500) from None
        bind = host or "127.0.0.1"
        if self._owner.loopback_only and not ipaddress.ip_address(bind).is_loopback:
            raise ApiError(f"listen tcp {_join(host, port)}: the stand-in listens on loopback only", 500)
        try:
            self._server = await asyncio.start_server(self._accept, bind, port, reuse_address=True)
        except OSError as err:
            reason = (os.strerror(err.errno) if err.errno else str(err)).lower()
            raise ApiError(f"listen tcp {_join(host, port)}: bind: {reason}", 500) from None
        bound = self._server.sockets[0].getsockname()
        self.listen = _join(str(bound[0]), int(bound[1]))
        self.enabled = True

    async def _stop(self) -> None:
        if not self.enabled:
            return
        self.enabled = False
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for conn in list(self.connections):
            conn.close_all()
        if server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 5.0)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server = self._server
        try:
            host, port = split_host_port(self.upstream)
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 30.0)
        except (OSError, ValueError, TimeoutError):
            writer.close()  # as Toxiproxy: the client is accepted, then closed when the upstream is not there
            return
        conn = Connection(writer, up_writer)
        if self._server is not server or server is None:
            conn.close_all()  # disabled while dialling
            return
        self.connections.add(conn)
        ended: list[Link] = []

        def link_ended(link: Link) -> None:
            ended.append(link)
            if len(ended) == 2:
                self.connections.discard(conn)

        await self.toxics.start_link(UPSTREAM, reader, up_writer, conn, link_ended)
        await self.toxics.start_link(DOWNSTREAM, up_reader, writer, conn, link_ended)

    async def shutdown(self) -> None:
        """Stop listening, drop every connection and cancel every task (the stand-in is stopping)."""
        await self.stop()
        for link in list(self.toxics.links):
            await link.stop()
        for conn in list(self.connections):
            for task in list(conn.tasks):
                task.cancel()
            for task in list(conn.tasks):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


class ProxyAlreadyStarted(Exception):
    pass


# --- the server ---------------------------------------------------------------------------------------------

class ToxiproxyStandIn:
    """The stand-in server. `await start()` returns the API port; `await stop()` ends every proxy and link."""

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT, *, loopback_only: bool = True,
                 seed: int | None = None, version: str = VERSION) -> None:
        self.host, self.port = host, port
        self.loopback_only = loopback_only
        self.version = version
        self.rng = random.Random(seed)
        self.proxies: dict[str, Proxy] = {}
        self._lock = asyncio.Lock()
        self._http = HttpServer(self.handle, host, port)

    @property
    def url(self) -> str:
        return f"http://{_join(self.host, self.port)}"

    async def start(self) -> int:
        self.port = await self._http.start()
        return self.port

    async def stop(self) -> None:
        await self._http.stop()
        for proxy in list(self.proxies.values()):
            await proxy.shutdown()

    def proxy(self, name: str) -> Proxy:
        return self.proxies[name]

    async def create_proxy(self, name: str, listen: str, upstream: str, enabled: bool = True) -> Proxy:
        """What POST /proxies does, for in-process set-up; raises ApiError as the API would answer."""
        async with self._lock:
            if name in self.proxies:
                raise ApiError(*ERR_PROXY_EXISTS)
            proxy = Proxy(self, name, listen, upstream)
            if enabled:
                await proxy.start()
            self.proxies[name] = proxy
            return proxy

    # --- routing, as gorilla/mux does it: the browser check runs only for a matched route and method ---

    async def handle(self, request: Request) -> Response:
        parts = request.path.split("/")[1:]
        route, args = _route(parts)
        if route is None:
            return text(404, "404 page not found\n")
        method = request.method.lower()
        handler = getattr(self, f"_{route}_{method}", None) if method in ("get", "post", "patch", "delete") else None
        if handler is None:
            return Response(405)
        if request.headers.get("user-agent", "").startswith("Mozilla/"):
            return text(403, "User agent not allowed\n")
        try:
            return await handler(request, *args)
        except ApiError as err:
            return _error(err)

    async def _reset_post(self, request: Request) -> Response:
        for proxy in list(self.proxies.values()):
            with contextlib.suppress(ProxyAlreadyStarted):
                await proxy.start()
            await proxy.toxics.reset()
        return Response(204)

    async def _proxies_get(self, request: Request) -> Response:
        return _json({name: self.proxies[name].to_json() for name in sorted(self.proxies)})

    async def _proxies_post(self, request: Request) -> Response:
        doc = _decode_fields(_expect_object(_go_decode(request.body), "toxiproxy.Proxy"), "Proxy", PROXY_FIELDS)
        if not doc.get("name"):
            raise ApiError("missing required field: name", 400)
        if not doc.get("upstream"):
            raise ApiError("missing required field: upstream", 400)
        proxy = await self.create_proxy(doc["name"], doc.get("listen", ""), doc["upstream"], doc.get("enabled", True))
        return _json(proxy.to_json(), 201)

    async def _populate_post(self, request: Request) -> Response:
        # Populate answers every outcome in its own shape, {"error", "status", "proxies"}, as application/json.
        done: list[Proxy] = []
        error: ApiError | None = None
        try:
            for fields in _populate_inputs(request.body):
                done.append(await self._add_or_replace(fields))
        except ApiError as err:
            error = err
        body: dict[str, Any] = {}
        if error is not None:
            body = {"error": error.message, "status": error.status}
        body["proxies"] = [p.to_json() for p in done] or None  # Go marshals an empty result as null
        return _json(body, error.status if error else 201)

    async def _add_or_replace(self, fields: dict[str, Any]) -> Proxy:
        async with self._lock:
            name, listen, upstream = fields["name"], fields.get("listen", ""), fields["upstream"]
            existing = self.proxies.get(name)
            if existing is not None:
                if not await existing.differs(listen, upstream):
                    return existing
                await existing.shutdown()
            proxy = Proxy(self, name, listen, upstream)
            if fields.get("enabled", True):
                await proxy.start()
            self.proxies[name] = proxy
            return proxy

    def _get(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise ApiError(*ERR_PROXY_NOT_FOUND)
        return proxy

    async def _proxy_get(self, request: Request, name: str) -> Response:
        return _json(self._get(name).to_json())

    async def _proxy_patch(self, request: Request, name: str) -> Response:
        proxy = self._get(name)
        doc = _decode_fields(_expect_object(_go_decode(request.body), "toxiproxy.Proxy"), "Proxy", PROXY_FIELDS)
        await proxy.update(doc.get("listen", proxy.listen), doc.get("upstream", proxy.upstream),
                           doc.get("enabled", proxy.enabled))
        return _json(proxy.to_json())

    _proxy_post = _proxy_patch  # deprecated in Toxiproxy, still served

    async def _proxy_delete(self, request: Request, name: str) -> Response:
        async with self._lock:
            proxy = self._get(name)
            await proxy.shutdown()
            del self.proxies[name]
        return Response(204)

    async def _toxics_get(self, request: Request, name: str) -> Response:
        return _json([t.to_json() for t in self._get(name).toxics.all()])

    async def _toxics_post(self, request: Request, name: str) -> Response:
        toxic = await self._get(name).toxics.add_json(request.body)
        return _json(toxic.to_json())  # 200, not 201: Toxiproxy's own choice

    async def _toxic_get(self, request: Request, name: str, toxic_name: str) -> Response:
        toxic = self._get(name).toxics.find(toxic_name)
        if toxic is None:
            raise ApiError(*ERR_TOXIC_NOT_FOUND)
        return _json(toxic.to_json())

    async def _toxic_patch(self, request: Request, name: str, toxic_name: str) -> Response:
        toxic = await self._get(name).toxics.update_json(toxic_name, request.body)
        return _json(toxic.to_json())

    _toxic_post = _toxic_patch

    async def _toxic_delete(self, request: Request, name: str, toxic_name: str) -> Response:
        await self._get(name).toxics.remove(toxic_name)
        return Response(204)

    async def _version_get(self, request: Request) -> Response:
        return Response(200, f'{{"version": "{self.version}"}}\n'.encode(), "application/json;charset=utf-8")


def _populate_inputs(body: bytes) -> list[dict[str, Any]]:
    doc = _go_decode(body)
    if not isinstance(doc, list):
        raise _bad_body(f"json: cannot unmarshal {_json_kind(doc)} into Go value of type []toxiproxy.Proxy")
    inputs = []
    for i, item in enumerate(doc, start=1):
        fields = _decode_fields(_expect_object(item, "toxiproxy.Proxy"), "Proxy", PROXY_FIELDS)
        # Every entry is checked before any proxy is touched, as PopulateJson does.
        if not fields.get("name"):
            raise ApiError(f"missing required field: name at proxy {i}", 400)
        if not fields.get("upstream"):
            raise ApiError(f"missing required field: upstream at proxy {i}", 400)
        inputs.append(fields)
    return inputs


def _route(parts: list[str]) -> tuple[str | None, list[str]]:
    if any(p == "" for p in parts):
        return None, []
    match parts:
        case ["reset"] | ["proxies"] | ["populate"] | ["version"]:
            return parts[0], []
        case ["proxies", name]:
            return "proxy", [name]
        case ["proxies", name, "toxics"]:
            return "toxics", [name]
        case ["proxies", name, "toxics", toxic]:
            return "toxic", [name, toxic]
    return None, []


def _json(doc: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(doc, separators=(",", ":")).encode(), "application/json")


def _error(err: ApiError) -> Response:
    # apiError sets application/json, then http.Error overrides it with text/plain and adds a newline.
    body = json.dumps({"error": err.message, "status": err.status}, separators=(",", ":")) + "\n"
    return Response(err.status, body.encode(), "text/plain; charset=utf-8",
                    [("X-Content-Type-Options", "nosniff")])


# --- command line and a process of its own --------------------------------------------------------------------

READY_RE = re.compile(r"toxiproxy stand-in on http://(\S+):(\d+)\b")


@dataclass
class ProxySpec:
    name: str
    listen: str
    upstream: str

    @classmethod
    def parse(cls, text: str) -> ProxySpec:
        parts = text.split("=")
        if len(parts) != 3 or not all(parts):
            raise StandInError(f"--proxy {text!r}: write NAME=LISTEN=UPSTREAM, e.g. shop=127.0.0.1:20000=127.0.0.1:8080")
        return cls(*parts)


async def _serve(host: str, port: int, specs: list[ProxySpec], loopback_only: bool) -> None:
    stand_in = ToxiproxyStandIn(host, port, loopback_only=loopback_only)
    bound = await stand_in.start()
    try:
        for spec in specs:
            try:
                await stand_in.create_proxy(spec.name, spec.listen, spec.upstream)
            except ApiError as err:
                raise StandInError(f"--proxy {spec.name}: {err.message}") from None
        shown = ", ".join(f"{p.name} {p.listen} -> {p.upstream}" for p in stand_in.proxies.values()) or "none"
        print(f"toxiproxy stand-in on http://{_join(host, bound)} (proxies: {shown})", flush=True)
        await until_stopped()
    finally:
        await stand_in.stop()


class ToxiproxyProcess(StandInProcess):
    """The stand-in in a process of its own (`python -m controlroom.lab.toxiproxy`), dying with its parent."""

    def __init__(self, port: int = 0, proxies: list[ProxySpec] | None = None, host: str = "127.0.0.1") -> None:
        self.host, self.port, self.proxies = host, port, proxies or []

    @property
    def url(self) -> str:
        return f"http://{_join(self.host, self.port)}"

    async def start(self, timeout: float = 10.0) -> str:
        argv = [sys.executable, "-m", "controlroom.lab.toxiproxy", "--host", self.host, "--port", str(self.port)]
        for spec in self.proxies:
            argv += ["--proxy", f"{spec.name}={spec.listen}={spec.upstream}"]
        self._proc, match = await start_stand_in("toxiproxy", argv, READY_RE, f"{self.host}:{self.port}", timeout)
        self.port = int(match.group(2))
        return self.url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m controlroom.lab.toxiproxy",
                                     description="A Toxiproxy stand-in: its HTTP API, proxying TCP with real toxics.")
    parser.add_argument("--host", default="127.0.0.1", help="API address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"API port (default {DEFAULT_PORT}; 0: any)")
    parser.add_argument("--proxy", action="append", default=[], metavar="NAME=LISTEN=UPSTREAM",
                        help="create a proxy at start, e.g. shop=127.0.0.1:20000=127.0.0.1:8080 (repeatable)")
    parser.add_argument("--any-address", action="store_true",
                        help="let proxies listen on addresses other than loopback (the lab's bridge, say)")
    args = parser.parse_args(argv)
    with served_from_the_command_line("toxiproxy stand-in", args.host, args.port):
        specs = [ProxySpec.parse(p) for p in args.proxy]
        asyncio.run(_serve(args.host, args.port, specs, loopback_only=not args.any_address))


if __name__ == "__main__":
    main()

"""Small helpers shared by the simulated cluster: timestamps as the API writes them, fast JSON, copies."""

from __future__ import annotations

import functools
import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

try:  # orjson (a project dependency) serialises a list of 1,000 pods several times faster
    import orjson

    def dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)

    def loads(data: bytes | str) -> Any:
        return orjson.loads(data)
except ImportError:  # pragma: no cover - the standard library is the fallback
    def dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()

    def loads(data: bytes | str) -> Any:
        return json.loads(data)


def deep_copy(obj: Any) -> Any:
    """A deep copy of JSON data (a round trip through orjson beats copy.deepcopy by ~10x)."""
    return loads(dumps(obj))


def rfc3339(ts: float | None = None) -> str:
    """`2026-01-02T03:04:05Z`: metav1.Time is serialised with second precision."""
    return datetime.fromtimestamp(time.time() if ts is None else ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@functools.lru_cache(maxsize=8192)
def parse_rfc3339(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand: no vowels, no confusables


def random_suffix(n: int = 5) -> str:
    return "".join(secrets.choice(_NAME_CHARS) for _ in range(n))


_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@functools.lru_cache(maxsize=1024)
def parse_go_duration(text: str) -> float:
    """Go's time.ParseDuration (`90s`, `1m30s`, `500ms`, `1.5h`): seconds, or ValueError with Go's wording."""
    s = text.strip()
    if s in ("0", ""):
        if s == "":
            raise ValueError(f'time: invalid duration "{text}"')
        return 0.0
    sign = 1.0
    if s[0] in "+-":
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    total, i = 0.0, 0
    if not s:
        raise ValueError(f'time: invalid duration "{text}"')
    while i < len(s):
        j = i
        while j < len(s) and (s[j].isdigit() or s[j] == "."):
            j += 1
        if j == i:
            raise ValueError(f'time: invalid duration "{text}"')
        number = s[i:j]
        k = j
        while k < len(s) and not (s[k].isdigit() or s[k] == "."):
            k += 1
        unit = s[j:k]
        if not unit:
            raise ValueError(f'time: missing unit in duration "{text}"')
        if unit not in _GO_UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{text}"')
        try:
            total += float(number) * _GO_UNITS[unit]
        except ValueError:
            raise ValueError(f'time: invalid duration "{text}"') from None
        i = k
    return sign * total

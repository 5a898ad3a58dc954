"""Parsing of the units scenarios use: durations, sizes, percentages and rates.

Every number in a scenario carries its unit ("300ms", "2m", "512M", "5%",
"1mbit"); these parsers are the single place that turns them into floats and
ints, and their errors say what a valid value looks like.
"""

from __future__ import annotations

import re

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
# ASCII digits only ([0-9], not \d: "٣s" is not a duration), matched whole with fullmatch (never "$", which
# also matches before a trailing newline).
_NUMBER = r"([0-9]+(?:\.[0-9]+)?)"
_DURATION_RE = re.compile(rf"\s*{_NUMBER}\s*(ms|s|m|h)\s*")
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2,
               "mib": 1024**2, "g": 1024**3, "gb": 1024**3, "gib": 1024**3, "t": 1024**4, "tb": 1024**4,
               "tib": 1024**4}
_SIZE_RE = re.compile(rf"\s*{_NUMBER}\s*([a-zA-Z]*)\s*")
_PERCENT_RE = re.compile(rf"\s*{_NUMBER}\s*%\s*")
_RATE_UNITS = {"bit": 1, "kbit": 1000, "mbit": 1000**2, "gbit": 1000**3}
_RATE_RE = re.compile(rf"\s*{_NUMBER}\s*(bit|kbit|mbit|gbit)\s*", re.IGNORECASE)

# Beyond these a value is a typo, and would reach a command line as a number no tool expects.
MAX_DURATION = 24 * 3600.0  # no game-day duration is longer than a day
MAX_SIZE = 1024**5  # 1 PiB
MAX_RATE = 10**12  # 1000 gbit


class UnitError(ValueError):
    """A value without a valid unit; the message says what is expected."""


def parse_duration(value: object) -> float:
    """'300ms', '1.5s', '2m', '1h' -> seconds. Bare numbers are refused: units are required."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise UnitError(f"expected a duration with a unit such as '300ms', '5s', '2m', got {value!r}")
    m = _DURATION_RE.fullmatch(value)
    if not m:
        raise UnitError(f"expected a duration with a unit (ms, s, m, h) such as '300ms' or '2m', got {value!r}")
    seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    if not seconds <= MAX_DURATION:
        raise UnitError(f"{value!r} is longer than 24h, the longest duration a scenario may use")
    return seconds


def parse_size(value: object) -> int:
    """'512M', '1G', '64k', '100%'-free sizes -> bytes (binary multiples), at most 1 PiB."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise UnitError(f"expected a size such as '512M' or '1G', got {value!r}")
    m = _SIZE_RE.fullmatch(str(value))
    if not m or m.group(2).lower() not in _SIZE_UNITS:
        raise UnitError(f"expected a size with a unit (k, M, G, T) such as '512M', got {value!r}")
    size = float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]
    if not size <= MAX_SIZE:  # also inf, from an absurdly long digit string
        raise UnitError(f"size {value!r} is over 1P, more than any disk or memory fault needs")
    return int(size)


def parse_percent(value: object) -> float:
    """'5%', '0.5%' -> 5.0, 0.5 (must be within 0..100)."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise UnitError(f"expected a percentage such as '5%', got {value!r}")
    m = _PERCENT_RE.fullmatch(value)
    if not m:
        raise UnitError(f"expected a percentage such as '5%', got {value!r}")
    pct = float(m.group(1))
    if pct > 100:
        raise UnitError(f"a percentage must be at most 100%, got {value!r}")
    return pct


def parse_rate(value: object) -> int:
    """'1mbit', '512kbit' -> bits per second, at most 1000gbit."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise UnitError(f"expected a rate such as '1mbit' or '512kbit', got {value!r}")
    m = _RATE_RE.fullmatch(value)
    if not m:
        raise UnitError(f"expected a rate with a unit (bit, kbit, mbit, gbit) such as '1mbit', got {value!r}")
    rate = float(m.group(1)) * _RATE_UNITS[m.group(2).lower()]
    if not rate <= MAX_RATE:
        raise UnitError(f"rate {value!r} is over 1000gbit, faster than any link")
    return int(rate)


def format_duration(seconds: float) -> str:
    """Seconds -> the shortest exact unit string the parsers accept ('300ms', '5s', '2m')."""
    if seconds < 1 or seconds != int(seconds):
        ms = round(seconds * 1000)
        return f"{ms}ms"
    s = int(seconds)
    if s % 3600 == 0:
        return f"{s // 3600}h"
    if s % 60 == 0:
        return f"{s // 60}m"
    return f"{s}s"

"""Fake fault types for scenario tests, so validation tests do not depend on the real catalogue's parameters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from controlroom.faults import catalogue as catalogue_module
from controlroom.faults import shell
from controlroom.faults.catalogue import FaultType, Param
from controlroom.scenario.checks import metacharacters
from controlroom.units import parse_duration, parse_percent, parse_size


def _no_build(*_: Any) -> Any:
    raise AssertionError("validation never builds plans")


def _peers(value: object) -> list[str]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list of IP addresses, got {value!r}")
    # Like the real host faults: an address, a network, or a target name (checked by validation).
    for v in value:
        if not isinstance(v, str) or metacharacters(v):
            raise ValueError(f"peer {v!r}: use an IP address, a network or a target name")
    return value


def _pattern(value: object) -> str:
    if not isinstance(value, str) or metacharacters(value):
        raise ValueError(f"pattern {value!r} must be a plain word without shell metacharacters")
    return value


FAKE_FAULTS = {
    ft.name: ft
    for ft in (
        FaultType(
            "t-latency",
            (Param("delay", parse_duration, required=True, doc="e.g. 300ms"), Param("jitter", parse_duration),
             Param("peers", _peers)),
            frozenset({"ssh", "local"}), _no_build, "test latency",
        ),
        FaultType("t-errors", (Param("rate", parse_percent, required=True),), frozenset({"http"}), _no_build, "test errors"),
        FaultType(
            "t-kill", (Param("pattern", _pattern, required=True),), frozenset({"ssh", "local", "kubernetes"}),
            _no_build, "test kill", needs_duration=False,
        ),
        FaultType(
            "t-fill", (Param("path", shell.abs_path, required=True), Param("size", parse_size, required=True)),
            frozenset({"ssh", "local"}), _no_build, "test disk fill",
        ),
    )
}


@pytest.fixture(autouse=True)
def fake_faults(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, FaultType]]:
    """The real catalogue plus the t-* test types."""
    table = dict(catalogue_module.catalogue())
    table.update(FAKE_FAULTS)
    monkeypatch.setattr(catalogue_module, "_CATALOGUE", table)
    yield table


@pytest.fixture
def real_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    """Undo the test fault types: shipped scenarios must only use real ones."""
    monkeypatch.setattr(catalogue_module, "_CATALOGUE", None)

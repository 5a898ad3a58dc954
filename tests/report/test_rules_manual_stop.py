"""The manual-stop insight: said for the e-stop proper (key, `controlroom stop`, a signal), not for a stop condition."""

from __future__ import annotations

from typing import Any

import pytest

from controlroom.journal.events import StopKind
from controlroom.report.rules import manual_stop


def _report(source: str, by: str = "") -> dict[str, Any]:
    return {"execution": {"emergency_stops": [{"source": source, "by": by, "reason": "x"}]}}


@pytest.mark.parametrize("kind", [k for k in StopKind if k.emergency])
def test_a_stop_by_hand_is_named_with_who_stopped(kind: StopKind) -> None:
    (insight,) = manual_stop(_report(kind.value, by="alice"))
    assert insight["id"] == "manual-stop" and f"({kind.value} by alice)" in insight["finding"]


@pytest.mark.parametrize("kind", [k for k in StopKind if not k.emergency])
def test_an_automatic_stop_is_not_called_a_stop_by_hand(kind: StopKind) -> None:
    assert manual_stop(_report(kind.value)) == []

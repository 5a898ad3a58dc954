"""Placeholder: fault types for host targets are registered here."""

from __future__ import annotations

from controlroom.faults.catalogue import FaultType

FAULTS: list[FaultType] = []

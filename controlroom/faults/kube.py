"""Placeholder: fault types for kube targets are registered here."""

from __future__ import annotations

from controlroom.faults.catalogue import FaultType

FAULTS: list[FaultType] = []

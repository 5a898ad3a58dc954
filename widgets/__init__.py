"""Reusable control-room panes (packaged as `controlroom.widgets`): each takes plain view data, never engine objects."""

from controlroom.widgets.blast_radius import BlastRadiusPane
from controlroom.widgets.estop import EmergencyStopControl
from controlroom.widgets.event_log import EventLogPane
from controlroom.widgets.header import RoomHeader
from controlroom.widgets.metrics import MetricsPane
from controlroom.widgets.preflight import PreflightPane
from controlroom.widgets.rollback import RollbackPane
from controlroom.widgets.step_card import StepCard
from controlroom.widgets.timeline import FaultTimeline
from controlroom.widgets.too_small import TooSmall

__all__ = [
    "BlastRadiusPane",
    "EmergencyStopControl",
    "EventLogPane",
    "FaultTimeline",
    "MetricsPane",
    "PreflightPane",
    "RollbackPane",
    "RoomHeader",
    "StepCard",
    "TooSmall",
]

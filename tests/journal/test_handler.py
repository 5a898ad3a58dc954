"""The one dispatch convention of every journal reader (controlroom/journal/handler.py)."""

from __future__ import annotations

import typing

import pytest

from controlroom.headless import ProgressPrinter
from controlroom.journal.events import PAYLOADS, Event
from controlroom.journal.handler import EventHandler, handled_types, handler_name
from controlroom.metrics.observed import ObservedFold
from controlroom.report.fold import Fold
from controlroom.viewstate import RoomState

READERS = [RoomState, ProgressPrinter, ObservedFold, Fold]  # the room, headless, observed figures, the report


def test_a_handler_named_for_no_event_type_is_refused_when_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match="on_fault_injectd"):
        class Typo(EventHandler[None]):
            def on_fault_injectd(self, ev: Event, d: object) -> None: ...


def test_dispatch_calls_the_method_for_the_type_with_its_payload_and_ignores_the_rest() -> None:
    class Seen(EventHandler[str]):
        def on_note(self, ev: Event, d: typing.Any) -> str:
            return f"{ev.mono}:{d['text']}"

    seen = Seen()
    assert seen.dispatch(Event(type="note", t="", mono=1.5, data={"text": "hi"})) == "1.5:hi"
    assert seen.dispatch(Event(type="warning", t="", mono=2.0, data={"message": "x"})) is None
    assert handler_name("fault-revert-failed") == "on_fault_revert_failed"


@pytest.mark.parametrize("reader", READERS, ids=lambda c: c.__name__)
def test_every_reader_annotates_each_handler_with_the_payload_of_its_type(reader: type) -> None:
    assert handled_types(reader), "a reader that handles nothing"
    for event_type in handled_types(reader):
        hints = typing.get_type_hints(getattr(reader, handler_name(event_type)))
        assert hints.get("d") is PAYLOADS[event_type], f"{reader.__name__}.{handler_name(event_type)}"

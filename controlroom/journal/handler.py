"""The one way a reader handles journal events: a class with one `on_<type>` method per event type it cares for.

    class Printer(EventHandler[str]):
        def on_fault_injected(self, ev: Event, d: FaultInjected) -> str | None:
            return f"injected on {d['target']}"

`dispatch(ev)` calls the method named for `ev.type` (dashes become underscores:
`fault-injected` -> `on_fault_injected`) with the event and its payload, typed by
the payload's TypedDict from `journal/events.py`; a type without a method is ignored
(None). The table from type to method is built once, when the class is defined, and
a method named for no event type is refused there (TypeError at import), so a typo
cannot leave a handler that silently never runs; tests/journal/test_handler.py also
checks every handler's payload annotation against the vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

from controlroom.journal.events import EVENT_TYPES, Event

R = TypeVar("R")
PREFIX = "on_"


def handler_name(event_type: str) -> str:
    """The method that handles `event_type`: `fault-injected` -> `on_fault_injected`."""
    return PREFIX + event_type.replace("-", "_")


_BY_NAME = {handler_name(t): t for t in EVENT_TYPES}


class EventHandler(Generic[R]):
    """Base of every journal reader: `dispatch(ev)` -> the result of `on_<type>(ev, payload)`, or None."""

    # Built per class at definition: event type -> the function (unbound) that handles it.
    handlers: ClassVar[dict[str, Callable[..., Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table: dict[str, Callable[..., Any]] = {}
        for name in dir(cls):
            if not name.startswith(PREFIX):
                continue
            event_type = _BY_NAME.get(name)
            if event_type is None:
                raise TypeError(f"{cls.__qualname__}.{name}: no event type is called that; handlers are "
                                f"on_<type> for the types in controlroom/journal/events.py")
            table[event_type] = getattr(cls, name)
        cls.handlers = table

    def dispatch(self, ev: Event) -> R | None:
        """Hand `ev` to its method; None when this reader has none for its type."""
        method = self.handlers.get(ev.type)
        if method is None:
            return None
        result: R | None = method(self, ev, ev.data)
        return result


def handled_types(cls: type[EventHandler[Any]]) -> frozenset[str]:
    """The event types a reader class handles (for tests and docs)."""
    return frozenset(cls.handlers)

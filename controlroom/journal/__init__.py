"""The journal: every event of a session, append-only JSON Lines, read back for watch, replay and report."""

from controlroom.journal.events import EVENT_TYPES, FORMAT, FORMAT_VERSION, Event
from controlroom.journal.reader import Journal, follow, read_journal
from controlroom.journal.writer import JournalWriter

__all__ = ["EVENT_TYPES", "FORMAT", "FORMAT_VERSION", "Event", "Journal", "JournalWriter", "follow", "read_journal"]

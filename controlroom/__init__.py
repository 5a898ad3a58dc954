"""controlroom: a terminal control room for chaos-engineering game days."""

__version__ = "0.1.0"

"""The hook tests run sessions with the engine tests' in-memory flag fault."""

from tests.engine.conftest import _flag_fault

__all__ = ["_flag_fault"]  # the autouse fixture, registered here too

"""Game-day scenarios: the model, and loading a YAML file into it with every problem located.

    scenario = load_scenario("scenarios/demo.yaml")   # raises ScenarioError listing file:line:col problems
"""

from __future__ import annotations

import os

from controlroom.scenario.loader import decode, parse_document, read_scenario_file
from controlroom.scenario.model import Scenario

__all__ = ["Scenario", "load_scenario", "load_scenario_bytes", "load_scenario_text"]


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read, parse and validate a scenario file. Raises ScenarioError with every problem found."""
    name = os.fspath(path)
    return load_scenario_text(read_scenario_file(name), name)


def load_scenario_bytes(data: bytes, path: str = "<bytes>") -> Scenario:
    """Same as `load_scenario` for bytes already read (binary data and bad UTF-8 are refused)."""
    return load_scenario_text(decode(data, path), path)


def load_scenario_text(text: str, path: str = "<text>", *, to_revert: bool = False) -> Scenario:
    """Parse and validate scenario YAML text; `path` is what problems are reported against.

    `to_revert`: the scenario comes from a journal's header, to rebuild reverts (`recover`). The rules about
    which verdict a new session may give (observation, checkable criteria, supported target kinds) are then
    not applied: a journal written by an older controlroom must still be recoverable. Every safety rule is.
    """
    # Imported here: the fault catalogue imports the model, and validation imports the catalogue.
    from controlroom.scenario.validate import validate

    root, problems = parse_document(text, path)
    return validate(root, path, text, problems, verdict_rules=not to_revert)

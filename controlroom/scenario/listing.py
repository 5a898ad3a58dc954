"""`controlroom list`: the scenarios in a folder, one summary each, broken ones included with their first problem."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from controlroom.errors import Problem, ScenarioError

SUFFIXES = (".yaml", ".yml")


def list_scenarios(folder: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Each *.yaml / *.yml file in `folder` (not recursive), sorted by file name.

    Every entry has name, path, environment, steps (count), faults (sorted fault
    types), phases (names in order) and error: None for a valid scenario, else
    the first problem as `file:line:col: message` plus `problems`, the count.
    """
    from controlroom.scenario import load_scenario

    base = Path(folder)
    if not base.is_dir():
        message = "is not a folder; list scenarios in a folder such as scenarios/"
        raise ScenarioError([Problem(os.fspath(folder), 1, 1, message)])
    out: list[dict[str, Any]] = []
    for path in sorted(p for p in base.iterdir() if p.suffix in SUFFIXES and p.is_file()):
        entry: dict[str, Any] = {
            "name": path.stem, "path": str(path), "environment": None, "steps": 0, "faults": [], "phases": [],
            "error": None, "problems": 0,
        }
        try:
            sc = load_scenario(path)
        except ScenarioError as err:
            entry["error"] = str(err.problems[0]) if err.problems else str(err)
            entry["problems"] = len(err.problems)
        else:
            entry.update(
                name=sc.name,
                environment=sc.environment,
                steps=len(sc.steps),
                faults=sorted({f.type for st in sc.steps for f in st.faults}),
                phases=list(dict.fromkeys(st.phase for st in sc.steps if st.phase)),
            )
        out.append(entry)
    return out


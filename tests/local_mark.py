"""A scenario whose one fault leaves a mark file on this machine (a `command` fault on a `local` target): no root
needed, and whether the fault is still in is plain to see (tests/cli, tests/tui)."""

from __future__ import annotations

from pathlib import Path

SCENARIO = """\
version: 1
name: {name}
hypothesis: {hypothesis}
environment: test
targets:
  here: {{local: true}}
observe:
  every: 500ms
  metrics:
    up: {{command: "echo 1"}}
steady_state:
  window: 1s
  require: [up >= 1]
blast_radius: {{max_targets: 1, max_duration: 2m, allowed_environments: [test]}}
steps:
  - id: {step}
    title: {title}
    fault:
      type: command
      target: here
      inject: "{inject}"
      revert: "rm -f {mark}"
      verify: "[ ! -e {mark} ]"
    duration: {duration}
    confirm: false
"""


def mark_scenario(tmp_path: Path, name: str, hypothesis: str, *, step: str, title: str, duration: str,
                  inject_after: float = 0.0) -> tuple[Path, Path]:
    """`tmp_path/NAME.yaml` and the mark file its step's fault touches (`inject_after` seconds into its inject,
    so that a stop can land while the inject still runs) and removes on revert; verify: the mark is gone."""
    mark = tmp_path / "mark"
    inject = f"sleep {inject_after:g}; touch {mark}" if inject_after else f"touch {mark}"
    scenario = tmp_path / f"{name}.yaml"
    scenario.write_text(SCENARIO.format(name=name, hypothesis=hypothesis, step=step, title=title, inject=inject,
                                        mark=mark, duration=duration))
    return scenario, mark

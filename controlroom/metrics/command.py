"""Command probes as a metric source: `pg_isready`, a row count, an HTTP check — run locally or on a target.

Each `command:` series runs once per interval, through the executor of the
target named in `on:` (this machine when absent). Its value is:

* the number the command prints — the last non-empty line of stdout, when
  that line is a number (`psql -tAc 'select count(*) ...'` gives 1234.0);
* otherwise its exit status as a health bit: 1.0 for exit 0, 0.0 for any
  other exit (`pg_isready`, `curl -fsS URL >/dev/null`);
* None ("no data") when the command could not run or did not finish within
  the metric's `timeout` — no answer is not the same as a failed check;
* None when its last line is `NaN` or `inf` (`psql` printing NaN for 0/0): a
  number that is no number is no answer, never a health bit of 1.0;
* None when a series that has printed a number prints none: a row count
  that suddenly prints nothing (a psql error on stderr, exit 0) is a count
  that failed, not the count 1.0. A series is numeric from the first number
  it prints.

Every None comes with its reason in `last_errors`, so the engine counts it
as lost telemetry when a condition names the series.

The command text is the scenario author's own shell script, run as written
(it is not a value spliced into one of ours, so nothing is quoted here).
When every command of the source fails to even run (the targets are
unreachable), `sample()` raises SourceUnavailable.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass

from controlroom.errors import MetricsError
from controlroom.metrics.source import SourceUnavailable
from controlroom.scenario.model import MetricSpec, Scenario
from controlroom.targets.base import ActionResult, Executor, Shell

LOCAL = "local"


@dataclass(frozen=True)
class Reading:
    """What one finished command said: its value, whether it printed it as a number, why there is none."""

    value: float | None
    printed: bool = False  # the value is a number the command printed (not its exit status)
    error: str = ""


def read_probe(result: ActionResult) -> Reading:
    """The reading of one finished command (see the module docstring), before the numeric-series rule."""
    if result.error or result.status is None:
        return Reading(None, error=result.error or f"no result (status {result.status})")
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if lines:
        try:
            number = float(lines[-1])
        except ValueError:
            pass
        else:
            if not math.isfinite(number):
                return Reading(None, error=f"printed {lines[-1]!r}, which is not a number")
            return Reading(number, printed=True)
    return Reading(1.0 if result.status == 0 else 0.0)


def probe_value(result: ActionResult) -> float | None:
    """The metric value of one finished command, on its own (see the module docstring)."""
    return read_probe(result).value


class CommandSource:
    """A MetricSource for the `command:` series of a scenario.

    `executors_by_target` maps target names to their executors (the engine's
    own, so probes share the SSH connections); `local` runs the commands
    without `on:` and defaults to a LocalExecutor.
    """

    name = "command"

    def __init__(
        self,
        metrics: dict[str, MetricSpec],
        executors_by_target: dict[str, Executor],
        local: Executor | None = None,
        local_factory: Callable[[], Executor] | None = None,
    ) -> None:
        self._specs = {n: m for n, m in sorted(metrics.items()) if m.source == "command" and m.command}
        self._executors = executors_by_target
        self._local = local
        self._local_factory = local_factory
        self._own_local = False
        self._owned: list[Executor] = []  # executors this source made itself, closed with it
        self.last_errors: dict[str, str] = {}
        self._numeric: set[str] = set()  # series that have printed a number: no health bit for them after
        for name, spec in self._specs.items():
            if spec.on is not None and spec.on not in executors_by_target:
                raise MetricsError(
                    f"observe.metrics.{name}.on: no target named {spec.on!r}; use one of the scenario's targets"
                )

    @classmethod
    def for_scenario(cls, scenario: Scenario, executors: dict[str, Executor] | None = None) -> CommandSource:
        """The scenario's command series; probes with `on:` use `executors[target]` when given
        (the engine's own, so SSH connections are shared), otherwise an executor made (and closed) here."""
        from controlroom.targets.factory import make_executor

        metrics = {n: m for n, m in scenario.observe.metrics.items() if m.source == "command"}
        given = dict(executors or {})
        owned: dict[str, Executor] = {}
        for spec in metrics.values():
            if spec.on is not None and spec.on not in given and spec.on not in owned and spec.on in scenario.targets:
                owned[spec.on] = make_executor(scenario.targets[spec.on])
        source = cls(metrics, {**given, **owned})
        source._owned = list(owned.values())
        return source

    def series(self) -> list[str]:
        return list(self._specs)

    async def start(self) -> None:
        if self._local is None and any(s.on is None for s in self._specs.values()):
            if self._local_factory is not None:
                self._local = self._local_factory()
            else:
                from controlroom.targets.local import LocalExecutor

                self._local = LocalExecutor(LOCAL)
            self._own_local = True

    async def close(self) -> None:
        if self._own_local and self._local is not None:
            await self._local.close()
        self._local = None
        self._own_local = False
        owned, self._owned = self._owned, []
        for executor in owned:
            await executor.close()

    def _executor(self, spec: MetricSpec) -> Executor:
        if spec.on is not None:
            return self._executors[spec.on]
        if self._local is None:
            raise RuntimeError("CommandSource.start() was not called")
        return self._local

    async def _run(self, spec: MetricSpec) -> ActionResult:
        assert spec.command is not None
        # ok_codes covers every status: a failing check is a value (0.0), not an executor failure.
        action = Shell(script=spec.command, timeout=spec.timeout, ok_codes=tuple(range(256)))
        try:
            return await self._executor(spec).run(action)
        except Exception as err:  # an executor that raises instead of answering: still "no data"
            return ActionResult(ok=False, error=f"{type(err).__name__}: {err}")

    async def sample(self) -> dict[str, float | None]:
        names = list(self._specs)
        results = await asyncio.gather(*(self._run(self._specs[n]) for n in names))
        values: dict[str, float | None] = {}
        errors: dict[str, str] = {}
        unrun = 0
        for name, result in zip(names, results, strict=True):
            reading = read_probe(result)
            unrun += result.error != "" or result.status is None
            if reading.printed:
                self._numeric.add(name)
            elif reading.value is not None and name in self._numeric:
                last = result.stdout.strip().splitlines()[-1:] or [""]
                shown = f"printed {last[0][:60]!r}" if last[0] else "printed nothing"
                reading = Reading(None, error=f"{shown} (exit {result.status}), where it printed a number before")
            values[name] = reading.value
            if reading.value is None:
                errors[name] = reading.error
        self.last_errors = errors
        if names and unrun == len(names):
            first = errors[names[0]]
            raise SourceUnavailable(f"no command probe could run ({names[0]}: {first})")
        return values

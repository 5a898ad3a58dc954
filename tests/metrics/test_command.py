"""Command probes: the number a command prints, else its exit status as 1.0 / 0.0; run locally or via a target."""

from __future__ import annotations

import asyncio
import sys

import pytest

from controlroom.errors import MetricsError
from controlroom.metrics.command import CommandSource, probe_value
from controlroom.metrics.source import MetricSource, SourceUnavailable
from controlroom.scenario.model import MetricSpec
from controlroom.targets.base import Action, ActionResult, Shell
from controlroom.targets.memory import MemoryExecutor


def command(name: str, cmd: str, on: str | None = None, timeout: float = 2.0) -> MetricSpec:
    return MetricSpec(name=name, source="command", command=cmd, on=on, timeout=timeout)


def specs(*items: MetricSpec) -> dict[str, MetricSpec]:
    return {m.name: m for m in items}


async def test_local_probes_give_the_printed_number_or_the_exit_status(tmp_path) -> None:
    rows = tmp_path / "rows.txt"
    rows.write_text("a\nb\nc\n")
    src = CommandSource(
        specs(
            command("rows", f"wc -l < {rows}"),
            command("ready", "true"),
            command("down", "exit 3"),
            command("chatty", "echo checking; echo '  12.5  '"),
            command("words", "echo accepting connections"),
            command("number_and_failure", "echo 7; exit 1"),
        ),
        executors_by_target={},
    )
    assert isinstance(src, MetricSource)
    await src.start()
    try:
        values = await src.sample()
    finally:
        await src.close()
    assert values == {
        "chatty": 12.5,  # the last non-empty line counts
        "down": 0.0,
        "number_and_failure": 7.0,  # a printed number wins over the status
        "ready": 1.0,
        "rows": 3.0,
        "words": 1.0,
    }
    assert src.last_errors == {}


async def test_a_probe_that_outlives_its_timeout_is_no_data_and_is_killed(tmp_path) -> None:
    marker = tmp_path / "finished"
    src = CommandSource(
        specs(command("slow", f"sleep 3; touch {marker}", timeout=0.3), command("ok", "echo 1")),
        executors_by_target={},
    )
    await src.start()
    try:
        values = await src.sample()
    finally:
        await src.close()
    assert values == {"ok": 1.0, "slow": None}
    assert "timed out after 0.3s" in src.last_errors["slow"]
    assert not marker.exists()


async def test_probes_with_on_run_through_that_targets_executor() -> None:
    def db(action: Action) -> ActionResult:
        assert isinstance(action, Shell)
        return ActionResult(ok=True, status=0, stdout="1234\n")

    executor = MemoryExecutor("db-1", db)
    src = CommandSource(specs(command("orders_rows", "psql -tAc 'select count(*) from orders'", on="db-1")),
                        executors_by_target={"db-1": executor})
    await src.start()
    values = await src.sample()
    await src.close()
    assert values == {"orders_rows": 1234.0}
    [action] = executor.actions
    assert isinstance(action, Shell)
    assert action.script == "psql -tAc 'select count(*) from orders'"
    assert action.timeout == 2.0 and not action.sudo
    assert not executor.closed  # the engine owns target executors


async def test_all_probes_unreachable_is_an_unavailable_source() -> None:
    down = MemoryExecutor("db-1", lambda a: ActionResult(ok=False, error="cannot connect to db-1: refused"))
    src = CommandSource(specs(command("rows", "echo 1", on="db-1")), executors_by_target={"db-1": down})
    await src.start()
    with pytest.raises(SourceUnavailable, match="cannot connect to db-1"):
        await src.sample()
    assert src.last_errors == {"rows": "cannot connect to db-1: refused"}


async def test_one_unreachable_probe_among_several_is_only_no_data() -> None:
    down = MemoryExecutor("db-1", lambda a: ActionResult(ok=False, error="cannot connect to db-1"))
    src = CommandSource(specs(command("rows", "echo 1", on="db-1"), command("local", "echo 2")),
                        executors_by_target={"db-1": down})
    await src.start()
    try:
        assert await src.sample() == {"local": 2.0, "rows": None}
    finally:
        await src.close()


def test_a_probe_on_an_unknown_target_is_refused_with_where_to_fix_it() -> None:
    with pytest.raises(MetricsError, match=r"observe\.metrics\.rows\.on: no target named 'db-9'"):
        CommandSource(specs(command("rows", "echo 1", on="db-9")), executors_by_target={})


def test_only_command_series_belong_to_the_source() -> None:
    src = CommandSource(
        {"p": MetricSpec(name="p", source="promql", promql="up"), "c": command("c", "true")}, executors_by_target={}
    )
    assert src.series() == ["c"]


@pytest.mark.parametrize(
    ("result", "value"),
    [
        (ActionResult(ok=True, status=0, stdout="nan\n"), None),  # a number that is no number: no answer
        (ActionResult(ok=True, status=0, stdout="-inf"), None),
        (ActionResult(ok=True, status=2, stdout=""), 0.0),
        (ActionResult(ok=False, error="timed out"), None),
        (ActionResult(ok=True, status=0, stdout="-3e2"), -300.0),
    ],
)
def test_probe_value_rules(result: ActionResult, value: float | None) -> None:
    assert probe_value(result) == value


async def test_an_http_check_probe_against_a_real_listener() -> None:
    # A one-shot HTTP check as a facilitator would write it, against a listener of our own on loopback.
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    check = (f"{sys.executable} -c \"import urllib.request,sys; "
             f"sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:{port}/', timeout=1).status == 200 else 1)\"")
    src = CommandSource(specs(command("shop_up", check), command("shop_gone", "exit 7")), executors_by_target={})
    await src.start()
    try:
        assert await src.sample() == {"shop_gone": 0.0, "shop_up": 1.0}
    finally:
        await src.close()
        server.close()
        await server.wait_closed()


async def test_for_scenario_makes_executors_for_probe_targets_and_closes_them() -> None:
    from controlroom.scenario.model import Observe, Scenario, Target

    scenario = Scenario(
        name="s", hypothesis="h", environment="lab", steps=(),
        targets={"box": Target(name="box", kind="local"), "db": Target(name="db", kind="local")},
        observe=Observe(metrics=specs(command("box_load", "echo 0.5", on="box"), command("db_rows", "echo 9", on="db"),
                                      MetricSpec(name="p", source="promql", promql="up"))),
    )
    engine_db = MemoryExecutor("db", lambda a: ActionResult(ok=True, status=0, stdout="42\n"))
    src = CommandSource.for_scenario(scenario, executors={"db": engine_db})
    assert src.series() == ["box_load", "db_rows"]
    await src.start()
    assert await src.sample() == {"box_load": 0.5, "db_rows": 42.0}
    await src.close()
    assert not engine_db.closed  # the engine's executor stays open; the one made for "box" was closed


# -- in the lab: probes on a real host over SSH ----------------------------------------------------

from tests.lab.fixtures import lab_fixture, needs_lab  # noqa: E402, F401  (the session-scoped `lab` fixture)


@pytest.mark.root
@needs_lab
async def test_probes_run_on_a_lab_host_over_ssh(lab) -> None:  # type: ignore[no-untyped-def]
    from controlroom.targets.ssh import SshExecutor

    ssh = SshExecutor("h1", "h1", config=[str(lab.config.ssh_config)])
    src = CommandSource(
        specs(
            command("rows", "printf 'a\\nb\\nc\\nd\\n' > /tmp/cr-rows; wc -l < /tmp/cr-rows", on="h1"),
            command("sshd_up", f"nc -z -w 1 {lab.host('h1').ip} 22", on="h1"),
            command("missing", "test -e /nonexistent", on="h1"),
            command("hung", "sleep 5", on="h1", timeout=0.5),
        ),
        executors_by_target={"h1": ssh},
    )
    await src.start()
    try:
        first = await src.sample()
        again = await src.sample()  # the connection survives the timed-out probe
    finally:
        await src.close()
        await ssh.close()
    assert first == {"hung": None, "missing": 0.0, "rows": 4.0, "sshd_up": 1.0}
    assert again == first
    assert "timed out" in src.last_errors["hung"]


async def test_a_probe_printing_nan_or_nothing_where_it_printed_numbers_is_no_data(tmp_path) -> None:
    answer = tmp_path / "rows.txt"
    answer.write_text("1234\n")
    src = CommandSource(specs(command("rows", f"cat {answer}"), command("ready", "true")), executors_by_target={})
    await src.start()
    try:
        assert await src.sample() == {"ready": 1.0, "rows": 1234.0}
        answer.write_text("NaN\n")
        assert await src.sample() == {"ready": 1.0, "rows": None}
        assert src.last_errors == {"rows": "printed 'NaN', which is not a number"}
        answer.write_text("")  # psql failing on stderr with exit 0 prints nothing: not "healthy 1.0"
        assert await src.sample() == {"ready": 1.0, "rows": None}
        assert src.last_errors == {"rows": "printed nothing (exit 0), where it printed a number before"}
        answer.write_text("1300\n")
        assert await src.sample() == {"ready": 1.0, "rows": 1300.0} and src.last_errors == {}
    finally:
        await src.close()

"""Event hooks (docs/hooks.md): validation, the user's file, delivery to a loopback receiver, and the safety rule
that a hook never delays the e-stop."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from controlroom.clock import ManualClock
from controlroom.engine.hooks import HookRunner
from controlroom.engine.session import Session
from controlroom.errors import ScenarioError
from controlroom.journal import read_journal
from controlroom.journal.events import Event
from controlroom.scenario import load_scenario_text
from controlroom.scenario.hooks import HooksFileError, load_user_hooks, user_hooks_path
from controlroom.scenario.model import Hook, Secret
from controlroom.targets.memory import MemoryExecutor
from tests.engine.conftest import FakeSource, Host, fault_step, make_scenario
from tests.hooks.receiver import receiver

MINIMAL = """\
version: 1
name: minimal
environment: staging
targets:
  db-1: {ssh: chaos@10.0.0.21}
blast_radius: {allowed_environments: [staging]}
steps:
  - id: look
"""


# ---- validation -------------------------------------------------------------------------------------------


def test_a_hooks_section_is_read_with_aliases_and_page() -> None:
    sc = load_scenario_text(MINIMAL + """\
hooks:
  - name: chat
    on: [chaos:experiment-started, chaos:steady-state-violated, rollback-finished]
    webhook:
      url: {env: CHAT_URL}
      format: slack
      headers: {Authorization: {env: CHAT_TOKEN}}
    timeout: 3s
    retries: 1
  - name: pager
    page: true
    command: [/usr/local/bin/page-oncall, --team, chaos]
""", "s.yaml")
    chat, pager = sc.hooks
    assert chat.on == ("session-started", "condition-breached", "rollback-finished")
    assert chat.url == Secret(env="CHAT_URL") and chat.format == "slack"
    assert chat.headers == (("Authorization", Secret(env="CHAT_TOKEN")),)
    assert (chat.timeout, chat.retries) == (3.0, 1)
    assert pager.page and pager.on == ("rollback-unconfirmed",)
    assert pager.command == ("/usr/local/bin/page-oncall", "--team", "chaos")


def test_hook_mistakes_are_located() -> None:
    text = MINIMAL + """\
hooks:
  - name: chat
    on: [session-startd]
    webhook:
      url: http://127.0.0.1:9/x
      headers: {Authorization: Bearer abc123}
  - name: both
    on: [session-ended]
    command: [true]
    webhook: {url: http://x/}
  - name: shell
    on: [session-ended]
    command: "notify-send done"
  - name: creds
    on: [session-ended]
    webhook: {url: "https://bot:hunter2@chat.example/hook"}
"""
    with pytest.raises(ScenarioError) as err:
        load_scenario_text(text, "s.yaml")
    msgs = {(p.line, p.message) for p in err.value.problems}
    assert (11, "hooks[0].on: 'session-startd' is not one of session-started, fault-injected, condition-breached, "
                "rollback-started, rollback-finished, rollback-unconfirmed, session-ended, chaos:experiment-started, "
                "chaos:fault-injected, chaos:steady-state-violated, chaos:rollback-triggered, "
                "chaos:experiment-completed; did you mean 'session-started'?") in msgs
    assert any(line == 14 and "never written in clear" in m for line, m in msgs)
    assert any(line == 15 and "exactly one of 'webhook:' or 'command:'" in m for line, m in msgs)
    assert any(line == 21 and "hooks[2].command: expected a list" in m for line, m in msgs)
    assert any(line == 24 and "a URL with credentials is never written in clear" in m for line, m in msgs)
    assert "abc123" not in str(err.value) and "hunter2" not in str(err.value)  # the refusal does not repeat the secret it refuses


def test_the_user_hooks_file_is_refused_when_others_may_write_it(tmp_path: Path) -> None:
    path = user_hooks_path()
    assert str(path).startswith(os.environ["XDG_CONFIG_HOME"])
    assert load_user_hooks() == ()  # absent: no hooks
    path.parent.mkdir(parents=True)
    path.write_text("hooks:\n  - name: log\n    on: [session-ended]\n    command: [logger, done]\n")
    path.chmod(0o620)
    with pytest.raises(HooksFileError, match="chmod go-w"):
        load_user_hooks()
    path.chmod(0o600)
    (hook,) = load_user_hooks()
    assert hook.command == ("logger", "done") and hook.source == str(path)
    path.write_text("hooks:\n  - name: log\n    on: [session-endd]\n    command: [logger]\n")
    with pytest.raises(ScenarioError) as err:
        load_user_hooks()
    assert err.value.problems[0].line == 3 and "did you mean 'session-ended'" in err.value.problems[0].message


# ---- delivery ---------------------------------------------------------------------------------------------


def _session(tmp_path: Path, host: Host, hooks: tuple[Hook, ...], **kw: Any) -> Session:
    return Session(make_scenario(fault_step(duration=30.0)), journal_path=tmp_path / "j.jsonl", clock=ManualClock(),
                   sources=[FakeSource(ok_rate=1.0)], executor_factory=lambda t: MemoryExecutor(t.name, host.handle),
                   control=False, user_hooks=hooks, hook_grace=kw.pop("grace", 3.0), **kw)


async def _until_observing(s: Session) -> None:
    waited = 0.0
    while s.state != "observing":
        await s.clock.advance(0.1)  # type: ignore[attr-defined]
        waited += 0.1
        assert waited < 60, s.state


async def _run_and_stop(s: Session) -> float:
    """Run to the step, press the e-stop; the seconds (real) the e-stop took; then drive to the end."""
    task = asyncio.ensure_future(s.run())
    await _until_observing(s)
    start = time.perf_counter()
    try:
        # Bounded: a stop that waits for a hook would take the receiver's timeouts (tens of seconds).
        await asyncio.wait_for(s.emergency_stop("key", reason="test"), 3.0)
    except TimeoutError:
        task.cancel()
        pytest.fail("the e-stop did not finish within 3 s: something on its path waits")
    took = time.perf_counter() - start
    await _drive(s, task)
    return took


async def _drive(s: Session, task: asyncio.Future[Any]) -> None:
    """Advance the manual clock with a little real time between steps: hook deliveries and the session end's
    grace run on real time (they are real I/O). Bounded: 20 s of real time."""
    deadline = time.monotonic() + 20.0
    while not task.done():
        assert time.monotonic() < deadline, "the session did not end"
        await s.clock.advance(0.1)  # type: ignore[attr-defined]
        await asyncio.sleep(0.002)
    task.result()


def _hook_events(path: Path) -> list[Event]:
    return [e for e in read_journal(path).events if e.type.startswith("hook-")]


async def test_a_webhook_gets_the_documented_payloads_in_order_and_secrets_stay_out_of_the_journal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "s3cr3t-t0ken")
    async with receiver() as rx:
        hook = Hook(name="rx", on=("session-started", "fault-injected", "rollback-started", "rollback-finished",
                                   "session-ended"), url=rx.url,
                    headers=(("Authorization", Secret(env="HOOK_TOKEN")),), timeout=2.0)
        s = _session(tmp_path, Host("t1"), (hook,))
        await _run_and_stop(s)
    bodies = rx.bodies()
    assert [b["event"] for b in bodies] == ["session-started", "fault-injected", "rollback-started",
                                            "rollback-finished", "session-ended"]
    first = bodies[0]
    assert set(first) == {"version", "event", "alias", "session", "scenario", "environment", "t", "mono", "page",
                          "text", "data"}
    assert first["alias"] == "chaos:experiment-started" and first["session"] == s.session_id
    assert first["scenario"] == "engine-test" and first["page"] is False
    assert bodies[1]["data"]["target"] == "t1" and bodies[3]["data"]["clean"] is True
    assert bodies[-1]["data"]["outcome"] == "aborted"
    assert all(r.headers["authorization"] == "s3cr3t-t0ken" for r in rx.requests)
    assert all(r.headers["content-type"] == "application/json" for r in rx.requests)
    delivered = _hook_events(tmp_path / "j.jsonl")
    assert [e.data["event"] for e in delivered if e.type == "hook-delivered"] == [b["event"] for b in bodies]
    assert "s3cr3t-t0ken" not in (tmp_path / "j.jsonl").read_text()
    assert rx.url not in (tmp_path / "j.jsonl").read_text()


async def test_a_failed_delivery_is_retried_with_backoff_then_journaled_as_final(tmp_path: Path) -> None:
    async with receiver(statuses=[500, 503]) as rx:
        events: list[tuple[str, dict[str, Any]]] = []
        runner = HookRunner(lambda t, **d: events.append((t, d)),  # type: ignore[arg-type,return-value]
                            (Hook(name="rx", on=("session-ended",), url=rx.url, retries=2, timeout=2.0),),
                            session_id="x", scenario="s", environment="e", backoff=0.05)
        runner.start()
        runner.listen(Event("session-ended", "t", 1.0, {"outcome": "held"}))
        await runner.close(grace=5.0)
        assert [(t, d["attempt"]) for t, d in events] == [("hook-failed", 1), ("hook-failed", 2),
                                                          ("hook-delivered", 3)]
        assert events[0][1]["error"] == "HTTP 500" and events[0][1]["final"] is False
        assert len(rx.requests) == 3
    async with receiver(statuses=[500, 500]) as rx:
        events.clear()
        runner = HookRunner(lambda t, **d: events.append((t, d)),  # type: ignore[arg-type,return-value]
                            (Hook(name="rx", on=("session-ended",), url=rx.url, retries=1, timeout=2.0),),
                            session_id="x", scenario="s", environment="e", backoff=0.05)
        runner.start()
        runner.listen(Event("session-ended", "t", 1.0, {"outcome": "held"}))
        await runner.close(grace=5.0)
        assert [(t, d["attempt"], d["final"]) for t, d in events] == [("hook-failed", 1, False),
                                                                      ("hook-failed", 2, True)]


async def test_the_slack_form_sends_only_text(tmp_path: Path) -> None:
    async with receiver() as rx:
        runner = HookRunner(lambda *a, **k: None, (Hook(name="chat", on=("condition-breached",), url=rx.url,  # type: ignore[arg-type,return-value]
                                                        format="slack"),),
                            session_id="x", scenario="checkout", environment="staging")
        runner.start()
        runner.listen(Event("condition-breached", "t", 3.0, {"condition": "ok_rate < 0.8"}))
        await runner.close(grace=5.0)
    assert rx.bodies() == [{"text": "controlroom · checkout (staging): stop condition breached: ok_rate < 0.8"}]


async def test_a_command_hook_gets_the_event_json_on_stdin(tmp_path: Path) -> None:
    out = tmp_path / "got.json"
    code = f"import sys; open({str(out)!r}, 'wb').write(sys.stdin.buffer.read())"
    events: list[tuple[str, dict[str, Any]]] = []
    runner = HookRunner(lambda t, **d: events.append((t, d)),  # type: ignore[arg-type,return-value]
                        (Hook(name="cmd", on=("fault-injected",), command=(sys.executable, "-c", code)),),
                        session_id="x", scenario="s", environment="e")
    runner.start()
    runner.listen(Event("fault-injected", "t", 2.0, {"fault": "f1", "target": "db"}))
    await runner.close(grace=10.0)
    got = json.loads(out.read_text())
    assert got["event"] == "fault-injected" and got["data"] == {"fault": "f1", "target": "db"}
    assert events[0][0] == "hook-delivered"


async def test_a_failing_command_is_journaled_with_its_exit_and_stderr() -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    runner = HookRunner(lambda t, **d: events.append((t, d)),  # type: ignore[arg-type,return-value]
                        (Hook(name="cmd", on=("session-ended",), retries=0,
                              command=(sys.executable, "-c", "import sys; print('no route', file=sys.stderr); "
                                                             "sys.exit(3)")),),
                        session_id="x", scenario="s", environment="e")
    runner.start()
    runner.listen(Event("session-ended", "t", 2.0, {"outcome": "held"}))
    await runner.close(grace=10.0)
    assert events == [("hook-failed", {"hook": "cmd", "event": "session-ended", "attempt": 1, "final": True,
                                       "page": False, "error": "exit 3: no route"})]


async def test_a_full_queue_drops_with_a_journaled_warning_instead_of_blocking() -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    runner = HookRunner(lambda t, **d: events.append((t, d)),  # type: ignore[arg-type,return-value]
                        (Hook(name="h", on=("fault-injected",), url="http://127.0.0.1:9/"),),
                        session_id="x", scenario="s", environment="e", queue_size=2)
    # No worker started: nothing drains the queue.
    for i in range(4):
        runner.listen(Event("fault-injected", "t", float(i), {"fault": f"f{i}", "target": "t"}))
    assert [t for t, _ in events] == ["hook-dropped", "hook-dropped"]
    assert "queue full" in events[0][1]["reason"]


async def test_rollback_unconfirmed_pages_the_page_hooks_once(tmp_path: Path) -> None:
    async with receiver() as rx:
        hooks = (Hook(name="pager", on=("rollback-unconfirmed",), url=rx.url, page=True),
                 Hook(name="log", on=("rollback-finished",), url=rx.url))
        host = Host("t1", revert_works=False)
        s = _session(tmp_path, host, hooks)
        task = asyncio.ensure_future(s.run())
        await _until_observing(s)
        stop = asyncio.ensure_future(s.emergency_stop("key", reason="test"))  # retries the revert on the clock
        await _drive(s, task)
        await stop
    bodies = rx.bodies()
    pages = [b for b in bodies if b["event"] == "rollback-unconfirmed"]
    assert len(pages) == 1 and pages[0]["page"] is True and pages[0]["data"]["unconfirmed"]
    assert pages[0]["text"].startswith("controlroom · engine-test (test): PAGE: rollback unconfirmed")
    paged = [e for e in _hook_events(tmp_path / "j.jsonl") if e.type == "hook-delivered" and e.data.get("page")]
    assert [e.data["hook"] for e in paged] == ["pager"]


# ---- the safety rule: a hook never delays the e-stop ------------------------------------------------------


@pytest.mark.parametrize("kind", ["dead", "slow"])
async def test_a_dead_or_slow_receiver_does_not_delay_the_e_stop(tmp_path: Path, kind: str) -> None:
    (tmp_path / "none").mkdir()
    (tmp_path / "hooked").mkdir()
    without = await _run_and_stop(_session(tmp_path / "none", Host("t1"), ()))
    async with receiver(dead=kind == "dead", delay=4.0 if kind == "slow" else 0.0) as rx:
        hook = Hook(name="rx", on=("session-started", "fault-injected", "rollback-started", "rollback-finished",
                                   "session-ended"), url=rx.url, timeout=5.0, retries=2)
        s = _session(tmp_path / "hooked", Host("t1"), (hook,), grace=0.3)
        with_hook = await _run_and_stop(s)
        assert rx.requests, "the receiver was reached"
    # An inline await would cost at least the receiver's 4-5 s; off the path the e-stop is the rollback alone.
    assert with_hook < 1.0, (with_hook, without)
    assert with_hook < without + 0.5, (with_hook, without)
    dropped = [e for e in _hook_events(tmp_path / "hooked" / "j.jsonl") if e.type == "hook-dropped"]
    assert dropped and all("abandoned at the session's end" in e.data["reason"] for e in dropped)


def test_the_hooks_examples_in_the_docs_are_valid() -> None:
    for doc in ("docs/scenario-format.md", "docs/hooks.md", "README.md"):
        text = (Path(__file__).parents[2] / doc).read_text()
        block = next(b.split("```", 1)[0] for b in text.split("```yaml\n")[1:] if b.startswith("hooks:"))
        sc = load_scenario_text(MINIMAL + block, doc)
        assert [h.name for h in sc.hooks] == ["chat", "pager"] and sc.hooks[1].page


async def test_secrets_come_from_a_file_or_the_environment_and_a_missing_one_is_a_journaled_failure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = tmp_path / "token"
    token.write_text("from-a-file\n")
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    events: list[tuple[str, dict[str, Any]]] = []
    async with receiver() as rx:
        runner = HookRunner(lambda t, **d: events.append((t, d)),  # type: ignore[arg-type,return-value]
                            (Hook(name="file", on=("session-ended",), url=rx.url,
                                  headers=(("X-Token", Secret(file=str(token))),)),
                             Hook(name="env", on=("session-ended",), url=rx.url, retries=0,
                                  headers=(("X-Token", Secret(env="NOT_SET_ANYWHERE")),))),
                            session_id="x", scenario="s", environment="e")
        runner.start()
        runner.listen(Event("session-ended", "t", 1.0, {"outcome": "held"}))
        await runner.close(grace=5.0)
    assert [r.headers["x-token"] for r in rx.requests] == ["from-a-file"]
    failed = next(d for t, d in events if t == "hook-failed")
    assert failed["hook"] == "env" and failed["error"] == "header X-Token: $NOT_SET_ANYWHERE is not set"


async def test_a_journal_with_hook_records_after_session_ended_is_complete(tmp_path: Path) -> None:
    # `recover` and `status` read an incomplete journal as a crashed session: hook records written in the
    # end's grace must not make a finished session look crashed.
    async with receiver(dead=True) as rx:
        s = _session(tmp_path, Host("t1"), (Hook(name="rx", on=("session-ended",), url=rx.url),), grace=0.2)
        await _run_and_stop(s)
    journal = read_journal(tmp_path / "j.jsonl")
    assert journal.events[-1].type == "hook-dropped"
    assert journal.complete


async def test_each_try_is_bounded_by_the_hooks_timeout() -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    async with receiver(dead=True) as rx:
        runner = HookRunner(lambda t, **d: events.append((t, d)),  # type: ignore[arg-type,return-value]
                            (Hook(name="rx", on=("session-ended",), url=rx.url, timeout=0.2, retries=1),),
                            session_id="x", scenario="s", environment="e", backoff=0.01)
        runner.start()
        start = time.monotonic()
        runner.listen(Event("session-ended", "t", 1.0, {"outcome": "held"}))
        await runner.close(grace=5.0)
        took = time.monotonic() - start
    assert [(t, d["attempt"], d["error"], d["final"]) for t, d in events] == [
        ("hook-failed", 1, "timed out", False), ("hook-failed", 2, "timed out", True)]
    assert len(rx.requests) == 2 and took < 2.0

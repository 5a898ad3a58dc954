"""`controlroom import chaostoolkit`: every construct, round trips (import -> validate -> plan) and hostile input.

The experiments in experiments/ were written for these tests (none is copied from elsewhere). A round trip
checks that the room would run exactly the commands Chaos Toolkit would have run, and a property test runs
the translated command through a real shell to show the argv arrives unchanged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controlroom.engine.planning import plan_scenario
from controlroom.importers.chaostoolkit import ExperimentError, Mapping_, import_experiment, read_mapping
from controlroom.scenario import load_scenario_text
from controlroom.scenario.model import Scenario

HERE = Path(__file__).resolve().parent
EXP = HERE / "experiments"
ENV = {"CR_TEST_CACHE_UNIT": "redis.service", "ORDERS_TOKEN": "s3cr3t-orders-token"}


def _import(name: str, *, partial: bool = False, env: dict[str, str] | None = None) -> tuple[str, Scenario]:
    path = str(EXP / name)
    stem = name.rsplit(".", 1)[0]
    map_file = EXP / f"{stem}.map.yaml"
    mapping = read_mapping(str(map_file)) if map_file.exists() else Mapping_()
    result = import_experiment(path, mapping, partial=partial, env=ENV if env is None else env)
    return result.text, load_scenario_text(result.text, "imported.yaml")


def _fault(sc: Scenario, step_id: str) -> tuple[str, str, str]:
    """(inject, revert, verify) scripts of a step's one fault, as the plan will run them."""
    for sp in plan_scenario(sc):
        if sp.step.id == step_id:
            (plan,) = sp.faults
            return plan.inject[0].script, plan.revert[0].script, plan.verify[0].script
    raise AssertionError(f"no step {step_id}")


def _problems(path: Path, **kw: object) -> list[str]:
    with pytest.raises(ExperimentError) as err:
        import_experiment(str(path), env=ENV, **kw)  # type: ignore[arg-type]
    return [str(p) for p in err.value.problems]


# ---- translation --------------------------------------------------------------------------------------------


def test_process_action_with_rollback_becomes_a_command_fault_running_the_same_argv() -> None:
    text, sc = _import("paused-worker.json", env={})
    assert sc.name == "shop-survives-a-paused-worker"
    assert sc.hypothesis == "Checkout keeps answering while one worker is paused"
    assert sc.environment == "imported" and sc.blast_radius.allowed_environments == ("imported",)
    assert not sc.template and not sc.unobserved
    inject, revert, verify = _fault(sc, "pause-worker")
    # argv ["pkill", "-STOP", "-f", "${worker}"], worker from its env default; the rollback's string arguments
    # are shlex-split as Chaos Toolkit does, so the quotes around '${worker}' are not part of the argument.
    assert "\npkill -STOP -f worker-1\n" in inject
    assert revert == "pkill -CONT -f worker-1"
    assert verify == "! ps -o stat= -p $(pgrep -d, -f worker-1) | grep -q T"
    assert sc.steps[0].duration == 20 and sc.steps[0].confirm
    assert sc.targets["local"].kind == "local"
    # the http probe -> the built-in prober with its timeout; the process probe -> a 0/1 command metric
    shop = sc.observe.metrics["shop_health"]
    assert (shop.probe, shop.timeout) == ("http://127.0.0.1:8089/health", 3.0)
    assert sc.observe.metrics["worker_alive"].command == (
        "if pgrep -f worker-1 >/dev/null 2>&1; then echo 1; else echo 0; fi")
    assert [str(c) for c in sc.steady_state.require] == ["shop_health.success_rate >= 100%", "worker_alive == 1"]
    # where each part came from, and the configuration note
    assert "# from method 'pause-worker' (paused-worker.json:20:3)" in text
    assert "# revert: rollbacks 'resume-worker' (paused-worker.json:25:3)" in text
    assert "$WORKER_NAME was not set at import time, so its default" in text


def test_env_configuration_is_read_at_import_time_with_a_note() -> None:
    text, sc = _import("paused-worker.json", env={"WORKER_NAME": "billing"})
    assert "pkill -STOP -f billing" in _fault(sc, "pause-worker")[0]
    assert "read from $WORKER_NAME at import time" in text and "no environment references" in text


def test_every_translatable_construct() -> None:
    text, sc = _import("everything.yaml")
    assert [s.id for s in sc.steps] == ["slow-disk-pause", "slow-disk", "stop-cache", "slow-disk-2-pause",
                                        "slow-disk-2"]
    # pauses.before -> an observe-only step without a gate; pauses.after (a ${var}) -> the step's duration
    pause = sc.steps[0]
    assert (pause.faults, pause.confirm, pause.duration) == ((), False, 2)
    assert sc.steps[1].duration == 5 and sc.steps[2].duration == 15
    # the mapping's target and environment; undoes: attaches each rollback to the step it undoes, and a
    # `ref` that repeats the action gets the same revert
    assert sc.targets["host"].ssh == "chaos@10.77.0.12" and sc.targets["host"].sudo
    assert sc.environment == "lab"
    for sid in ("slow-disk", "slow-disk-2"):
        inject, revert, verify = _fault(sc, sid)
        assert "\n/usr/local/bin/slowdisk on --delay 200ms\n" in inject
        assert revert == "/usr/local/bin/slowdisk off"
        assert verify == "! /usr/local/bin/slowdisk status | grep -q on"
    inject, revert, _ = _fault(sc, "stop-cache")
    assert "\nsystemctl stop redis.service\n" in inject and revert == "systemctl start redis.service"
    assert "background: true in the experiment" in text
    m = sc.observe.metrics
    assert m["orders_list"].timeout == 3.0  # timeout [connect 1, read 2]
    assert m["cache_config_ok"].command == (
        "if cat /etc/cache.conf 2>/dev/null | grep -Eq -- '^maxmemory [0-9]+'; then echo 1; else echo 0; fi")
    assert m["cache_config_ok"].on == "host"
    assert "2>&1 >/dev/null | grep -Eq -- 'I/O error'" in (m["no_disk_errors"].command or "")
    assert "[ $? -eq 1 ]" in (m["lock_absent"].command or "")
    assert m["error_ratio"].promql == "sum(rate(errors_total[1m]))"
    assert m["replicas"].promql == 'count(up{job="orders"})'
    assert sc.observe.prometheus is not None and sc.observe.prometheus.url == "http://127.0.0.1:9090"
    assert [str(c) for c in sc.steady_state.require] == [
        "orders_list.success_rate >= 100%", "orders_any_2xx.success_rate >= 100%", "cache_config_ok == 1",
        "no_disk_errors == 1", "lock_absent == 1", "error_ratio >= 0", "error_ratio <= 0.01", "replicas == 3"]
    # a method probe is observed, with no condition
    assert "orders_during" in m and not any("orders_during" in str(c) for c in sc.steady_state.require)
    # a secret is named, never copied
    assert "orders.token (from $ORDERS_TOKEN" in text and ENV["ORDERS_TOKEN"] not in text


def test_rollbacks_that_cannot_be_attached_make_one_final_step() -> None:
    text, sc = _import("combined.json")
    (step,) = sc.steps
    assert step.id == "method" and step.duration == 7  # pauses.after 3 + 4
    inject, revert, verify = _fault(sc, "method")
    assert ("\nset -e\nfallocate -l 1G /var/tmp/cr-fill\n"
            "sh -c 'echo 3 > /proc/sys/vm/drop_caches; echo \"done $HOME\"'\n") in inject
    assert revert == "rc=0\nrm -f /var/tmp/cr-fill || rc=1\nlogger chaos over || rc=1\nexit $rc"
    assert verify == "set -e\ntest ! -e /var/tmp/cr-fill\ntrue"
    assert "could not each be attached to one action" in text
    assert sc.unobserved  # no steady-state probe: no verdict, said so
    assert "unobserved: true   # the experiment has no steady-state probe" in text


UNTRANSLATABLE = [
    "untranslatable.yaml:10:5: control 'tracing' cannot be translated",
    "untranslatable.yaml:13:3: runtime: Chaos Toolkit runtime strategies cannot be translated",
    "untranslatable.yaml:20:48: activity 'api-authed': http headers cannot be translated",
    "untranslatable.yaml:23:18: activity 'api-missing-page': the tolerance accepts status 404",
    "untranslatable.yaml:28:63: activity 'token-valid': uses secret 'token'; secrets are never copied",
    "untranslatable.yaml:34:5: activity 'rename-config': python provider os.rename cannot be translated; "
    "write it as a command fault",
    "untranslatable.yaml:37:5: activity 'kill-pod': chaosk8s acts on whatever kubeconfig context is current when "
    "it runs, which the import does not guess: name the cluster with --kube-context NAME",
    "untranslatable.yaml:40:5: activity 'slow-proxy': chaostoxi reads configuration toxiproxy_host, which the "
    "experiment does not set",
    "untranslatable.yaml:43:5: activity 'post-order': an http action cannot be translated",
    "untranslatable.yaml:46:5: activity 'restart-api': Chaos Toolkit has no check that an action's effect is gone",
    "untranslatable.yaml:46:5: activity 'restart-api': has no rollback",
    "untranslatable.yaml:49:9: control 'yorn' cannot be translated",
]


def test_untranslatable_activities_are_one_located_line_each() -> None:
    mapping = read_mapping(str(EXP / "untranslatable.map.yaml"))
    lines = _problems(EXP / "untranslatable.yaml", mapping=mapping)
    assert len(lines) == len(UNTRANSLATABLE)
    for line, want in zip(lines, UNTRANSLATABLE, strict=True):
        assert line.startswith(f"{EXP}/{want}"), line
        assert "\n" not in line


def test_partial_writes_todos_that_run_refuses() -> None:
    text, sc = _import("untranslatable.yaml", partial=True)
    assert sc.template  # validate and plan work; `run` refuses a template before contacting anything
    assert "template: true   # --partial: 12 part(s) are TODOs" in text
    assert [s.id for s in sc.steps] == ["pause-db"]
    assert list(sc.observe.metrics) == ["api_ok"]
    for want in UNTRANSLATABLE:
        assert f"# TODO: {EXP}/{want}" in text
    assert "  #       revert: \"TODO\"" in text  # the step without a rollback is a comment, never a fake revert


def test_an_action_without_rollback_is_refused_even_with_a_verify(tmp_path: Path) -> None:
    exp = tmp_path / "e.json"
    exp.write_text(json.dumps({"title": "t", "method": [
        {"type": "action", "name": "kill-it", "provider": {"type": "process", "path": "pkill", "arguments": "x"}}]}))
    lines = _problems(exp, mapping=Mapping_(verify={"kill-it": "! pgrep x"}))
    assert lines == [f"{exp}:1:27: activity 'kill-it': has no rollback; the room runs a command only as a fault it "
                     "can revert: add the rollback that undoes it to the experiment"]


def test_cli_writes_nothing_and_exits_2_on_untranslatable(tmp_path: Path) -> None:
    out = tmp_path / "out.yaml"
    proc = subprocess.run([sys.executable, "-m", "controlroom", "import", "chaostoolkit",
                           str(EXP / "untranslatable.yaml"), "-o", str(out)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **ENV})
    assert proc.returncode == 2, proc.stderr
    assert not out.exists() and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[0].startswith(f"{EXP}/untranslatable.yaml:10:5: control 'tracing'")


def test_cli_round_trip_import_validate_plan_shows_the_experiments_commands(tmp_path: Path) -> None:
    out = tmp_path / "everything.yaml"
    env = {**os.environ, **ENV}

    def cr(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "controlroom", *args], capture_output=True, text=True,
                              timeout=60, env=env)

    done = cr("import", "chaostoolkit", str(EXP / "everything.yaml"), "-m", str(EXP / "everything.map.yaml"),
              "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "imported: 5 step(s), 8 metric(s)" in done.stderr
    valid = cr("validate", str(out))
    assert valid.returncode == 0 and ": ok: " in valid.stdout, valid.stderr
    plan = cr("plan", "-v", str(out))
    assert plan.returncode == 0, plan.stderr
    lines = plan.stdout.splitlines()
    # every command Chaos Toolkit would have run (the method's actions and the rollbacks) is in the plan
    for cmd in ("/usr/local/bin/slowdisk on --delay 200ms", "systemctl stop redis.service"):
        assert cmd in lines
    assert "    revert  sudo -n sh -c /usr/local/bin/slowdisk off" in lines
    assert "    revert  sudo -n sh -c systemctl start redis.service" in lines
    # and the partial import's file validates too, and says it is not run
    partial = tmp_path / "partial.yaml"
    done = cr("import", "chaostoolkit", str(EXP / "untranslatable.yaml"), "--partial", "-o", str(partial))
    assert done.returncode == 0 and "(left as a TODO)" in done.stderr and partial.exists()
    assert cr("validate", str(partial)).returncode == 0
    run = cr("run", "--headless", "--yes", str(partial))
    assert run.returncode == 2 and "template: true" in run.stderr


# ---- the argv arrives unchanged -----------------------------------------------------------------------------

_ARG = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=st.lists(_ARG, max_size=5), as_string=st.booleans())
def test_the_shell_gets_the_argv_chaos_toolkit_would_exec(tmp_path: Path, args: list[str], as_string: bool) -> None:
    import shlex

    # Chaos Toolkit shlex-splits a string of arguments; a list goes to exec as it is
    arguments: object = shlex.join(["%s|", *args]) if as_string else ["%s|", *args]
    exp = tmp_path / "argv.json"
    exp.write_text(json.dumps({"title": "argv", "method": [
        {"type": "action", "name": "echo", "provider": {"type": "process", "path": "printf", "arguments": arguments}}],
        "rollbacks": [{"type": "action", "name": "undo", "provider": {"type": "process", "path": "true"}}]}))
    try:
        text = import_experiment(str(exp), Mapping_(verify={"echo": "true"}), env={}).text
    except ExperimentError as err:
        # the one refusal allowed: validation's own refusal of control characters in a scenario value
        assert all("does not validate" in p.message for p in err.problems), err
        return
    sc = load_scenario_text(text, "argv.yaml")
    inject = sc.steps[0].faults[0].params["inject"]
    got = subprocess.run(["sh", "-c", inject], capture_output=True, timeout=10).stdout
    want = subprocess.run(["printf", "%s|", *args], capture_output=True, timeout=10).stdout
    assert got == want


# ---- malformed and hostile input ----------------------------------------------------------------------------

MALFORMED = [
    ("bad.json", b'{"title": "x",, "method": []}', "bad.json:1:15: YAML syntax error"),
    ("cut.json", b'{"title": "x", "method": [', "cut.json:1:27: YAML syntax error"),
    ("empty.yaml", b"", "empty.yaml:1:1: the experiment is empty"),
    ("list.json", b"[1, 2]", "list.json:1:1: an experiment is a mapping (title, method, ...)"),
    ("dup.json", b'{"title": "a", "title": "b", "method": []}', "dup.json:1:16: duplicate key 'title'"),
    ("nul.json", b'{"title": "a\x00"}', "nul.json:1:13: binary data"),
    ("latin1.yaml", b"title: caf\xe9\n", "latin1.yaml:1:11: not UTF-8 text"),
    ("two.yaml", b"title: a\n---\ntitle: b\n", "two.yaml:2:1: a second YAML document"),
    ("tag.yaml", b"title: !!python/object:os.system x\nmethod: []\n", "tag.yaml:1:8: YAML tag"),
    ("ref.json", b'{"title": "a", "method": [{"ref": "nothing"}]}', "ref.json:1:35: method: ref 'nothing' names no"),
    ("env.json", b'{"title": "a", "configuration": {"u": {"type": "env", "key": "CR_NOT_SET_EVER"}}, "method": []}',
     "env.json:1:39: configuration.u: environment variable CR_NOT_SET_EVER is not set and has no default"),
    ("key.json", b'{"title": "a", "steps": [], "method": []}', "key.json:1:16: 'steps' is not a Chaos Toolkit"),
    ("conf.json", b'{"title": "a", "configuration": [1], "method": []}',
     "conf.json:1:33: configuration: expected a mapping of names to values"),
    ("secrets.json", b'{"title": "a", "secrets": "x", "method": []}',
     "secrets.json:1:27: secrets: expected a mapping of scopes to secrets"),
    ("notitle.json", b'{"method": []}', "notitle.json:1:1: title: every Chaos Toolkit experiment has a title"),
    ("method.json", b'{"title": "a", "method": {"x": 1}}', "method.json:1:26: method: expected a list"),
    ("type.json", b'{"title": "a", "method": [{"type": "act", "name": "n", "provider": {}}]}',
     "type.json:1:36: method: an activity's type is action or probe"),
]


@pytest.mark.parametrize(("name", "data", "want"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_experiments_are_one_located_line(tmp_path: Path, name: str, data: bytes, want: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    lines = _problems(path)
    assert lines[0].startswith(f"{tmp_path}/{want}"), lines


def test_json_indented_with_tabs_is_read_with_its_positions(tmp_path: Path) -> None:
    path = tmp_path / "tabs.json"
    path.write_text('{\n\t"title": "tabs",\n\t"method": [\n\t\t{"type": "action", "name": "x",\n\t\t "provider": '
                    '{"type": "python", "module": "os", "func": "rename"}}\n\t]\n}\n')
    assert _problems(path) == [f"{path}:4:3: activity 'x': python provider os.rename cannot be translated; write "
                               "it as a command fault"]


def test_bad_pause_and_arguments_are_located(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("title: p\nmethod:\n  - type: action\n    name: a\n    pauses: {after: soon}\n"
                    "    provider: {type: process, path: x, arguments: \"'unclosed\"}\n")
    lines = _problems(path)
    assert lines == [f"{path}:6:51: activity 'a': provider.arguments: No closing quotation"]
    path.write_text("title: p\nmethod:\n  - type: action\n    name: a\n    pauses: {after: soon}\n"
                    "    provider: {type: process, path: x}\n")
    assert _problems(path) == [f"{path}:5:21: activity 'a': pauses.after: 'soon' is not a number of seconds"]


def test_credentials_in_a_probe_url_are_never_copied(tmp_path: Path) -> None:
    path = tmp_path / "u.yaml"
    path.write_text("title: u\nsteady-state-hypothesis:\n  title: h\n  probes:\n    - type: probe\n      name: p\n"
                    "      tolerance: 200\n      provider: {type: http, url: 'http://bob:hunter2@shop/health'}\n"
                    "method: []\n")
    with pytest.raises(ExperimentError) as err:
        import_experiment(str(path), partial=False, env={})
    assert "url 'http://shop/health' carries credentials" in str(err.value) and "hunter2" not in str(err.value)
    text = import_experiment(str(path), partial=True, env={}).text
    assert "hunter2" not in text


def test_mapping_file_problems_are_located(tmp_path: Path) -> None:
    bad = tmp_path / "m.yaml"
    bad.write_text("target: {ssh: a@b}\nverfy: {x: y}\n")
    with pytest.raises(ExperimentError) as err:
        read_mapping(str(bad))
    assert str(err.value).startswith(f"{bad}:2:1: 'verfy': a mapping file has target:")
    assert read_mapping("", "chaos@10.0.0.5").target == {"ssh": "chaos@10.0.0.5"}


def test_a_target_validation_refuses_is_reported_not_written() -> None:
    mapping = read_mapping(str(EXP / "paused-worker.map.yaml"), "-oProxyCommand=x")
    with pytest.raises(ExperimentError) as err:
        import_experiment(str(EXP / "paused-worker.json"), mapping, env={})
    assert "the translated scenario does not validate" in str(err.value)


_KEYS = st.sampled_from(["title", "method", "rollbacks", "type", "name", "provider", "path", "arguments", "pauses",
                         "after", "before", "tolerance", "ref", "url", "steady-state-hypothesis", "probes",
                         "configuration", "secrets", "key", "range", "target", "module", "func", "timeout"])
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 100000), st.floats(allow_nan=True),
                     st.sampled_from(["action", "probe", "process", "http", "python", "env", "range", "regex",
                                      "${x}", "http://h/x", "200", "chaosprometheus.probes", "query"]), st.text(max_size=8))
_JSON = st.recursive(_SCALARS, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                       st.dictionaries(_KEYS, kids, max_size=5)), max_leaves=25)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.dictionaries(_KEYS, _JSON, max_size=6))
def test_any_json_shaped_experiment_imports_or_is_refused_without_a_traceback(tmp_path: Path, doc: dict) -> None:
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps(doc))
    for partial in (False, True):
        try:
            import_experiment(str(path), Mapping_(verify={"": "true"}), partial=partial, env={"x": "1"})
        except ExperimentError as err:
            assert err.problems and all(p.file == str(path) and p.line >= 1 for p in err.problems)
            # what the translation writes, validation accepts: its refusals are caught as lines about the experiment
            assert not any("does not validate" in p.message for p in err.problems), err


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_any_bytes_import_or_are_refused_without_a_traceback(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(data)
    try:
        import_experiment(str(path), env={})
    except ExperimentError as err:
        assert err.problems


def test_a_rollback_with_no_action_to_undo_is_located(tmp_path: Path) -> None:
    # found by fuzzing: an empty method with a rollback was an IndexError
    path = tmp_path / "r.json"
    path.write_text('{"title": "r", "method": [],\n "rollbacks": [{"type": "action", "name": "a", '
                    '"provider": {"type": "process", "path": "true"}}]}')
    assert _problems(path) == [f"{path}:2:16: activity 'a': a rollback with no translated action to undo: the room "
                               "runs a revert only for the fault it undoes"]
    text = import_experiment(str(path), partial=True, env={}).text
    assert "template: true" in load_scenario_text(text, "r.yaml").source_text


def test_json_escapes_of_astral_characters_survive_the_round_trip(tmp_path: Path) -> None:
    # json.dumps writes U+1F600 as "\ud83d\ude00"; read as two halves, the command could not even be printed
    path = tmp_path / "e.json"
    path.write_text(json.dumps({"title": "emoji", "method": [
        {"type": "action", "name": "say", "provider": {"type": "process", "path": "echo", "arguments": ["\U0001f600"]}}],
        "rollbacks": [{"type": "action", "name": "undo", "provider": {"type": "process", "path": "true"}}]}))
    assert "\\ud83d" in path.read_text()
    text = import_experiment(str(path), Mapping_(verify={"say": "true"}), env={}).text
    assert "\U0001f600" in _fault(load_scenario_text(text, "e.yaml"), "say")[0]


def test_a_name_in_the_mapping_the_experiment_lacks_is_located(tmp_path: Path) -> None:
    typo = tmp_path / "m.yaml"
    typo.write_text('verify:\n  pause-workr: "true"\nundoes:\n  resume-worker: pause-worker\n  nope: pause-worker\n')
    lines = _problems(EXP / "paused-worker.json", mapping=read_mapping(str(typo)))
    assert lines == [f"{typo}:2:3: verify.pause-workr: the experiment has no action in its method named "
                     "'pause-workr'; did you mean 'pause-worker'?",
                     f"{typo}:5:3: undoes.nope: the experiment has no rollback named 'nope'"]


def test_a_rollback_of_an_untranslated_action_is_never_attached_elsewhere(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text("title: e\nmethod:\n"
                    "  - {type: action, name: a, provider: {type: process, path: touch, arguments: /tmp/a}}\n"
                    "  - {type: action, name: b, provider: {type: python, module: os, func: remove}}\n"
                    "rollbacks:\n"
                    "  - {type: action, name: undo-b, provider: {type: process, path: restore-b}}\n"
                    "  - {type: action, name: undo-a, provider: {type: process, path: rm, arguments: /tmp/a}}\n")
    mapping = Mapping_(verify={"a": "test ! -e /tmp/a"}, undoes={"undo-a": "a", "undo-b": "b"})
    lines = _problems(path, mapping=mapping)
    assert lines == [f"{path}:4:5: activity 'b': python provider os.remove cannot be translated; write it as a "
                     "command fault",
                     f"{path}:6:5: activity 'undo-b': the rollback of 'b', which was not translated"]
    text = import_experiment(str(path), mapping, partial=True, env={}).text
    assert _fault(load_scenario_text(text, "e.yaml"), "a")[1] == "rm /tmp/a"


@pytest.mark.xdist_group("local-host")  # a real session on this machine: one host claim, like the other local runs
def test_an_imported_scenario_runs_injects_reverts_and_verifies(tmp_path: Path) -> None:
    fault, log = tmp_path / "fault-file", tmp_path / "inject.log"
    exp = tmp_path / "run.json"
    exp.write_text(json.dumps({
        "title": "runs for real", "description": "the file comes and goes",
        "steady-state-hypothesis": {"title": "fine", "probes": [
            {"type": "probe", "name": "fine", "tolerance": 0, "provider": {"type": "process", "path": "true"}}]},
        "method": [{"type": "action", "name": "make-file", "pauses": {"after": 1}, "provider": {
            "type": "process", "path": "sh", "arguments": ["-c", f"touch '{fault}' && echo injected >> '{log}'"]}}],
        "rollbacks": [{"type": "action", "name": "remove-file",
                       "provider": {"type": "process", "path": "rm", "arguments": ["-f", str(fault)]}}]}))
    text = import_experiment(str(exp), Mapping_(verify={"make-file": f"test ! -e '{fault}'"}), env={}).text
    # a 1 s steady-state window instead of the default 10 s, only to keep the test short
    scenario = tmp_path / "run.yaml"
    scenario.write_text(text.replace("steady_state:\n", "steady_state:\n  window: 1s\n"))
    journal = tmp_path / "j.jsonl"
    proc = subprocess.run([sys.executable, "-m", "controlroom", "run", "--headless", "--yes", "--journal",
                           str(journal), str(scenario)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert log.read_text() == "injected\n"  # the action ran once
    assert not fault.exists()  # and its rollback undid it
    events = [json.loads(line) for line in journal.read_text().splitlines()[1:]]
    assert [e.get("verified") for e in events if e.get("type") == "fault-reverted"] == [True], events


_CHARS = [*"{}[]:,\"'- \n\t#&*!|>$%@`\\0123456789ax", "${settle}", "\u2028", "\U0001f600"]
_EDITS = st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.sampled_from(["del", "ins", "set"]),
                            st.sampled_from(_CHARS)), min_size=1, max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["everything.yaml", "paused-worker.json", "combined.json", "untranslatable.yaml"]),
       edits=_EDITS)
def test_damaged_experiments_are_refused_or_imported_and_valid(tmp_path: Path, name: str,
                                                                edits: list[tuple[float, str, str]]) -> None:
    text = list((EXP / name).read_text())
    for where, op, char in edits:
        pos = int(where * len(text))
        if op == "del":
            del text[pos:pos + 3]
        elif op == "ins":
            text.insert(pos, char)
        else:
            text[pos] = char
    path = tmp_path / name
    path.write_text("".join(text))
    mapping = read_mapping(str(EXP / f"{name.rsplit('.', 1)[0]}.map.yaml"))
    for partial in (False, True):
        try:
            result = import_experiment(str(path), mapping, partial=partial, env=ENV)
        except ExperimentError as err:
            assert err.problems
            assert not any("does not validate" in p.message for p in err.problems), err
        else:
            load_scenario_text(result.text, "again.yaml")  # what was written validates


def test_a_fifo_missing_file_or_directory_is_one_line_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert _problems(fifo) == [f"{fifo}:1:1: is not a regular file; name the experiment file"]
    assert _problems(tmp_path / "nope.json") == [f"{tmp_path}/nope.json:1:1: cannot read the experiment: No such "
                                                  "file or directory"]
    assert _problems(tmp_path)[0].startswith(f"{tmp_path}:1:1: cannot read the experiment")


def test_cli_never_writes_the_scenario_over_the_experiment(tmp_path: Path) -> None:
    exp = tmp_path / "e.json"
    original = (EXP / "combined.json").read_text()
    exp.write_text(original)
    proc = subprocess.run([sys.executable, "-m", "controlroom", "import", "chaostoolkit", str(exp), "-m",
                           str(EXP / "combined.map.yaml"), "-o", str(exp)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "is the experiment itself" in proc.stderr
    assert exp.read_text() == original

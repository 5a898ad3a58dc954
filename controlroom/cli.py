"""The command line: a thin shell over the core. Imports are lazy so `controlroom --help` starts fast.

Every error a user can cause arrives here as a ControlroomError and leaves as one
line on stderr with exit code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # lazy at run time: `controlroom --help` imports none of the core
    from controlroom.engine.planning import StepPlan
    from controlroom.scenario.model import Scenario, Target

EXIT_INPUT = 2


def _p(text: str = "", *, err: bool = False) -> None:
    print(text, file=sys.stderr if err else sys.stdout, flush=True)


# ---- commands -------------------------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    from controlroom.errors import ScenarioError
    from controlroom.scenario import load_scenario

    bad = 0
    for path in args.scenarios:
        try:
            sc = load_scenario(path)
        except ScenarioError as err:
            bad += 1
            for problem in err.problems:
                _p(str(problem), err=True)
            continue
        faults = sum(len(st.faults) for st in sc.steps)
        _p(f"{path}: ok: {sc.name} ({len(sc.steps)} steps, {faults} faults, environment {sc.environment})")
        if sc.template:
            _p(f"{path}: template: {TEMPLATE_NOTE}")
    return EXIT_INPUT if bad else 0


TEMPLATE_NOTE = ("its hosts and endpoints are placeholders (under .example): "
                 "copy it, set yours, and remove `template: true` to run it")


def cmd_plan(args: argparse.Namespace) -> int:
    from controlroom.engine.planning import plan_scenario
    from controlroom.scenario import load_scenario

    sc = load_scenario(args.scenario)
    _p(f"# {sc.name} — environment {sc.environment}; nothing below is executed")
    if sc.template:
        _p(f"# TEMPLATE: {TEMPLATE_NOTE}")
    _p(f"# hypothesis: {sc.hypothesis}")
    br = sc.blast_radius
    _p(f"# blast radius: at most {br.max_targets} target(s) at once, {br.max_duration:g}s per fault")
    _p(f"# leash: a {br.leash:g}s heartbeat window, renewed every {br.leash / 3:.3g}s while the room lives; if the room "
       f"dies or its link is cut, every fault is reverted on its target within {br.leash:g}s")
    plans = plan_scenario(sc)
    unleashed = sorted({p.fault_id for sp in plans for p in sp.faults if p.leash is None and p.revertible
                        and sc.targets[p.target].kind in ("toxiproxy",)})
    if unleashed:
        _p(f"# NO LEASH: {', '.join(unleashed)} (allowed by blast_radius.allow_unleashed): if the room dies, these "
           "stay until `controlroom recover JOURNAL` or a person removes them")
    if not args.verbose:
        _plan_summary(sc, plans)
        return 0
    for n, sp in enumerate(plans, start=1):
        step = sp.step
        dur = f", {step.duration:g}s" if step.duration else ""
        gate = "confirm" if step.confirm else "no confirmation"
        _p(f"\nstep {n} {step.id}: {step.title} ({gate}{dur})")
        if not sp.faults:
            _p("  (no fault: observe only)")
        for plan in sp.faults:
            t = sc.targets[plan.target]
            where = (t.ssh or t.url or (t.toxiproxy.api if t.toxiproxy else None)
                     or (t.gremlin.api if t.gremlin else None) or _kube_where(t) or t.kind)
            _p(f"  fault {plan.fault_id}: {plan.summary}  [target {plan.target} via {t.kind} {where}]")
            for label, actions in (("check", tuple(r.check for r in plan.requires)), ("inject", plan.inject),
                                   ("revert", plan.revert), ("verify", plan.verify)):
                for a in actions:
                    _p(f"    {label:7} {a.describe()}")
                    _print_manifest(a)
            if plan.leash:
                _p(f"    {'leash':7} {plan.leash.arm(br.leash).describe()}")
                _p(f"    {'renew':7} {plan.leash.renewal(br.leash).describe()}")
                _p(f"    {'disarm':7} {plan.leash.disarm.describe()}")
            if not plan.revertible:
                _p("    (no revert: recovery is checked instead)")
    return 0


def _print_manifest(action: object) -> None:
    """A Kubernetes action that applies a manifest: the exact manifest (before the selection pins its pods)."""
    manifest = action.arg("manifest") if hasattr(action, "arg") else None
    if not manifest:
        return
    import yaml

    _p("            manifest (labels, name and the pods chosen are filled in at injection and journaled):")
    for line in yaml.safe_dump(manifest, sort_keys=False).splitlines():
        _p(f"              {line}")


def _kube_where(t: Target) -> str:
    k = t.kubernetes
    if k is None:
        return ""
    return f"context {k.context or '(current)'}, namespace {','.join(k.all_namespaces)}, selector {k.selector}"


def _plan_summary(sc: Scenario, plans: list[StepPlan]) -> None:
    """`plan` without -v: one line per step, one per fault and target (or group of like targets) under it."""
    from controlroom.formats import group_by_target

    for n, sp in enumerate(plans, start=1):
        step = sp.step
        dur = f", {step.duration:g}s" if step.duration else ""
        gate = "confirm" if step.confirm else "no confirmation"
        what = "" if sp.faults else " — observe only"
        _p(f"step {n} {step.id}: {step.title} ({gate}{dur}){what}")
        # A fleet step (one fault on 100 hosts) is one line: faults that differ only by their target's name
        # are grouped and the names written as the scenario's ranges (h[101:200]). `plan -v` lists each one.
        rows = []
        for plan in sp.faults:
            t = sc.targets[plan.target]
            where = (t.ssh or t.url or (t.toxiproxy.api if t.toxiproxy else None)
                     or (t.gremlin.api if t.gremlin else None) or _kube_where(t) or t.kind)
            if not plan.revertible:
                guard = "no revert: recovery is checked"
            else:
                guard = ("leashed, " if plan.leash else "") + "reverted and verified"
            rows.append((plan.target, (f"{t.kind} {where}", plan.summary, guard)))
        for many, count, (where, summary, guard) in group_by_target(rows):
            times = f"{count} × " if count > 1 else ""
            _p(f"  {many} ({times}{where}): {summary} — {guard}")
    _p("\n(plan -v prints every command or request: check, inject, revert, verify, leash)")


def cmd_run(args: argparse.Namespace) -> int:
    from controlroom.errors import Problem, ScenarioError
    from controlroom.scenario import load_scenario

    sc = load_scenario(args.scenario)
    if sc.template:
        # An example for a real environment: its placeholder hosts must never be probed by mistake.
        raise ScenarioError([Problem(sc.source_path, sc.template_line, 1,
                                     f"template: true: this scenario is a template, not run; {TEMPLATE_NOTE}")])
    if any(t.kind == "kubernetes" for t in sc.targets.values()):
        from controlroom.targets.kubernetes import context_problems  # reads kubeconfig files only, no kr8s

        problems = context_problems(sc)
        if problems:
            raise ScenarioError(problems)
    _check_runtime_dir()
    from controlroom.wiring import journal_path

    journal = journal_path(args.journal, sc.name)
    if args.max_connecting is not None:  # the command line outranks the scenario's blast_radius.max_connecting
        import dataclasses

        sc = dataclasses.replace(sc, blast_radius=dataclasses.replace(sc.blast_radius,
                                                                      max_connecting=args.max_connecting))
    if not args.headless:
        from controlroom.app.entry import run_live

        return run_live(sc, journal)
    from controlroom.headless import run_headless

    return run_headless(sc, journal, yes=args.yes)


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _check_runtime_dir() -> None:
    """Refuse to start (one line, exit 2) in a runtime directory another user planted: before the TUI opens."""
    from controlroom.paths import private_sessions_dir

    private_sessions_dir()


def cmd_demo(args: argparse.Namespace) -> int:
    from controlroom.wiring import journal_path

    _check_runtime_dir()
    path = journal_path(args.journal, "demo-checkout")
    if not args.headless:
        from controlroom.app.entry import run_demo_tui

        return run_demo_tui(path)
    import asyncio
    from pathlib import Path

    from controlroom.lab.demo import run_demo_headless

    return asyncio.run(run_demo_headless(Path(path)))


def _session_journal(target: str | None, verb: str) -> str:
    """A journal file as given, or the journal of a running session by id (no argument: the only live one;
    several: they are listed, say which)."""
    from pathlib import Path

    from controlroom.engine.control import pick_session

    if target is None or not Path(target).exists():
        target = str(pick_session(target, verb=verb)["journal"])
    return target


def cmd_watch(args: argparse.Namespace) -> int:
    from controlroom.app.entry import run_watch

    return run_watch(_session_journal(args.journal, "watch"))


def cmd_serve(args: argparse.Namespace) -> int:
    from controlroom.app.serve import run_serve

    return run_serve(_session_journal(args.journal, "serve"), host=args.host, port=args.port,
                     max_viewers=args.max_viewers)


def cmd_stop(args: argparse.Namespace) -> int:
    from controlroom.engine.control import stop_session

    verdict = stop_session(args.session)
    sid = verdict["session"]
    if verdict["via"] == "signal":
        _p(f"session {sid}: control socket not answering ({verdict['why']}); sent SIGTERM to pid {verdict['pid']} "
           "(checked: your controlroom session, same process start time)")
    elif verdict["via"] == "gone":
        _p(f"session {sid}: its process ended while being stopped ({verdict['why']})")
    source = " (from its journal)" if verdict["via"] != "socket" else ""
    if verdict.get("clean"):
        _p(f"session {sid}: stopped; all faults reverted and verified clean{source}")
        return 0
    if verdict.get("detail"):
        _p(f"session {sid}: NOT confirmed clean: {verdict['detail']}")
        return 1
    names = ", ".join(verdict.get("unconfirmed", [])) or "unknown"
    _p(f"session {sid}: stopped; NOT confirmed clean{source}: {names}")
    return 1


def _ask_yes_no(question: str) -> bool:
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:
        return False


def cmd_recover(args: argparse.Namespace) -> int:
    from controlroom.engine.recover import recover

    ask = _ask_yes_no if sys.stdin.isatty() else None
    code = recover(args.journal, printer=_p, yes=args.yes, ask=ask,
                   force_finalizers=getattr(args, "force_finalizers", False))
    if args.toxiproxy_reset:
        from controlroom.engine.api_halts import journal_scenario, toxiproxy_reset

        scenario = journal_scenario(args.journal)
        if not _wide_stop_agreed(args, "POST /reset removes EVERY toxic on the scenario's Toxiproxy servers, whoever "
                                       "made them, and re-enables every proxy"):
            return 1
        code = max(code, toxiproxy_reset(scenario, _p))
    return code


def _wide_stop_agreed(args: argparse.Namespace, what: str) -> bool:
    from controlroom.errors import ControlroomError

    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise ControlroomError(f"{what}; run again with --yes to do it")
    return _ask_yes_no(f"{what}. Go ahead? [y/N] ")


def cmd_gremlin_halt(args: argparse.Namespace) -> int:
    from controlroom.engine.api_halts import gremlin_halt
    from controlroom.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    scope = "EVERY team of the Gremlin company" if args.all_teams else "every active attack of the target's team"
    if not _wide_stop_agreed(args, f"this halts {scope}, not only this room's attacks"):
        return 1
    return gremlin_halt(scenario, args.target, args.all_teams, args.reason, _p)


def cmd_status(args: argparse.Namespace) -> int:
    from controlroom.engine.registry import clean_sessions, running_sessions

    if args.clean:
        for s in clean_sessions():
            how = "recovered" if s.get("recovered") else "ended"
            _p(f"removed {s['session']}  {s.get('scenario', '?')}  ({how}; journal {s['journal']})")
    sessions = running_sessions()
    if not sessions:
        _p("no sessions running on this machine")
        return 0
    for s in sessions:
        recovered = s.get("recovered") if isinstance(s.get("recovered"), dict) else None
        if s["alive"]:
            state = "running"
        elif recovered:
            state = f"gone, recovered {recovered.get('at', '')} ({recovered.get('verdict', '')}); status --clean removes it"
        elif s["ended"]:
            state = "gone after it ended; status --clean removes it"
        else:
            state = f"CRASHED (run: controlroom recover {s['journal']})"
        if s["alive"]:
            try:
                import asyncio
                import json

                from controlroom.engine.control import ask

                lines = asyncio.run(ask(s["socket"], "status", 2.0, pid=s["pid"]))
                state = json.loads(lines[-1]).get("state", state) if lines else state
            except Exception:  # a hung or foreign socket: say so, `stop` knows the way round it
                state = "running (control socket not answering)"
        _p(f"{s['session']}  pid {s['pid']}  {s['scenario']}  {state}  journal {s['journal']}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from controlroom.importers.cli import run

    return run(args)


def cmd_export(args: argparse.Namespace) -> int:
    from controlroom.exporters.cli import run

    return run(args)


def cmd_list(args: argparse.Namespace) -> int:
    from controlroom.scenario.listing import list_scenarios

    rows = list_scenarios(args.folder)
    if not rows:
        _p(f"{args.folder}: no *.yaml scenarios")
        return 0
    width = max(len(str(r["path"]).rsplit("/", 1)[-1]) for r in rows)
    for r in rows:
        name = str(r["path"]).rsplit("/", 1)[-1]
        if r.get("error"):
            _p(f"{name:<{width}}  INVALID ({r['problems']} problems): {r['error']}")
            continue
        faults = ",".join(r.get("faults") or []) or "-"
        _p(f"{name:<{width}}  {r['name']}  env={r['environment']}  steps={r['steps']}  faults={faults}")
        needed = "; ".join(r.get("needs") or []) or "nothing: runs as it is"
        _p(f"{'':<{width}}  needs: {needed}")
    return 0


def _delegate(module: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        import importlib

        main: Callable[[list[str]], int] = importlib.import_module(module).main
        return main(args.rest)

    return run


def cmd_replay(args: argparse.Namespace) -> int:
    from controlroom.app.entry import run_replay

    return run_replay(args.journal, speed=args.speed)


# ---- parser ---------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from controlroom import __version__

    p = argparse.ArgumentParser(
        prog="controlroom",
        description="A terminal control room for chaos-engineering game days.",
        epilog="Exit codes: 0 hypothesis held, 1 hypothesis failed or rolled back, 2 invalid input or pre-flight failed.",
    )
    p.add_argument("--version", action="version", version=f"controlroom {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, fn: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(fn=fn)
        return sp

    sp = add("demo", cmd_demo, "embedded demo: sample service + load + scenario, no root, no SSH")
    sp.add_argument("--headless", action="store_true", help="line-mode run instead of the TUI")
    sp.add_argument("--journal", help="journal file (default: under the XDG data dir)")

    sp = add("run", cmd_run, "run a scenario in the control room (TUI); --headless --yes for CI")
    sp.add_argument("scenario")
    sp.add_argument("--headless", action="store_true", help="no TUI: progress lines on stdout")
    sp.add_argument("--yes", action="store_true", help="confirm every step without asking (CI)")
    sp.add_argument("--journal", help="journal file (default: under the XDG data dir)")
    sp.add_argument("--max-connecting", type=_at_least_one, metavar="N",
                    help="SSH connections set up at once (default: the scenario's blast_radius.max_connecting, "
                         "else 8 per CPU, 4 to 64)")

    sp = add("validate", cmd_validate, "check scenarios: schema and safety rules; FILE:LINE:COL: message")
    sp.add_argument("scenarios", nargs="+", metavar="SCENARIO")

    sp = add("plan", cmd_plan, "dry run: one line per step and target; -v: every command, inject and revert")
    sp.add_argument("scenario")
    sp.add_argument("-v", "--verbose", action="store_true",
                    help="every command or request per target: check, inject, revert, verify, leash")

    sp = add("watch", cmd_watch, "read-only live view of a running session (journal file or session id)")
    sp.add_argument("journal", metavar="JOURNAL|SESSION", nargs="?",
                    help="default: the only running session (several: they are listed)")

    sp = add("serve", cmd_serve, "the read-only view in a browser, for spectators outside the tmux session")
    sp.add_argument("journal", metavar="SESSION|JOURNAL", nargs="?",
                    help="default: the only running session (several: they are listed)")
    sp.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default 127.0.0.1, this machine only; any other address is "
                         "warned about: the page has no login)")
    sp.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free port)")
    # Each spectator is a Python process of its own (docs/tui.md has its memory): a cap keeps a page left open on
    # a big screen, or reloaded in a loop, from starving the facilitator's room of memory on the same machine.
    sp.add_argument("--max-viewers", type=int, default=20,
                    help="spectators at once, each a process of its own (default 20)")

    sp = add("replay", cmd_replay, "post-mortem replay of a journal in the same panes")
    sp.add_argument("journal")
    sp.add_argument("--speed", type=float, default=1.0, choices=[1.0, 4.0, 16.0, 60.0],
                    help="playback speed: 1, 4, 16 or 60 (+ and - change it while playing)")

    sp = add("report", _delegate(DELEGATED["report"]), "post-mortem report of a journal: md | html | json")
    sp.add_argument("rest", nargs=argparse.REMAINDER)

    sp = add("history", _delegate(DELEGATED["history"]), "sessions in the journal folder: outcomes, score trends, quality figures per service (text | json | csv)")
    sp.add_argument("rest", nargs=argparse.REMAINDER)

    sp = add("stop", cmd_stop, "emergency stop of a running session from another terminal")
    sp.add_argument("session", nargs="?", help="session id (optional when only one runs)")

    sp = add("recover", cmd_recover, "revert anything a crashed session left active; idempotent")
    sp.add_argument("journal")
    sp.add_argument("--yes", action="store_true",
                    help="run `command` reverts read from the journal without asking (they are listed first)")
    sp.add_argument("--force-finalizers", action="store_true",
                    help="Kubernetes: remove Chaos Mesh objects whose deletion never completes WITHOUT recovery "
                         "(the fault may persist; never reported clean)")

    sp.add_argument("--toxiproxy-reset", action="store_true",
                    help="then POST /reset on the scenario's Toxiproxy servers: removes EVERY toxic there, whoever "
                         "made it (asks first, or --yes)")

    sp = add("gremlin-halt", cmd_gremlin_halt,
             "halt every active Gremlin attack of a target's team (POST /halts); the facilitator's wide stop")
    sp.add_argument("scenario")
    sp.add_argument("--target", help="the gremlin target whose team is halted (default: every gremlin target)")
    sp.add_argument("--all-teams", action="store_true",
                    help="halt the whole company's attacks (the target must set allow_platform_halt: true)")
    sp.add_argument("--reason", default="halted from the controlroom", help="the halt's reason, as Gremlin shows it")
    sp.add_argument("--yes", action="store_true", help="do not ask")

    sp = add("list", cmd_list, "the scenarios in a folder: name, environment, steps, faults")
    sp.add_argument("folder", nargs="?", default="scenarios")

    sp = add("import", cmd_import, "translate another tool's experiment into a scenario (chaostoolkit)")
    from controlroom.importers.cli import add_parser as add_import_parser

    add_import_parser(sp)

    sp = add("export", cmd_export, "write a Kubernetes scenario for another tool (chaos-mesh)")
    from controlroom.exporters.cli import add_parser as add_export_parser

    add_export_parser(sp)

    sp = add("status", cmd_status, "running sessions on this machine and their state")
    sp.add_argument("--clean", action="store_true",
                    help="remove the entries of sessions that are gone and were recovered (or had ended)")

    from controlroom.schedule_cli import add_parsers as add_schedule_parsers

    add_schedule_parsers(add)

    sp = add("lab", _delegate(DELEGATED["lab"]), "local rehearsal lab: hosts in network namespaces (root)")
    sp.add_argument("rest", nargs=argparse.REMAINDER, metavar="up|down|status ...")
    return p


# Commands whose own argparse reads everything after the command word (options included).
DELEGATED = {"report": "controlroom.report.cli", "history": "controlroom.history", "lab": "controlroom.lab.cli"}


def main(argv: list[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()  # a reader that went away shows here, not as "Exception ignored" at exit
        return code
    except BrokenPipeError:
        # `controlroom lab up | head -1`: the reader stopped reading. What the command did stands (the lab is
        # up: it prints only once it is); stdout goes to /dev/null so the exit flush cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 1


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        from controlroom.errors import ControlroomError

        try:
            return _delegate(DELEGATED[argv[0]])(argparse.Namespace(rest=argv[1:]))
        except ControlroomError as err:
            _p(f"controlroom: {err}", err=True)
            return err.exit_code
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "fn", None):
        parser.print_help()
        return EXIT_INPUT
    from controlroom.errors import ControlroomError, ScenarioError

    try:
        return int(args.fn(args))
    except ScenarioError as err:
        for problem in err.problems:  # one located line per problem
            _p(str(problem), err=True)
        return err.exit_code
    except ControlroomError as err:
        _p(f"controlroom: {err}", err=True)
        return err.exit_code
    except KeyboardInterrupt:
        _p("controlroom: interrupted", err=True)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

"""Mutation testing with named mutants: deliberate bugs in the safety code, each of which the fast tests must catch.

    make mutants                          # every mutant, one at a time
    .venv/bin/python scripts/mutants.py --list
    .venv/bin/python scripts/mutants.py --only rollback-sequential hold-strict
    .venv/bin/python scripts/mutants.py --jobs 2 --json mutants.json

Each mutant is a small edit (exact text -> replacement) to one file under controlroom/, a line saying which rule
it breaks, and the fast tests that must fail because of it. The tree is copied once to a temporary directory; each
mutant is applied to the COPY, its tests run there (the copy's `controlroom` is the one imported, checked before
anything runs), and the copy's file is restored. The real source is never written to, so an interrupted run
leaves nothing behind. A mutant whose original text is no longer found exactly once stops the run before any
test, naming it: the list is kept true as the code moves.

Why named mutants rather than mutmut or cosmic-ray: a tool that mutates every operator of ~6,000 lines of
safety code would run the fast tests thousands of times (hours on the project's 2 cores) and bury the few
mutants that matter under `"a" -> "XXaXX"` in log messages, most of them equivalent. Each mutant here is a
regression someone could write — the kinds issue 10 found and their kin — so a survivor is a real gap, or an
equivalence worth writing down (`equivalent=`); and each runs only the tests that guard its rule, so the whole
list takes minutes. The cost: it finds only the bugs someone thought of. docs/testing.md keeps the results.

Exit status: 0 when every mutant was killed (and every equivalent one survived), 1 otherwise, 2 on a broken list.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "screenshots", "journals"}
TEST_TIMEOUT = 60  # seconds per test inside a mutant run (pyproject's 180 is for the lab): a hang is a kill
RUN_TIMEOUT = 600  # seconds for one mutant's whole subset


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str
    edits: tuple[tuple[str, str], ...]  # (exact original text, replacement), each found exactly once
    rule: str  # what the bug breaks, in one line
    tests: tuple[str, ...]  # pytest arguments: the fast tests that guard the rule
    category: str = ""
    equivalent: str = ""  # why this mutant cannot be told apart from the original (it is expected to survive)


def m(id: str, file: str, original: str, replacement: str, rule: str, *tests: str, category: str,
      equivalent: str = "", more: tuple[tuple[str, str], ...] = ()) -> Mutant:
    return Mutant(id, file, ((original, replacement), *more), rule, tests, category, equivalent)


NET = "controlroom/faults/net.py"
TC = "controlroom/faults/net_tc.py"
NFT = "controlroom/faults/net_nft.py"
STRESS = "controlroom/faults/stress.py"
SYSTEM = "controlroom/faults/system.py"
LEASH = "controlroom/faults/leash.py"
ROLLBACK = "controlroom/engine/rollback.py"
REVERT = "controlroom/engine/revert.py"  # the one revert rule: rollback and recover
RULES = "tests/faults/test_fault_rules.py"
ENGINE_RULES = "tests/engine/test_rollback_rules.py"
UNDO = f"{RULES}::test_every_undo_path_removes_exactly_what_the_inject_made"
CC = f"{RULES}::test_the_control_channel_is_accepted_before_any_drop_in_both_chains"

MUTANTS: list[Mutant] = [
    # -- the control channel is never cut (rule 1) ----------------------------------------------------------------
    m("cc-output-accept-removed", NFT,
      "'    oif \"lo\" accept', \"    $cr_out\", ", "'    oif \"lo\" accept', ",
      "nft output chain without the control channel's accept: the room drops its own SSH replies (issue 10 #1)",
      CC, category="control channel"),
    m("cc-input-accept-after-drops", NFT,
      "\"    $cr_in\", *(f\"    {r}\" for r in input_rules), \"  }\",",
      "*(f\"    {r}\" for r in input_rules), \"    $cr_in\", \"  }\",",
      "the control channel's accept comes after the drops in the input chain", CC, category="control channel"),
    m("cc-output-accept-wrong-direction", NFT,
      "'cr_out=\"$cr_f daddr $cr_cip tcp sport $cr_sport accept\"; fi'",
      "'cr_out=\"$cr_f saddr $cr_cip tcp dport $cr_sport accept\"; fi'",
      "the output accept matches packets to sshd, not sshd's replies to the room", CC, category="control channel"),
    m("cc-client-is-server-address", NET, "cr_cip=${1:-}", "cr_cip=${3:-}",
      "the exemption names this host's own address instead of the control room's", CC,
      "tests/faults/test_host_commands.py", category="control channel"),
    m("cc-v4-mapped-not-unwrapped", NET,
      "'case \"$cr_cip\" in ::ffff:*.*) cr_cip=${cr_cip#::ffff:};; esac; '", "''",
      "an IPv4 room on a dual-stack sshd gets an ip6 accept that never matches its packets", CC,
      category="control channel"),
    m("cc-tc-exempt-into-faulted-class", TC,
      "f'match ip sport \"$cr_sport\" 0xffff flowid {h}:10 '", "f'match ip sport \"$cr_sport\" 0xffff flowid {h}:20 '",
      "tc faults send the control channel into the throttled class",
      "tests/faults/test_host_commands.py", f"{RULES}::test_tc_faults_exempt_the_control_channel_and_confine_peers_to_the_faulted_class",
      category="control channel"),
    m("tc-peers-default-class-faulted", TC, 'default = "20" if whole_interface else "10"', 'default = "20"',
      "a tc fault on named peers throttles every other peer too (blast radius)",
      f"{RULES}::test_tc_faults_exempt_the_control_channel_and_confine_peers_to_the_faulted_class",
      category="control channel"),
    # -- every undo removes what the inject made (rule 2) --------------------------------------------------------
    m("revert-nft-wrong-family", NFT, 'NFT_REVERT = f"nft delete table inet {NFT_TABLE}',
      'NFT_REVERT = f"nft delete table ip {NFT_TABLE}',
      "the nft revert deletes `table ip` while the inject made `table inet` (issue 10 #2)",
      UNDO, "-k", "partition or blackhole or packet-loss-nft", category="revert/inject mismatch"),
    m("verify-nft-wrong-family", NFT, "then if nft list table inet {NFT_TABLE} >/dev/null 2>&1; then",
      "then if nft list table ip {NFT_TABLE} >/dev/null 2>&1; then",
      "the nft verify looks at another table: a fault still there is called clean",
      UNDO, "-k", "partition-fused", category="revert/inject mismatch"),
    m("revert-tc-wrong-handle", TC, "grep -q ' {TC_HANDLE}: '; then tc qdisc del",
      "grep -q ' c0df: '; then tc qdisc del",
      "the tc revert looks for the leaf's handle, never finds the root it made, and deletes nothing",
      UNDO, "-k", "bandwidth or latency", category="revert/inject mismatch"),
    m("revert-stress-kills-leader-only", STRESS,
      "'  kill -s TERM -- \"-$cr_g\" 2>/dev/null; i=0\\n'", "'  kill -s TERM -- \"$cr_g\" 2>/dev/null; i=0\\n'",
      "the stress revert signals the leader, not its process group: the workers keep running",
      UNDO, "-k", "stress", category="revert/inject mismatch",
      more=(("f'  kill -s KILL -- \"-$cr_g\" 2>/dev/null; rm -f {pidf}; fi; exit 0')",
             "f'  kill -s KILL -- \"$cr_g\" 2>/dev/null; rm -f {pidf}; fi; exit 0')"),)),
    m("revert-diskfill-without-state-dir", SYSTEM,
      'revert = f"{STATE_DIR}\\nif [ -e {marker} ]; then {remove}; fi; exit 0"',
      'revert = f"if [ -e {marker} ]; then {remove}; fi; exit 0"',
      "the disk-fill revert looks for its marker in an unset state dir and removes nothing",
      f"{RULES}::test_every_script_that_uses_the_state_dir_sets_it_first", UNDO, "-k", "disk-fill",
      category="revert/inject mismatch"),
    m("revert-service-try-restart", SYSTEM, 'sh("systemctl", "start", "--", unit)',
      'sh("systemctl", "try-restart", "--", unit)',
      "service-stop's revert only restarts a running unit: the stopped one stays stopped",
      UNDO, "-k", "service-stop", category="revert/inject mismatch"),
    m("guard-undo-without-revert", "controlroom/faults/inflight.py",
      "return (guard_stop(fault_id, sudo), *revert, clear_run(fault_id, sudo))",
      "return (guard_stop(fault_id, sudo), clear_run(fault_id, sudo))",
      "the leash guard fires but runs no revert", UNDO, "-k", "guard", category="revert/inject mismatch"),
    m("pause-guard-checks-instead-of-resuming", "controlroom/faults/local.py",
      "guard_undo(ctx.fault_id, (Shell(resume, sudo=sudo),), sudo)", "guard_undo(ctx.fault_id, (verify,), sudo)",
      "process-pause's leash guard verifies instead of resuming: a dead room leaves the process stopped",
      UNDO, "-k", "process-pause and guard", category="revert/inject mismatch"),
    m("recover-counts-failed-revert-as-done", "controlroom/engine/recover.py",
      'elif e.type == "fault-reverted" and e.data.get("verified"):', 'elif e.type.startswith("fault-revert"):',
      "`recover` skips a fault whose revert failed: it stays on the host",
      "tests/engine/test_recover_rules.py", category="revert/inject mismatch"),
    m("recover-without-stop-inject", "controlroom/engine/recover.py",
      "end_inject=end_inject if plan.stop_inject is not None else None", "end_inject=None",
      "`recover` reverts without ending an inject the crashed room left running: it lands after the verify",
      "tests/cli/test_inflight_local.py::test_recover_after_sigkill_mid_injection_on_a_local_target_stops_it_first",
      category="revert/inject mismatch"),
    # -- the rollback covers every announced fault (rule 3) ------------------------------------------------------
    m("rollback-only-active-faults", ROLLBACK,
      "afs = list(self.active.values())\n        with self.ctx.group_commit():",
      "afs = [af for af in self.active.values() if af.state == \"active\"]\n        with self.ctx.group_commit():",
      "an e-stop skips faults still being injected (issue 10 #3)",
      ENGINE_RULES, "-k", "mid_inject", category="rollback scope"),
    m("step-revert-skips-failed-injects", ROLLBACK,
      "afs = [af for af in self.active.values() if af.step == step_id]",
      "afs = [af for af in self.active.values() if af.step == step_id and af.state == \"active\"]",
      "a fault whose inject failed half-way is not reverted at the step's end", ENGINE_RULES, "-k", "half_way",
      category="rollback scope"),
    m("end-inject-never-stops", ROLLBACK,
      "if plan.stop_inject is not None:\n            stop = await self.ctx.run_on(plan.target, plan.stop_inject)",
      "if False:\n            stop = await self.ctx.run_on(plan.target, plan.stop_inject)",
      "a stop mid-inject reverts around the inject instead of ending it first",
      "tests/engine/test_inflight.py", category="in-flight stop"),
    m("inject-sent-after-stop", ROLLBACK, "if af.stop_asked:  # checked before every send",
      "if False:  # checked before every send",
      "an inject is still sent after the stop came", "tests/engine/test_inflight.py", category="in-flight stop"),
    m("stop-without-tombstone", "controlroom/faults/inflight.py",
      "then true > \"$cr_run/stopped\" || exit 1; echo \"$cr_how\"; exit 0; fi\\n'",
      "then rmdir \"$cr_run\"; echo \"$cr_how\"; exit 0; fi\\n'",
      "a stop that comes before the inject leaves no tombstone: the late inject runs after the revert",
      f"{RULES}::test_a_stop_before_the_inject_leaves_a_tombstone_and_the_late_inject_runs_nothing",
      category="in-flight stop"),
    m("stop-kills-leader-only", "controlroom/faults/inflight.py",
      "'      kill -s KILL -- \"-$cr_pg\" 2>/dev/null; cr_how=killed; j=0\\n'",
      "'      kill -s KILL -- \"$cr_pg\" 2>/dev/null; cr_how=killed; j=0\\n'",
      "a stop kills the inject's leader but not its group: its children go on and land",
      f"{RULES}::test_a_guard_or_a_stop_mid_inject_ends_it_before_reverting", category="in-flight stop"),
    m("guard-does-not-end-inject", "controlroom/faults/inflight.py",
      "return (guard_stop(fault_id, sudo), *revert, clear_run(fault_id, sudo))",
      "return (*revert, clear_run(fault_id, sudo))",
      "a guard that fires mid-inject reverts around it: the inject lands after the guard is gone",
      f"{RULES}::test_a_guard_or_a_stop_mid_inject_ends_it_before_reverting", category="in-flight stop"),
    # -- reverts in parallel (rule 4) -----------------------------------------------------------------------------
    m("rollback-sequential", ROLLBACK,
      "            await asyncio.gather(*(self._revert_one(af) for af in afs))\n            self.ctx.emit(\"rollback-finished\"",
      "            for af in afs:\n                await self._revert_one(af)\n            self.ctx.emit(\"rollback-finished\"",
      "the rollback reverts one target after another (issue 10 #4)",
      ENGINE_RULES, "-k", "one_reverts_time or unreachable", category="parallelism"),
    m("step-revert-sequential", ROLLBACK,
      "if af.step == step_id]\n        await asyncio.gather(*(self._revert_one(af) for af in afs))",
      "if af.step == step_id]\n        for af in afs:\n            await self._revert_one(af)",
      "the end of a step reverts its targets one after another", ENGINE_RULES, "-k", "end_of_a_step",
      category="parallelism"),
    # -- the injection record is durable first (rule 5) ------------------------------------------------------------
    m("journal-no-per-event-fsync", "controlroom/engine/session.py",
      "self._writer.append(event, sync=self._group_commit == 0)", "self._writer.append(event, sync=False)",
      "events are fsync'd only at group commits: the injection record may be lost in a crash (issue 10 #5)",
      ENGINE_RULES, "-k", "fsynced", category="fsync order"),
    m("writer-never-fsyncs", "controlroom/journal/writer.py",
      "        if self._fsync and sync:\n            os.fsync(self._fd)", "        if self._fsync and sync:\n            pass",
      "the journal writer skips its per-line fsync", ENGINE_RULES, "-k", "fsynced", category="fsync order"),
    # -- the stop condition's hold --------------------------------------------------------------------------------
    m("hold-strict", "controlroom/engine/monitor.py", "if now - since >= self.hold:", "if now - since > self.hold:",
      "a breach held exactly `for:` trips one sample late", ENGINE_RULES, "-k", "for_time or add_up",
      category="hold comparison"),
    m("hold-blips-add-up", "controlroom/engine/monitor.py",
      "self._true_since.pop(key, None)", "self._true_since.get(key, None)",
      "short breaches add up to the hold: a healthy sample does not reset it", ENGINE_RULES, "-k", "for_time or add_up",
      category="hold comparison"),
    m("condition-gt-is-ge", "controlroom/metrics/conditions.py", '">": operator.gt,', '">": operator.ge,',
      "`p99_ms > 800` trips at exactly 800", "tests/scenario/test_conditions.py", "tests/metrics/test_steady.py",
      category="hold comparison"),
    m("condition-infinite-threshold", "controlroom/metrics/conditions.py", "if not math.isfinite(threshold):",
      "if False:", "`a < 1e999` is accepted: a stop condition that can never trip", "tests/scenario/test_conditions.py",
      category="validation"),
    # -- quoting and validation ------------------------------------------------------------------------------------
    m("quote-nothing", "controlroom/faults/shell.py", "return shlex.quote(str(value))", "return str(value)",
      "values reach the shell unquoted", "tests/faults/test_host_commands.py", category="quoting"),
    m("quote-tc-interface-dropped", TC,
      "return f\"if tc qdisc show dev {q(dev)} root 2>/dev/null | grep -q ' {TC_HANDLE}: '; then tc qdisc del dev {q(dev)} root",
      "return f\"if tc qdisc show dev {dev} root 2>/dev/null | grep -q ' {TC_HANDLE}: '; then tc qdisc del dev {dev} root",
      "the tc revert's interface is not quoted", "tests/faults/test_host_commands.py", UNDO, "-k", "bandwidth or latency",
      category="quoting",
      equivalent="interface() admits only [A-Za-z0-9_.:-]{1,15}: no character of it is special to sh, so the "
                 "quoted and the bare word are the same argument"),
    m("quote-fill-path-dropped", SYSTEM, "    p = q(path)\n", "    p = path\n",
      "the disk-fill path is not quoted", "tests/faults/test_host_commands.py", UNDO, "-k", "disk-fill",
      category="quoting",
      equivalent="abs_path() admits only /[A-Za-z0-9_./-]: no character special to sh, and a leading '/' means it "
                 "is never read as an option"),
    m("iface-match-not-fullmatch", "controlroom/faults/shell.py", "if not _IFACE_RE.fullmatch(name)",
      "if not _IFACE_RE.match(name)", "`eth0;reboot` passes as an interface name",
      "tests/faults/test_host_commands.py", "tests/security/test_validation.py", category="validation regexes"),
    m("path-allows-space", "controlroom/faults/shell.py", 'r"/[A-Za-z0-9_./-]{0,4095}"', 'r"/[A-Za-z0-9_./ -]{0,4095}"',
      "a path with a space passes validation", "tests/faults/test_host_commands.py", "tests/security/test_validation.py",
      category="validation regexes"),
    m("path-allows-dotdot", "controlroom/faults/shell.py",
      'if not _SAFE_PATH_RE.fullmatch(value) or "/../" in value + "/" or value.endswith("/.."):',
      "if not _SAFE_PATH_RE.fullmatch(value):", "`/tmp/../etc/passwd` passes as a fill path",
      "tests/faults/test_host_commands.py", "tests/security/test_validation.py", category="validation regexes"),
    m("unit-allows-option", "controlroom/faults/shell.py",
      'if not _UNIT_RE.fullmatch(value) or value.startswith("-"):', "if not _UNIT_RE.fullmatch(value):",
      "`--now` passes as a unit name and reaches systemctl as an option", "tests/faults/test_host_commands.py",
      category="validation regexes"),
    m("user-match-not-fullmatch", "controlroom/faults/shell.py", "if not _USER_RE.fullmatch(value):",
      "if not _USER_RE.match(value):", "`www-data;reboot` passes as a user name",
      "tests/security/test_validation.py", "tests/targets/test_local_faults.py", category="validation regexes"),
    m("environment-not-checked", "controlroom/scenario/validate.py",
      "if environment not in blast.allowed_environments:", "if False:",
      "a scenario runs in an environment its blast radius does not allow", "tests/scenario/test_validate.py",
      "tests/scenario/test_examples.py", category="validation"),
    m("leash-upper-bound-unchecked", "controlroom/scenario/validate.py", "if not MIN_LEASH <= seconds <= MAX_LEASH:",
      "if not MIN_LEASH <= seconds:", "an hour-long leash is accepted: a dead room leaves its faults for an hour",
      "tests/scenario/test_validate.py", category="validation"),
    m("preflight-environment-unchecked", "controlroom/engine/preflight.py",
      "ok = sc.environment in sc.blast_radius.allowed_environments", "ok = True",
      "the engine runs a scenario (built or edited in code) in an environment it does not allow",
      ENGINE_RULES, "-k", "environment", category="validation"),
    m("runtime-blast-radius-off-by-one", "controlroom/engine/session.py", "if len(targets) > br.max_targets:",
      "if len(targets) > br.max_targets + 1:", "one target more than max_targets is faulted",
      "tests/engine/test_session.py", "-k", "blast_radius", category="validation"),
    # -- the leash: armed for the window, renewed, never resurrected ----------------------------------------------
    m("leash-renewal-restarts-guard", LEASH,
      "return Leash(arm=arm, disarm=Shell(disarm, sudo=sudo), renew=renew, gone_status=(LEASH_GONE_EXIT,))",
      "return Leash(arm=arm, disarm=Shell(disarm, sudo=sudo), renew=None, gone_status=(LEASH_GONE_EXIT,))",
      "a renewal re-arms the guard: a leash that fired is resurrected and the room never hears of it",
      "tests/faults/test_host_commands.py", "-k", "renewal", category="leash renew/arm"),
    m("leash-guard-known-by-pid-alone", LEASH, """f'{_STARTTIME} && [ "$cr_s" = "$cr_t" ]; }} 2>/dev/null')""",
      """f'{_STARTTIME} && [ -n "$cr_s" ]; }} 2>/dev/null')""",
      "a recycled pid held by another fault's guard is taken for this fault's guard: killed by a disarm, "
      "trusted by an arm", "tests/faults/test_guard_identity.py", category="leash renew/arm"),
    m("inflight-wrapper-drops-renew", "controlroom/faults/inflight.py", "leash = replace(leash, disarm=",
      "leash = type(leash)(arm=leash.arm, disarm=",
      "the in-flight wrapper rebuilds the leash without its renewal (found merging issue 9)",
      "tests/faults/test_host_commands.py", "-k", "renewal", category="leash renew/arm"),
    m("leash-armed-for-the-step", ROLLBACK, "leash_s = self.leash_window",
      "leash_s = duration + self.leash_window",
      "the leash is armed for the whole step: a room that dies leaves its faults for the step, not the window",
      ENGINE_RULES, "-k", "armed_for", category="leash renew/arm"),
    m("heartbeat-period-is-window", "controlroom/engine/heartbeat.py", "return self.window / 3", "return self.window",
      "the heartbeat renews once a window: every renewal races the guard's deadline", "tests/engine/test_heartbeat.py",
      category="leash renew/arm"),
    m("heartbeat-skips-injecting", "controlroom/engine/heartbeat.py",
      "if af.leashed and af.plan.leash is not None:",
      "if af.leashed and af.state == \"active\" and af.plan.leash is not None:",
      "faults still being injected are not renewed: a slow inject outlives its leash",
      "tests/engine/test_heartbeat.py", category="leash renew/arm"),
    m("leash-fired-ignored", "controlroom/engine/heartbeat.py", "if plan.leash.fired(res):", "if False:",
      "a renewal that finds the guard gone is taken for a lost link: no rollback, no verify",
      "tests/engine/test_heartbeat.py", category="leash renew/arm"),
    m("lost-link-is-fired", "controlroom/faults/plan.py",
      "return not result.ok and not result.error and result.status in self.gone_status", "return not result.ok",
      "a renewal that could not get through is taken for a guard that fired (leash-expired, not target-lost)",
      ENGINE_RULES, "-k", "renewal", category="leash renew/arm"),
    m("batched-renewal-drops-timed-out", "controlroom/engine/heartbeat.py",
      "elapsed=result.elapsed, timed_out=result.timed_out)", "elapsed=result.elapsed)",
      "a batched renewal that timed out reads as refused: one slow round stops the session (found by issue 10)",
      ENGINE_RULES, "-k", "renewal", category="leash renew/arm"),
    m("fused-disarm-before-verify", REVERT, 'script = f"{revert}if {verify}\\nthen\\n{disarm}true\\nelse\\nfalse\\nfi"',
      'script = f"{revert}{disarm}if {verify}\\nthen\\ntrue\\nelse\\nfalse\\nfi"',
      "the leash is disarmed before the revert is verified", "tests/engine/test_fused_revert.py",
      category="leash renew/arm"),
    m("stepwise-disarm-unverified", REVERT, "if verified.ok and plan.leash is not None:",
      "if plan.leash is not None:", "the step-by-step revert disarms the leash of a fault it could not verify gone",
      "tests/engine/test_session.py", "-k", "cannot_be_verified", category="leash renew/arm"),
    # -- host claims ---------------------------------------------------------------------------------------------
    m("claim-release-anyones", "controlroom/faults/claim.py",
      "f'if [ \"$cr_cs\" = {q(safe(session))} ]; then rm -f \"$crd/claim\"; fi; exit 0')",
      "f'rm -f \"$crd/claim\"; exit 0')", "a release removes another room's claim",
      f"{RULES}::test_a_claim_is_refused_to_another_room_and_released_only_by_its_own", category="claim release"),
    m("claim-live-taken-over", "controlroom/faults/claim.py", "'  if [ \"$cr_ce\" -gt \"$cr_now\" ]; then",
      "'  if [ \"$cr_ce\" -lt \"$cr_now\" ]; then", "a live claim is taken over as if stale",
      f"{RULES}::test_a_claim_is_refused_to_another_room_and_released_only_by_its_own", category="claim release"),
    m("claims-released-on-unconfirmed-hosts", "controlroom/engine/heartbeat.py",
      "releasing = {t: sudo for t, sudo in self.claims.items() if t not in unconfirmed}",
      "releasing = dict(self.claims)",
      "a host whose fault is unconfirmed is released: the next room starts on a host that is not clean",
      ENGINE_RULES, "-k", "keeps_its_claim", category="claim release"),
    # -- a journal that cannot be written ------------------------------------------------------------------------
    m("journal-failure-no-stop", "controlroom/engine/session.py",
      "        if broke:\n            self._stop_for_journal()", "        if broke:\n            pass",
      "a journal write that fails does not stop the session", "tests/engine/test_journal_failure.py",
      category="journal-failure rollback"),
    m("inject-after-unrecorded-announcement", ROLLBACK, "        if self.ctx.stopping():\n            # A stop came",
      "        if False:\n            # A stop came",
      "an injection whose `fault-injecting` could not be written is sent anyway",
      "tests/engine/test_journal_failure.py", category="journal-failure rollback"),
    m("group-commit-failure-ignored", "controlroom/engine/session.py",
      "                except OSError as err:\n                    self._journal_broken(err)\n                    self._stop_for_journal()",
      "                except OSError:\n                    pass",
      "an fsync that fails at a group commit goes unnoticed: the rollback's records may be lost without a word",
      ENGINE_RULES, "-k", "fails_once", category="journal-failure rollback"),
    # -- telemetry -------------------------------------------------------------------------------------------------
    m("lost-telemetry-no-rollback", "controlroom/engine/monitor.py",
      "if reason is not None and self.rollback.active and not self.ctx.stopping():",
      "if reason is not None and not self.rollback.active and not self.ctx.stopping():",
      "lost telemetry with policy rollback (or pause) leaves the faults in while the room flies blind",
      "tests/engine/test_session.py", "tests/engine/test_lost_telemetry.py", "-k", "telemetry", category="telemetry"),
    m("lost-after-strict", "controlroom/metrics/telemetry.py", "if silent >= self.lost_after:",
      "if silent > self.lost_after:", "a source silent for exactly lost_after is not lost yet",
      "tests/metrics/test_telemetry.py", category="telemetry"),
    # -- liveness, files -------------------------------------------------------------------------------------------
    m("pid-reuse-trusted", "controlroom/engine/liveness.py", "return now == started", "return True",
      "a reused pid is taken for the live session: `recover` refuses, `stop` signals a stranger",
      "tests/cli/test_stop_fallback.py", "-k", "reused", category="liveness"),
    m("zombie-taken-for-running", "controlroom/engine/liveness.py", """if not rest or rest[0] in (b"Z", b"X"):""",
      "if not rest:", "a room killed with SIGKILL and not yet collected is \"still running\": recover refuses it",
      "tests/engine/test_liveness_zombie.py", category="liveness"),
    m("signal-another-users-process", "controlroom/engine/liveness.py", "if uid != os.getuid():", "if False:",
      "`stop` would SIGTERM a process of another user", "tests/security/test_private_files.py",
      category="liveness"),
    m("safefile-follows-symlinks", "controlroom/safefile.py",
      "_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC",
      "_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC",
      "the temp file is opened through a planted symlink: the write lands in another file",
      "tests/security/test_private_files.py", category="files"),
    m("private-dir-accepts-group-writable", "controlroom/paths.py", "if mode & 0o022:", "if mode & 0o002:",
      "a runtime or journal directory the group can write is trusted", "tests/security/test_private_files.py",
      category="files"),
    m("private-dir-accepts-others-dir", "controlroom/paths.py", "if st.st_uid != me:", "if False:",
      "a directory another user made (and can fill) is trusted", "tests/security/test_private_files.py",
      category="files"),
    # -- API backends (issue 15): Toxiproxy and Gremlin ----------------------------------------------------------
    m("toxiproxy-clobber-unchecked", "controlroom/faults/toxiproxy.py",
      "                                  judge=_not_ours(ctx.session)) for p in ref.proxies)",
      "                                  judge=None) for p in ref.proxies)",
      "pre-flight lets a session inject on a proxy that carries another session's toxic",
      "tests/apis/test_toxiproxy_faults.py", "-k", "another_sessions", category="API backends"),
    m("toxiproxy-unleashed-allowed", "controlroom/scenario/steps.py",
      "                message = unleashed_problem(target, ft.name, blast.allow_unleashed)",
      "                message = None",
      "a Toxiproxy fault with no leash at all runs without the scenario's consent",
      "tests/apis/test_toxiproxy_faults.py", "-k", "without_a_leash", category="API backends"),
    m("toxiproxy-verify-any-answer", "controlroom/faults/toxiproxy.py",
      "timeout=API_TIMEOUT, ok_status=(404,))", "timeout=API_TIMEOUT, ok_status=(200, 404))",
      "a toxic still on the proxy is verified gone", "tests/apis/test_toxiproxy_faults.py", "-k", "every_toxic",
      category="API backends"),
    m("gremlin-guid-not-journaled", ROLLBACK,
      'handle = af.last.stdout.strip()[:128] if plan.handle_from_inject and af.last is not None else ""',
      'handle = ""', "a crashed room's Gremlin attacks cannot be halted by recover (their guids were not journaled)",
      "tests/apis/test_gremlin_faults.py", "-k", "killed_room", category="API backends"),
    m("gremlin-halting-is-halted", "controlroom/faults/gremlin.py",
      'if doc.get("stageLifecycle") in ("Complete", "Error"):', 'if doc.get("stageLifecycle") != "Active":',
      "an attack still halting (or one never halted) is called clean", "tests/apis/test_gremlin_faults.py",
      "-k", "every_attack_type or still_halting", category="API backends"),
    m("rawhttp-post-retried", "controlroom/targets/rawhttp.py",
      'IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})',
      'IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "POST"})',
      "a POST whose connection died is sent again: a second toxic or a second Gremlin attack",
      "tests/apis/test_rawhttp.py", category="API backends"),

    # -- event hooks (issue 17) -----------------------------------------------------------------------------------
    m("hooks-awaited-on-the-stop", "controlroom/engine/session.py",
      "        await self.rollback.rollback_all(reason or kind.value)\n",
      "        await self.rollback.rollback_all(reason or kind.value)\n"
      "        if self.hook_runner is not None:\n"
      "            await asyncio.gather(*(q.join() for q in self.hook_runner._queues.values()))\n",
      "the e-stop waits for hook deliveries: a dead webhook delays the rollback's end by its timeouts",
      "tests/hooks/test_hooks.py", "-k", "delay", category="hooks"),
    m("hook-records-make-a-journal-crashed", "controlroom/journal/reader.py",
      "        if t not in AFTER_END:", "        if True:",
      "hook records after session-ended make a finished session read as crashed (recover, status)",
      "tests/hooks/test_hooks.py", "-k", "complete", category="hooks"),

    # -- Kubernetes (issue 14) ------------------------------------------------------------------------------------
    m("kube-selection-not-journaled", ROLLBACK,
      "            if result.ok and result.record is not None:",
      "            if False:",
      "a Kubernetes selection (pods, manifest) is acted on without being journaled first",
      "tests/kubernetes/test_pod_kill.py", "-k", "before_any", category="kubernetes"),
    m("kube-no-session-searches-anyway", "controlroom/targets/kubernetes.py",
      "        if not raw:\n            # Never search",
      "        if False:\n            # Never search",
      "a revert with no session id searches with none, finds nothing and calls the fault gone",
      "tests/kubernetes/test_executor.py", "-k", "session_id", category="kubernetes"),
    m("kube-finalizer-held-called-clean", "controlroom/targets/kubernetes.py",
      "        return _fail(_persisting(self.target, left)) if left else _ok(\"gone\")",
      "        return _ok(\"gone\")",
      "a Chaos Mesh object held by its finalizer is verified as gone (clean)",
      "tests/kubernetes/test_chaos_mesh.py", "-k", "held_finalizer", category="kubernetes"),
]


@dataclass
class Result:
    mutant: Mutant
    outcome: str  # killed | survived | equivalent | NOT-EQUIVALENT | error
    seconds: float
    by: str = ""  # the first test that failed
    output: str = field(default="", repr=False)


def check(mutants: list[Mutant]) -> list[str]:
    """Every edit's original text is found exactly once in its file (as the code is now), and ids are unique."""
    problems = []
    seen: set[str] = set()
    for mu in mutants:
        if mu.id in seen:
            problems.append(f"{mu.id}: id used twice")
        seen.add(mu.id)
        path = ROOT / mu.file
        if not path.exists():
            problems.append(f"{mu.id}: {mu.file} does not exist")
            continue
        text = path.read_text()
        for original, replacement in mu.edits:
            n = text.count(original)
            if n != 1:
                problems.append(f"{mu.id}: {mu.file}: the original text is found {n} times (must be once): {original!r}")
            if original == replacement:
                problems.append(f"{mu.id}: the replacement is the original")
        if not mu.tests:
            problems.append(f"{mu.id}: no tests named")
    return problems


def copy_tree(dest: Path) -> Path:
    def ignore(_dir: str, names: list[str]) -> set[str]:
        return {n for n in names if n in SKIP or n.endswith(".pyc")}

    shutil.copytree(ROOT, dest, ignore=ignore, symlinks=True)
    return dest


def python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def env_for(tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a restored file must never be shadowed by the mutant's bytecode
    env.pop("CI", None)  # a skipped test is not a kill
    return env


def assert_imports_from(tree: Path) -> None:
    code = "import controlroom, controlroom.engine.rollback as r; print(controlroom.__file__); print(r.__file__)"
    out = subprocess.run([python(), "-c", code], cwd=tree, env=env_for(tree), capture_output=True, text=True,
                         check=True).stdout.split()
    if not all(Path(p).resolve().is_relative_to(tree.resolve()) for p in out):
        raise SystemExit(f"the copy at {tree} imports controlroom from elsewhere: {out}; refusing to run")


MARKERS = ["-m", "not lab"]  # the fast set; `--with-lab` empties it


def pytest_argv(tests: tuple[str, ...]) -> list[str]:
    return [python(), "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *MARKERS,
            "-o", f"timeout={TEST_TIMEOUT}", "--no-header", *tests]


def first_failure(output: str) -> str:
    found = re.search(r"^(?:FAILED|ERROR) (\S+)", output, re.M)
    return found.group(1) if found else ""


def run_tests(tree: Path, tests: tuple[str, ...]) -> tuple[int | None, str, float]:
    started = time.monotonic()
    try:
        proc = subprocess.run(pytest_argv(tests), cwd=tree, env=env_for(tree), capture_output=True, text=True,
                              timeout=RUN_TIMEOUT, check=False)
        return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started
    except subprocess.TimeoutExpired as err:
        out = (err.stdout or b"").decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
        return None, out, time.monotonic() - started


def run_mutant(tree: Path, mu: Mutant) -> Result:
    path = tree / mu.file
    original = path.read_text()
    text = original
    for old, new in mu.edits:
        text = text.replace(old, new, 1)
    path.write_text(text)
    try:
        code, output, seconds = run_tests(tree, mu.tests)
    finally:
        path.write_text(original)
    if code is None:
        outcome, by = "killed", f"(no answer within {RUN_TIMEOUT}s)"
    elif code == 1:
        outcome, by = "killed", first_failure(output)
    elif code == 0:
        outcome, by = "survived", ""
    else:  # 2: interrupted / collection error, 3: internal error, 4: usage, 5: no tests collected
        outcome, by = "error", f"pytest exit {code}: {first_failure(output) or output.strip().splitlines()[-1:]}"
    if mu.equivalent:
        outcome = "equivalent" if outcome == "survived" else "NOT-EQUIVALENT" if outcome == "killed" else outcome
    return Result(mu, outcome, seconds, by, output)


def test_files(mutants: list[Mutant]) -> list[str]:
    """Every test file the chosen mutants name (whole files: a superset of every subset)."""
    files: set[str] = set()
    for mu in mutants:
        args = iter(mu.tests)
        for arg in args:
            if arg == "-k":
                next(args, None)
            elif not arg.startswith("-"):
                files.add(arg.split("::")[0])
    return sorted(files)


def baseline(tree: Path, mutants: list[Mutant]) -> None:
    """The tests of every chosen mutant pass on the unmutated copy (else a kill would mean nothing)."""
    files = test_files(mutants)
    code, output, seconds = run_tests(tree, tuple(files))
    if code != 0:
        print(output[-3000:])
        raise SystemExit(f"baseline: the tests fail without any mutant (exit {code}); fix that first")
    print(f"  baseline: {len(files)} test files pass unmutated ({seconds:.0f}s)", flush=True)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--list", action="store_true", help="print the mutants and exit")
    ap.add_argument("--only", nargs="+", metavar="ID", help="run only these mutants")
    ap.add_argument("--jobs", type=int, default=1, help="mutants run at once, each in its own copy (default 1)")
    ap.add_argument("--no-baseline", action="store_true", help="skip running each subset on the unmutated copy")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--verbose", action="store_true", help="print the test output of survivors and errors")
    ap.add_argument("--tests", metavar="ARGS", help="run these pytest arguments (one string) for every mutant instead of "
                                                     "its own, e.g. to see which mutants a suite without a given test misses")
    ap.add_argument("--with-lab", action="store_true", help="let lab tests run too (root; for --tests selections)")
    args = ap.parse_args(argv)
    if args.with_lab:
        MARKERS.clear()

    chosen = MUTANTS
    if args.only:
        unknown = sorted(set(args.only) - {mu.id for mu in MUTANTS})
        if unknown:
            print(f"unknown mutant(s): {', '.join(unknown)}", file=sys.stderr)
            return 2
        chosen = [mu for mu in MUTANTS if mu.id in args.only]
    if args.tests:
        chosen = [dataclasses.replace(mu, tests=tuple(args.tests.split())) for mu in chosen]
    problems = check(chosen)
    if problems:
        print("the mutant list no longer matches the code; update scripts/mutants.py:", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 2
    if args.list:
        for mu in chosen:
            eq = " (equivalent)" if mu.equivalent else ""
            print(f"{mu.id:40} {mu.file:36} {mu.category}{eq}\n    {mu.rule}\n    tests: {' '.join(mu.tests)}")
        return 0

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="controlroom-mutants-") as tmp:
        trees = [copy_tree(Path(tmp) / f"tree{i}") for i in range(max(1, args.jobs))]
        assert_imports_from(trees[0])
        print(f"{len(chosen)} mutants; copies of the tree in {tmp}", flush=True)
        if not args.no_baseline:
            baseline(trees[0], chosen)
        work: queue.Queue[Mutant] = queue.Queue()
        for mu in chosen:
            work.put(mu)
        results: dict[str, Result] = {}
        lock = threading.Lock()

        def worker(tree: Path) -> None:
            while True:
                try:
                    mu = work.get_nowait()
                except queue.Empty:
                    return
                res = run_mutant(tree, mu)
                with lock:
                    results[mu.id] = res
                    print(f"  {res.outcome:15} {res.seconds:5.1f}s  {mu.id}  {res.by}", flush=True)

        threads = [threading.Thread(target=worker, args=(t,)) for t in trees]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    ordered = [results[mu.id] for mu in chosen]
    return report(ordered, time.monotonic() - started, args)


def report(results: list[Result], seconds: float, args: argparse.Namespace) -> int:
    print()
    print(f"{'mutant':40} {'category':26} {'result':15} {'s':>5}  caught by")
    for r in results:
        print(f"{r.mutant.id:40} {r.mutant.category:26} {r.outcome:15} {r.seconds:5.1f}  {r.by}")
    real = [r for r in results if not r.mutant.equivalent]
    killed = sum(r.outcome == "killed" for r in real)
    equivalent = [r for r in results if r.mutant.equivalent]
    print(f"\nkilled {killed} of {len(real)} non-equivalent mutants ({100.0 * killed / max(1, len(real)):.0f} %); "
          f"{sum(r.outcome == 'equivalent' for r in equivalent)} of {len(equivalent)} equivalent ones survived as "
          f"expected; {seconds / 60:.1f} min")
    bad = [r for r in results if r.outcome not in ("killed", "equivalent")]
    for r in bad:
        print(f"\n{r.outcome.upper()}: {r.mutant.id} ({r.mutant.file}): {r.mutant.rule}")
        if r.mutant.equivalent:
            print(f"  said to be equivalent: {r.mutant.equivalent}")
        if args.verbose:
            print(r.output[-4000:])
    if args.json:
        Path(args.json).write_text(json.dumps({
            "killed": killed, "non_equivalent": len(real), "equivalent": len(equivalent), "minutes": round(seconds / 60, 1),
            "results": [{"id": r.mutant.id, "file": r.mutant.file, "category": r.mutant.category, "rule": r.mutant.rule,
                         "outcome": r.outcome, "seconds": round(r.seconds, 1), "by": r.by,
                         "equivalent": r.mutant.equivalent} for r in results]}, indent=2) + "\n")
    return 0 if not bad else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

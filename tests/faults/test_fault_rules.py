"""The rules every fault plan keeps, checked by running its scripts on a fake host (tests/faults/fakehost.py).

1. The control channel is never cut: for every nft fault, direction and peer set, the accept for the live SSH
   connection comes before the first drop in BOTH chains (input: from the control room to this sshd's port;
   output: this sshd's replies), and the ruleset is one nft accepts.
2. Every way a fault is undone — the session's fused revert, the step-by-step revert, the leash guard firing,
   `recover` — removes exactly what the inject made: the same nft family and table, the same qdisc on the same
   device, the same file and marker, the same process group, the same unit; and nothing else.

Also on the fake host: a stop or a guard that lands mid-inject ends the inject's whole process group before
anything is reverted, a stop that comes first leaves a tombstone, and host claims are refused to another room
and released only by their own.

No root: in the fast set. tests/lab/test_undo_paths_e2e.py runs the guard and `recover` paths on real hosts.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controlroom.engine.recover import recover_plans
from controlroom.engine.revert import fused_revert
from controlroom.faults.catalogue import PlanContext, build_plan, catalogue, parse_params
from controlroom.faults.claim import HELD_EXIT, HostClaim, judge_claim
from controlroom.faults.inflight import NOT_STARTED
from controlroom.faults.leash import STATE_DIR, safe_id
from controlroom.faults.plan import FaultPlan
from controlroom.scenario.model import FaultSpec, Target
from controlroom.targets.base import HttpRequest, Shell
from tests.deps import NOT_ROOT, missing
from tests.engine.conftest import make_scenario
from tests.faults.fakehost import FakeHost

FID = "rules/0@h1"
ROOM_V4 = "10.9.8.7"
CONNECTIONS = (  # SSH_CONNECTION as sshd sets it -> (family, client address, server port) the accept must name
    (f"{ROOM_V4} 50022 10.0.0.1 22", "ip", ROOM_V4, "22"),
    ("fd00::7 50022 fd00::1 2222", "ip6", "fd00::7", "2222"),
    (f"::ffff:{ROOM_V4} 50022 ::ffff:10.0.0.1 22", "ip", ROOM_V4, "22"),
)


@pytest.fixture
def host(tmp_path: Path) -> Iterator[FakeHost]:
    h = FakeHost(tmp_path / "host")
    yield h
    h.kill_leftovers()


def make_plan(ftype: str, params: dict[str, Any], target: Target | None = None) -> FaultPlan:
    target = target or Target("h1", "ssh", ssh="root@10.0.0.1")
    parsed, problems = parse_params(catalogue()[ftype], params)
    assert problems == []
    return build_plan(FaultSpec(ftype, target.name, parsed), target,
                      PlanContext(FID, 60.0, {target.name: target}, leash_window=10.0))


# ---- 1. the control channel comes first in both chains ------------------------------------------------------

def chains(ruleset: str) -> dict[str, list[str]]:
    """nft ruleset text -> chain name -> its rules, in order (the chain's own `type ... policy` line left out)."""
    out: dict[str, list[str]] = {}
    current: str | None = None
    for line in ruleset.splitlines():
        text = line.strip()
        header = re.match(r"chain (\w+) \{", text)
        if header:
            current = header.group(1)
            out[current] = []
        elif text == "}":
            current = None
        elif current is not None and text:
            out[current].append(text)
    return out


NFT_CASES = [
    *[("partition", {"peers": peers, "direction": d}) for d in ("both", "in", "out")
      for peers in (["10.0.0.9"], ["10.0.0.0/24", "fd00::9"], [ROOM_V4])],
    *[("blackhole", {"direction": d}) for d in ("both", "in", "out")],
    *[("packet-loss-nft", {"percent": "30%", "direction": d, **({"peers": peers} if peers else {})})
      for d in ("both", "in", "out") for peers in (None, ["10.0.0.9"], ["fd00::9", "10.0.0.9"], [ROOM_V4])],
]


def _case_id(case: tuple[str, dict[str, Any]]) -> str:
    ftype, params = case
    return f"{ftype}-{params.get('direction')}-{'+'.join(params.get('peers') or ['all'])}"


async def rendered_ruleset(host: FakeHost, ftype: str, params: dict[str, Any]) -> str:
    plan = make_plan(ftype, params)
    for action in plan.inject:
        await host.run_ok(action)
    return host.rulesets()[-1]


@pytest.mark.parametrize("case", NFT_CASES, ids=_case_id)
async def test_the_control_channel_is_accepted_before_any_drop_in_both_chains(
        case: tuple[str, dict[str, Any]], tmp_path: Path) -> None:
    ftype, params = case
    for n, (conn, fam, client, port) in enumerate(CONNECTIONS):
        host = FakeHost(tmp_path / f"host{n}", ssh_connection=conn)
        rules = chains(await rendered_ruleset(host, ftype, params))
        assert set(rules) == {"input", "output"}, rules
        accept = {"input": f"{fam} saddr {client} tcp dport {port} accept",
                  "output": f"{fam} daddr {client} tcp sport {port} accept"}
        assert any(r.endswith(" drop") for chain in rules.values() for r in chain), rules  # the fault is there
        for chain, lines in rules.items():
            assert accept[chain] in lines, f"{chain}: no accept for the control channel {conn!r}: {lines}"
            drops = [i for i, r in enumerate(lines) if r.endswith(" drop")]
            if drops:
                assert lines.index(accept[chain]) < drops[0], f"{chain}: a drop comes before the control channel: {lines}"


async def test_without_an_ssh_connection_nothing_is_exempted_and_the_fault_still_lands(host: FakeHost) -> None:
    # A local target: no control channel to keep; the rules are the fault's own, unchanged.
    rules = chains(await rendered_ruleset(host, "blackhole", {}))
    assert rules == {"input": ['iif "lo" accept', 'iifname "eth0" drop'],
                     "output": ['oif "lo" accept', 'oifname "eth0" drop']}


def _nft_check_argv() -> list[str] | None:
    """`nft -c` in a throwaway network namespace (as root), or a user namespace too (as anyone, where allowed)."""
    if os.geteuid() == 0:
        return ["unshare", "-n", "nft", "-c", "-f"]
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, check=False)
    return ["unshare", "-rn", "nft", "-c", "-f"] if probe.returncode == 0 else None


@pytest.mark.skipif(missing("nft", "unshare") is not None, reason=missing("nft", "unshare") or "")
async def test_every_nft_ruleset_is_one_nft_accepts(tmp_path: Path) -> None:
    argv = _nft_check_argv()
    if argv is None:
        pytest.skip(f"{NOT_ROOT}: or unprivileged user namespaces, to check rulesets in a namespace of their own")
    for n, case in enumerate(NFT_CASES):
        host = FakeHost(tmp_path / f"h{n}", ssh_connection=CONNECTIONS[n % len(CONNECTIONS)][0])
        ruleset = await rendered_ruleset(host, *case)
        path = tmp_path / f"{n}.nft"
        path.write_text(ruleset)
        check = await asyncio.to_thread(subprocess.run, [*argv, str(path)], capture_output=True, text=True,
                                        check=False)
        assert check.returncode == 0, f"{_case_id(case)}: {check.stderr}\n{ruleset}"


def test_tc_faults_exempt_the_control_channel_and_confine_peers_to_the_faulted_class() -> None:
    whole = make_plan("bandwidth", {"rate": "1mbit"}).inject[0]
    peers = make_plan("bandwidth", {"rate": "1mbit", "peers": ["10.0.0.9"]}).inject[0]
    assert isinstance(whole, Shell) and isinstance(peers, Shell)
    assert "htb default 20" in whole.script  # everything but the control channel is throttled
    assert "htb default 10" in peers.script  # only the peers' traffic goes to the throttled class
    assert "match ip dst 10.0.0.9/32 flowid c0de:20" in peers.script.replace("'", "")
    for script in (whole.script, peers.script):
        assert 'match ip sport "$cr_sport" 0xffff flowid c0de:10' in script  # the control channel: untouched class


# ---- 2. every undo path removes exactly what the inject made ------------------------------------------------

def shell_fault_params(ftype: str, host: FakeHost) -> dict[str, Any]:
    fill_dir = host.root / "fill"
    fill_dir.mkdir(mode=0o700, exist_ok=True)
    return {
        "latency": {"delay": "300ms", "jitter": "50ms", "peers": ["10.0.0.5", "fd00::5"]},
        "loss": {"percent": "5%"},
        "corrupt": {"percent": "1%", "peers": ["10.0.0.0/24"]},
        "duplicate": {"percent": "2%"},
        "bandwidth": {"rate": "1mbit", "burst": "32k"},
        "partition": {"peers": ["10.0.0.9"]},
        "blackhole": {},
        "packet-loss-nft": {"percent": "30%"},
        "cpu-stress": {},
        "memory-stress": {"size": "64M"},
        "io-stress": {"hdd": 1, "path": str(host.root)},
        "disk-fill": {"path": str(fill_dir / "fill"), "size": "1M", "keep_free": "1M"},
        "service-stop": {"unit": "shop.service"},
        "command": {"inject": f"touch {host.root}/flag", "revert": f"rm -f {host.root}/flag",
                    "verify": f"[ ! -e {host.root}/flag ]"},
        "process-pause": {"pidfile": str(host.root / "svc.pid")},
    }[ftype]


# Every shell fault with a revert: a fault that has none (process-kill: its verify is a recovery check) is also
# the only kind that needs no duration (faults.base.FaultType.needs_duration), with pod-kill on Kubernetes.
# API faults (toxiproxy, gremlin: tests/apis) fit neither ssh nor local targets.
SHELL_FAULTS = sorted(name for name, ft in catalogue().items()
                      if ft.needs_duration and ft.target_kinds & {"ssh", "local"})
UNDO_PATHS = ("fused", "stepwise", "guard", "recover")


def test_the_table_covers_every_revertible_shell_fault(tmp_path: Path) -> None:
    host = FakeHost(tmp_path / "h")
    assert SHELL_FAULTS and all(shell_fault_params(f, host) is not None for f in SHELL_FAULTS)
    assert all(make_plan(f, shell_fault_params(f, host)).revertible for f in SHELL_FAULTS)
    assert {"partition", "bandwidth", "cpu-stress", "disk-fill", "service-stop", "process-pause"} <= set(SHELL_FAULTS)


@pytest.fixture
def sleeper(host: FakeHost) -> Iterator[int]:
    """A process for process-pause: its pidfile belongs to us and nobody else may write it."""
    proc = subprocess.Popen(["/bin/sleep", "300"], start_new_session=True)
    (host.root / "svc.pid").write_text(f"{proc.pid}\n")
    os.chmod(host.root / "svc.pid", 0o644)
    host.watched.append(proc.pid)
    yield proc.pid
    proc.kill()
    proc.wait()


async def verified(host: FakeHost, plan: FaultPlan) -> bool:
    return all([(await host.run(a)).ok for a in plan.verify])


@pytest.mark.parametrize("path", UNDO_PATHS)
@pytest.mark.parametrize("ftype", SHELL_FAULTS)
async def test_every_undo_path_removes_exactly_what_the_inject_made(
        ftype: str, path: str, host: FakeHost, sleeper: int) -> None:
    plan = make_plan(ftype, shell_fault_params(ftype, host))
    assert plan.leash is not None
    before = host.state()
    assert await verified(host, plan)
    await host.run_ok(plan.leash.arm(60.0))
    for action in plan.inject:
        await host.run_ok(action)
    made = host.state()
    assert made != before and not await verified(host, plan), f"{ftype}: the inject left no trace: {made}"
    if path == "fused":
        fused = fused_revert(plan)
        assert fused is not None
        await host.run_ok(fused)
    elif path == "stepwise":
        for action in plan.revert:
            await host.run_ok(action)
        assert await verified(host, plan)
        await host.run_ok(plan.leash.disarm)
    elif path == "guard":
        # No renewal comes: the deadline passes (here: at once) and the guard undoes the fault by itself.
        (host.crd / f"leash-{safe_id(FID)}.deadline").write_text("0\n")
    else:
        results = await recover_plans([plan], make_scenario(targets=("h1",)), factory=lambda _t: host.executor)
        assert [(ok, detail) for _, ok, detail in results] == [(True, "reverted, verified clean")]
    # A guard (killed by the disarm, or done firing) leaves its poll's `sleep` for a moment: wait, bounded.
    host.wait_for(lambda: host.state() == before, seconds=10.0)
    assert host.state() == before, f"{ftype} via {path}: left {host.state()} (before: {before}, injected: {made})"
    assert await verified(host, plan)


@pytest.mark.parametrize("ftype", SHELL_FAULTS)
async def test_a_revert_leaves_what_the_fault_did_not_make(ftype: str, host: FakeHost, sleeper: int) -> None:
    """Idempotent, and never someone else's: a revert with nothing of ours there changes nothing."""
    plan = make_plan(ftype, shell_fault_params(ftype, host))
    if ftype in ("partition", "blackhole", "packet-loss-nft"):
        await host.run_ok(Shell("nft -f - <<EOF\ntable ip controlroom {\n}\ntable inet other {\n}\nEOF"))
    elif ftype in ("latency", "loss", "corrupt", "duplicate", "bandwidth"):
        await host.run_ok(Shell("tc qdisc add dev eth0 root handle 1: htb default 1"))
    before = host.state()
    fused = fused_revert(plan)
    assert fused is not None
    for action in (*plan.revert, *plan.revert, fused):
        await host.run_ok(action)
    assert host.state() == before


def test_every_script_that_uses_the_state_dir_sets_it_first(tmp_path: Path) -> None:
    # A revert that forgot STATE_DIR would look for its marker or pidfile in "/" and never find it.
    for ftype in SHELL_FAULTS:
        plan = make_plan(ftype, shell_fault_params(ftype, FakeHost(tmp_path / ftype)))
        assert plan.leash is not None and plan.leash.renew is not None
        actions = [*plan.inject, *plan.revert, *plan.verify, *plan.clobber_check, plan.leash.arm(10),
                   plan.leash.renew(10), plan.leash.disarm, *([plan.stop_inject] if plan.stop_inject else [])]
        for action in actions:
            assert isinstance(action, Shell)
            script = action.script
            uses = script.find('"$crd"')
            if uses >= 0:
                assert STATE_DIR in script and script.index(STATE_DIR) < uses, f"{ftype}: $crd used before set:\n{script}"


def test_http_admin_faults_revert_and_verify_the_kind_they_set() -> None:
    target = Target("svc", "http", url="http://127.0.0.1:9/")
    for ftype, params, key, kind, clean in (("http-latency", {"delay": "150ms"}, "latency_ms", "latency", 0),
                                            ("http-errors", {"rate": "50%"}, "error_rate", "errors", 0.0)):
        plan = make_plan(ftype, params, target)
        (inject,), (revert,), (verify,) = plan.inject, plan.revert, plan.verify
        assert isinstance(inject, HttpRequest) and isinstance(revert, HttpRequest) and isinstance(verify, HttpRequest)
        assert (inject.method, inject.url, set(inject.json)) == ("POST", "http://127.0.0.1:9/admin/faults", {key, "ttl_s"})
        assert (revert.method, revert.url) == ("DELETE", f"http://127.0.0.1:9/admin/faults/{kind}")
        assert (verify.method, verify.url, verify.expect_json) == ("GET", "http://127.0.0.1:9/admin/faults", {key: clean})
        assert plan.leash is not None and plan.leash.disarm == revert  # the leash's undo is the revert itself
        assert plan.inject[0].json["ttl_s"] == 10.0  # the service-side leash: the heartbeat window


# ---- what a stop or a guard does to an inject in flight ---------------------------------------------------------

def _slow_command(host: FakeHost) -> FaultPlan:
    """A command fault whose inject forks a child that lands the fault seconds later, as real injects do."""
    flag = host.root / "flag"
    return make_plan("command", {"inject": f"( sleep {LANDS}; touch {flag} ) & wait", "revert": f"rm -f {flag}",
                                 "verify": f"[ ! -e {flag} ]"})


async def test_a_stop_before_the_inject_leaves_a_tombstone_and_the_late_inject_runs_nothing(host: FakeHost) -> None:
    plan = make_plan("command", {"inject": f"touch {host.root}/flag", "revert": f"rm -f {host.root}/flag",
                                 "verify": f"[ ! -e {host.root}/flag ]"})
    assert plan.stop_inject is not None and plan.leash is not None
    before = host.state()
    stop = await host.run_ok(plan.stop_inject)
    assert stop.stdout.strip() == "never-started"
    late = await host.run(plan.inject[0])  # the inject that was on its way when the stop came
    assert late.status == NOT_STARTED and not (host.root / "flag").exists()
    await host.run_ok(plan.leash.disarm)  # after the verified revert: the tombstone goes with the leash
    assert host.state() == before


LANDS = 5.0  # seconds after the inject starts that its child lands the fault


@pytest.mark.parametrize("ender", ["stop", "guard"])
async def test_a_guard_or_a_stop_mid_inject_ends_it_before_reverting(ender: str, host: FakeHost) -> None:
    plan = _slow_command(host)
    assert plan.stop_inject is not None and plan.leash is not None
    before = host.state()
    # The guard's case: no renewal comes, so its deadline (2-3 s, whole seconds) passes while the inject runs.
    await host.run_ok(plan.leash.arm(3.0 if ender == "guard" else 60.0))
    inject = asyncio.ensure_future(host.run(plan.inject[0]))
    pgid = host.crd / f"run-{safe_id(FID)}" / "pgid"
    assert await asyncio.to_thread(host.wait_for, pgid.exists), "the inject never started"
    if ender == "stop":
        stop = await host.run_ok(plan.stop_inject)
        assert stop.stdout.strip() == "killed"
        assert not (await inject).ok  # killed where it ran: the whole group, its child too...
        await asyncio.sleep(LANDS + 0.5)
        assert not (host.root / "flag").exists()  # ...so nothing lands, even before the revert
        fused = fused_revert(plan)
        assert fused is not None
        await host.run_ok(fused)
    else:
        assert not (await inject).ok  # ended by the guard when its deadline passed
        await asyncio.sleep(LANDS + 0.5)  # after its child would have landed the fault
    assert not (host.root / "flag").exists()
    await asyncio.to_thread(host.wait_for, lambda: host.state() == before)
    assert host.state() == before


# ---- host claims: one room at a time, and only its own claim is ever released --------------------------------

async def test_a_claim_is_refused_to_another_room_and_released_only_by_its_own(host: FakeHost) -> None:
    a = HostClaim("room-a", 111, "alice@desk", "2026-01-01T10:00:00Z")
    b = HostClaim("room-b", 222, "bob@laptop", "2026-01-01T10:05:00Z")
    claim = host.crd / "claim"
    assert judge_claim("h1", await host.run(a.take(30))).detail == "ok"
    refused = await host.run(b.take(30))
    assert refused.status == HELD_EXIT and judge_claim("h1", refused).held_by is not None
    await host.run_ok(b.release())
    assert claim.read_text().startswith("session=room-a ")  # B's release leaves A's claim
    claim.write_text(claim.read_text().rsplit("expires=", 1)[0] + "expires=1\n")  # A went silent long ago
    stale = judge_claim("h1", await host.run(b.take(30)))
    assert stale.ok and stale.previous is not None and stale.previous.session == "room-a"
    await host.run_ok(a.release())
    assert claim.read_text().startswith("session=room-b ")  # nor does A's remove B's
    await host.run_ok(b.release())
    assert not claim.exists()

"""Gremlin attacks as faults: `gremlin-<type>` with its arguments, halted by guid, leashed by the attack's length.

Why this is safe:
* Leash. Gremlin ends an attack by itself at its `--length`: the plan always sends one, the step's duration
  plus the leash window (`blast_radius.leash`), so a room that dies mid-step leaves the attack running at most
  one window past the step's planned end. (A shutdown has no length: it happens once, after its delay, and
  cannot be undone; its revert halts it only while it waits.)
* Revert = `DELETE /attacks/{guid}` of exactly the attack this fault created (the guid the create answered,
  remembered by the executor and journaled for `recover`); verify = `GET /attacks/{guid}` shows it Complete
  (halted or finished) or Error. Halting every attack of the team or the company (`POST /halts`) is never part
  of a plan: it is the facilitator's explicit `controlroom gremlin-halt` command.
* The API key is read by the executor from the variable or file the scenario names (`targets.gremlin`).
* Pre-flight: the key is valid for the team, the targets exist and are active, and no attack is running on them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controlroom.faults.base import FaultType, Param, PlanContext, arg
from controlroom.faults.plan import FaultPlan, Requirement
from controlroom.scenario.model import FaultSpec, GremlinRef, Target
from controlroom.targets.api import JudgedRequest
from controlroom.targets.base import HttpRequest
from controlroom.targets.gremlin import GUID_RE, AttackCreate, AttackRequest
from controlroom.units import format_duration, parse_duration, parse_percent, parse_size

MAX_LENGTH = 31_449_600  # Gremlin's bound on --length (about a year)
API_TIMEOUT = 10.0
_TEXT_RE = re.compile(r"[A-Za-z0-9_.,:/^*@=+-]{1,256}")
_PORT = r"([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_PORT_RE = re.compile(rf"\^?{_PORT}(-{_PORT})?")


def _count(value: object) -> int:
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
        raise ValueError(f"expected a whole number of at least 1, got {value!r}")
    if int(value) < 1:
        raise ValueError(f"expected a whole number of at least 1, got {value!r}")
    return int(value)


def _pct(value: object) -> int:
    pct = parse_percent(value)
    if not 1 <= pct <= 100 or pct != int(pct):
        raise ValueError(f"Gremlin takes a whole percentage 1%..100%, got {value!r}")
    return int(pct)


def _ms(value: object) -> int:
    ms = round(parse_duration(value) * 1000)
    if ms < 1:
        raise ValueError(f"expected at least 1ms, got {value!r}")
    return ms


def _seconds(value: object) -> int:
    return round(parse_duration(value))


def _minutes(value: object) -> int:
    seconds = parse_duration(value)
    if seconds % 60:
        raise ValueError(f"Gremlin takes whole minutes here, e.g. '2m', got {value!r}")
    return int(seconds // 60)


def _mb(value: object) -> int:
    return max(1, parse_size(value) // (1024 * 1024))


def _kb(value: object) -> int:
    return max(1, parse_size(value) // 1024)


def _text(value: object) -> str:
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    if not isinstance(value, str) or not _TEXT_RE.fullmatch(value):
        raise ValueError(f"expected letters, digits and _ . , : / ^ * @ = + - (a list is joined with commas), got {value!r}")
    return value


def _ports(value: object) -> str:
    text = _text(str(value) if isinstance(value, int) else value)
    for port in text.split(","):
        if not _PORT_RE.fullmatch(port):
            raise ValueError(f"{port!r} is not a port or port range (e.g. 443, ^53, 8080-8085)")
    return text


def _switch(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _one_of(*options: str) -> Callable[[object], str]:
    def parse(value: object) -> str:
        if not isinstance(value, str) or value.upper() not in {o.upper() for o in options}:
            raise ValueError(f"expected one of {', '.join(options)}, got {value!r}")
        return next(o for o in options if o.upper() == value.upper())

    return parse


@dataclass(frozen=True)
class Flag:
    param: Param
    flag: str


def _flag(name: str, flag: str, parse: Callable[[Any], Any], doc: str, *, required: bool = False,
          default: Any = None) -> Flag:
    return Flag(Param(name, parse, required=required, default=default, doc=doc), flag)


def _network(*, ports: bool = True) -> list[Flag]:
    flags = [_flag("ips", "-i", _text, "only traffic to these IPs (list or comma-separated)"),
             _flag("device", "-d", _text, "network interface, e.g. eth0"),
             _flag("hostnames", "-h", _text, "only traffic to these hostnames"),
             _flag("protocol", "-P", _one_of("TCP", "UDP", "ICMP"), "TCP, UDP or ICMP")]
    if ports:
        flags += [_flag("ports", "-p", _ports, "remote ports, e.g. 443 or 8080-8085"),
                  _flag("source_ports", "-s", _ports, "local ports")]
    return flags


ATTACKS: dict[str, tuple[str, list[Flag]]] = {
    "cpu": ("consume CPU", [
        _flag("cores", "-c", _count, "cores to load (default 1)", default=1),
        _flag("percent", "-p", _pct, "load per core, e.g. 80% (default 100%)"),
        _flag("all_cores", "-a", _switch, "load every core")]),
    "memory": ("consume memory", [
        _flag("amount", "-m", _mb, "memory to hold, e.g. 512M"),
        _flag("percent", "-p", _pct, "share of memory to hold, e.g. 80%")]),
    "disk": ("fill a disk", [
        _flag("dir", "-d", _text, "directory to fill (default /tmp)", default="/tmp"),
        _flag("percent", "-p", _pct, "fill up to this share, e.g. 95%", required=True),
        _flag("workers", "-w", _count, "writers"),
        _flag("block_size", "-b", _kb, "block size, e.g. 4k")]),
    "io": ("load disk I/O", [
        _flag("dir", "-d", _text, "directory (default /tmp)", default="/tmp"),
        _flag("mode", "-m", _one_of("r", "w", "rw"), "r, w or rw (default rw)", default="rw"),
        _flag("workers", "-w", _count, "workers"),
        _flag("block_size", "-s", _kb, "block size, e.g. 4k"),
        _flag("block_count", "-c", _count, "blocks per cycle")]),
    "shutdown": ("shut the hosts down", [
        _flag("delay", "-d", _minutes, "wait before shutting down, in whole minutes (default 1m)", default="1m"),
        _flag("reboot", "-r", _switch, "reboot instead of halting")]),
    "time_travel": ("move the clock", [
        _flag("offset", "-o", _seconds, "clock offset, e.g. 1h", required=True),
        _flag("block_ntp", "-n", _switch, "block NTP so the clock is not corrected")]),
    "process_killer": ("kill a process", [
        _flag("process", "-p", _text, "process name (or pattern with full_match)", required=True),
        _flag("interval", "-i", lambda v: max(1, _seconds(v)), "time between kills, e.g. 5s"),
        _flag("group", "-g", _text, "only processes of this group"),
        _flag("user", "-u", _text, "only processes of this user"),
        _flag("exact", "-e", _switch, "match the name exactly"),
        _flag("full_match", "-f", _switch, "match the full command line"),
        _flag("kill_children", "-c", _switch, "kill children too"),
        _flag("newest", "-n", _switch, "only the newest match"),
        _flag("oldest", "-o", _switch, "only the oldest match")]),
    "blackhole": ("drop traffic", [f for f in _network() if f.flag != "-s"] + [
        _flag("ingress_ports", "-n", _ports, "local ports whose incoming traffic is dropped")]),
    "dns": ("block DNS", [
        _flag("ips", "-i", _text, "only these DNS servers"),
        _flag("device", "-d", _text, "network interface"),
        _flag("protocol", "-P", _one_of("TCP", "UDP"), "TCP or UDP")]),
    "latency": ("delay traffic", [
        _flag("delay", "-m", _ms, "added delay, e.g. 100ms", required=True), *_network()]),
    "packet_loss": ("drop packets", [
        _flag("rate", "-r", _pct, "share of packets lost, e.g. 10%", required=True),
        _flag("corrupt", "-c", _switch, "corrupt instead of dropping"), *_network()]),
}
NO_LENGTH = frozenset({"shutdown"})


def attack_length(ctx: PlanContext) -> int:
    """The attack's own length: the step plus one leash window, so it outlives a dead room by at most that."""
    return min(MAX_LENGTH, math.ceil((ctx.duration or 0.0) + ctx.leash_window))


def target_doc(ref: GremlinRef) -> dict[str, Any]:
    """Gremlin's `target` object. A tag selection is Random over the matching clients (100% unless `percent`)."""
    key = ref.kind
    if ref.tags:
        tag_key = "multiSelectTags" if key == "hosts" else "multiSelectLabels"
        return {"type": "Random", key: {tag_key: {k: [v] for k, v in ref.tags.items()}},
                "percent": ref.percent or 100}
    ids = list(ref.hosts if key == "hosts" else ref.containers)
    if ref.select == "Random":
        return {"type": "Random", key: {"ids": ids}, "percent": ref.percent or 100}
    return {"type": "Exact", key: {"ids": ids}}


def _selection(ref: GremlinRef) -> str:
    if ref.tags:
        what = ", ".join(f"{k}={v}" for k, v in ref.tags.items())
        chosen = f"{ref.kind} tagged {what}"
    else:
        chosen = f"{ref.kind} {', '.join(ref.hosts or ref.containers)}"
    return (f"{ref.percent}% of " if ref.select == "Random" or (ref.tags and ref.percent) else "") + chosen


def _q(ref: GremlinRef) -> str:
    return f"?teamId={ref.team}"


def _targets_judge(ref: GremlinRef) -> Callable[[Any], str]:
    def judge(doc: Any) -> str:
        if ref.kind == "containers":
            found = doc if isinstance(doc, list) else []
            ids = {str(c.get("identifier")) for c in found if isinstance(c, dict)}
            labels = [c.get("container_labels") or {} for c in found if isinstance(c, dict)]
            missing = [c for c in ref.containers if c not in ids]
            if missing:
                return f"container(s) {', '.join(missing)} not found on an active client of team {ref.team}"
            if ref.tags and not any(all(lab.get(k) == v for k, v in ref.tags.items()) for lab in labels):
                return f"no active container of team {ref.team} carries {ref.tags}"
            return ""
        active = doc.get("active", []) if isinstance(doc, dict) else []
        ids = {str(c.get("identifier")) for c in active if isinstance(c, dict)}
        missing = [h for h in ref.hosts if h not in ids]
        if missing:
            return (f"host(s) {', '.join(missing)} are not active clients of team {ref.team} (missing, idle or "
                    "revoked)")
        if ref.tags and not any(all((c.get("tags") or {}).get(k) == v for k, v in ref.tags.items())
                                for c in active if isinstance(c, dict)):
            return f"no active client of team {ref.team} carries the tags {ref.tags}"
        return ""

    return judge


def _busy_judge(ref: GremlinRef) -> Callable[[Any], str]:
    exact = ref.select == "Exact" and not ref.tags and ref.kind == "hosts"

    def judge(doc: Any) -> str:
        running = [a for a in (doc if isinstance(doc, list) else []) if isinstance(a, dict)]
        if exact:
            running = [a for a in running if set(map(str, a.get("targets") or [])) & set(ref.hosts)]
        if running:
            first = running[0]
            on = ", ".join(map(str, first.get("targets") or [])) or "its targets"
            return (f"attack {first.get('guid')} ({(first.get('infraCommand') or {}).get('type', '?')}) is already "
                    f"running on {on}{' (a tag, Random or container selection may overlap any)' if not exact else ''}; "
                    "wait for it or halt it first")
        return ""

    return judge


def _halted(doc: Any) -> str:
    if not isinstance(doc, dict):
        return "the attack answer is not a JSON object"
    if doc.get("stageLifecycle") in ("Complete", "Error"):
        return ""
    return f"attack {doc.get('guid')} is still {doc.get('stage')} ({doc.get('stageLifecycle')})"


def _builder(kind: str, what: str, flags: list[Flag]) -> Callable[[FaultSpec, Target, PlanContext], FaultPlan]:
    def build(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
        if target.gremlin is None:
            raise ValueError(f"target {target.name!r} is not a gremlin target")
        ref = target.gremlin
        args: list[str] = []
        shown: list[str] = []
        for f in flags:
            value = arg(spec, f.param)
            if value is None or value is False:
                continue
            if value is True:
                args.append(f.flag)
            else:
                args += [f.flag, str(value)]
            shown.append(f"{f.param.name}={value}")
        if kind == "memory" and ("-m" in args) == ("-p" in args):
            raise ValueError("gremlin-memory needs exactly one of amount (e.g. 512M) or percent (e.g. 80%)")
        if kind == "time_travel" and ref.kind == "containers":
            raise ValueError("gremlin-time_travel acts on hosts, not containers")
        length = None if kind in NO_LENGTH else attack_length(ctx)
        if length is not None:
            args = ["-l", str(length), *args]
        ref_name = f"cr-{ctx.session}-{ctx.fault_id}"
        handle = ctx.handle if ctx.handle and GUID_RE.fullmatch(ctx.handle) else None
        body = {"command": {"type": kind, "args": args}, "target": target_doc(ref)}
        create = AttackCreate("POST", f"{ref.api}/attacks/new{_q(ref)}", json=body, timeout=API_TIMEOUT,
                              ok_status=(201, 200), ref=ref_name)
        halt = AttackRequest("DELETE", f"{ref.api}/attacks/{{guid}}{_q(ref)}", timeout=API_TIMEOUT,
                             ok_status=(202, 200, 204, 404), ref=ref_name, guid=handle)
        verify = AttackRequest("GET", f"{ref.api}/attacks/{{guid}}{_q(ref)}", timeout=API_TIMEOUT, ref=ref_name,
                               guid=handle)
        verify = JudgedAttack.of(verify, _halted)
        leash = (f"service-side leash: the attack ends by itself after {format_duration(length)}" if length
                 else "no length: a shutdown cannot be undone once it fires; revert halts it only while it waits")
        summary = (f"Gremlin {kind} ({what}{': ' + ', '.join(shown) if shown else ''}) on {_selection(ref)} of "
                   f"team {ref.team} — {leash}")
        key_where = f"${ref.key_env}" if ref.key_env else f"file {ref.key_file}"
        clients = (f"{ref.api}/containers{_q(ref)}" if ref.kind == "containers" else f"{ref.api}/clients{_q(ref)}")
        requires = (
            Requirement("gremlin api key", HttpRequest("GET", f"{ref.api}/attacks/active{_q(ref)}", timeout=API_TIMEOUT,
                                                       ok_status=(200,)),
                        f"{target.name}: the Gremlin API key ({key_where}) is not valid for team {ref.team}; "
                        "check the key and the team id"),
            Requirement("gremlin targets", JudgedRequest("GET", clients, timeout=API_TIMEOUT, judge=_targets_judge(ref)),
                        f"{target.name}: the attack's targets ({_selection(ref)}) are not all active clients of "
                        f"team {ref.team} (missing, idle or revoked)"),
        )
        clobber = (JudgedRequest("GET", f"{ref.api}/attacks/active{_q(ref)}", timeout=API_TIMEOUT,
                                 judge=_busy_judge(ref)),)
        return FaultPlan(fault_id=ctx.fault_id, spec=spec, target=target.name, summary=summary, inject=(create,),
                         revert=(halt,), verify=(verify,), requires=requires, clobber_check=clobber,
                         handle_from_inject=True)

    return build


@dataclass(frozen=True)
class JudgedAttack(AttackRequest):
    """An AttackRequest whose answer is judged (verify: the attack is Complete or Error)."""

    judge: Callable[[Any], str] | None = None

    @classmethod
    def of(cls, r: AttackRequest, judge: Callable[[Any], str]) -> JudgedAttack:
        return cls(r.method, r.url, r.json, r.headers, r.timeout, r.ok_status, r.expect_json, ref=r.ref, guid=r.guid,
                   judge=judge)


FAULTS: list[FaultType] = [
    FaultType(f"gremlin-{kind}", tuple(f.param for f in flags), frozenset({"gremlin"}), _builder(kind, what, flags),
              doc=f"Gremlin {kind} attack ({what}); halted by guid, its length is the leash.",
              needs_duration=kind not in NO_LENGTH)
    for kind, (what, flags) in ATTACKS.items()
]

"""Resource faults with stress-ng: CPU, memory and I/O pressure on a host.

stress-ng runs in a session of its own (`setsid`), its leader's pid in the state dir, so the revert ends
the whole group — every worker — and the verify asks whether any of it is alive. Its own `--timeout` is a
second leash, the backstop: it ends by itself even if every guard failed.
"""

from __future__ import annotations

import math

from controlroom.faults.base import FaultType, Param, PlanContext, arg
from controlroom.faults.host import KINDS, count, file_path, host_plan, tool
from controlroom.faults.leash import STATE_DIR, safe_id
from controlroom.faults.plan import FaultPlan
from controlroom.faults.shell import sh
from controlroom.scenario.model import FaultSpec, Target
from controlroom.units import parse_percent, parse_size

# Pads stress-ng's own --timeout past the step: a backstop that cannot be renewed, so it may stay long.
BACKSTOP_GRACE = 30.0
WORKERS = Param("workers", count, default=1, doc="number of stress-ng workers (default 1)")


def _stress_timeout(ctx: PlanContext) -> int:
    # It may stay long (the step's duration plus a grace): the heartbeat guard is the one that acts within seconds.
    return max(1, math.ceil((ctx.duration or 300.0) + BACKSTOP_GRACE))


def _stress_plan(spec: FaultSpec, target: Target, ctx: PlanContext, argv: list[str], summary: str) -> FaultPlan:
    sid = safe_id(ctx.fault_id)
    pidf = f'"$crd"/stress-{sid}.pid'
    alive = f'{{ [ -s {pidf} ] && kill -s 0 -- "-$(cat {pidf})" 2>/dev/null; }}'
    full = ["stress-ng", *argv, "--timeout", f"{_stress_timeout(ctx)}s"]
    inject = (f"{STATE_DIR}\n"
              f"if {alive}; then exit 0; fi\n"
              f"rm -f {pidf}\n"
              # The sh records its pid, then becomes stress-ng: its own session, so a group kill reaches every worker.
              f"setsid -f sh -c 'echo $$ > \"$1\"; shift; exec \"$@\"' controlroom-stress {pidf} {sh(*full)} "
              "</dev/null >/dev/null 2>&1\n"
              f"i=0; while [ ! -s {pidf} ] && [ $i -lt 200 ]; do sleep 0.01; i=$((i+1)); done\n"
              "sleep 0.2\n"
              f"{alive} || {{ echo 'stress-ng did not start or exited at once' >&2; exit 1; }}")
    revert = (f"{STATE_DIR}\n"
              f'if [ -s {pidf} ]; then cr_g=$(cat {pidf}); case "$cr_g" in ""|*[!0-9]*|0|1) rm -f {pidf}; exit 0;; esac\n'
              '  kill -s TERM -- "-$cr_g" 2>/dev/null; i=0\n'
              '  while kill -s 0 -- "-$cr_g" 2>/dev/null && [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done\n'
              f'  kill -s KILL -- "-$cr_g" 2>/dev/null; rm -f {pidf}; fi; exit 0')
    verify = f"{STATE_DIR}\nif {alive}; then echo 'stress-ng is still running' >&2; exit 1; fi"
    requires = (tool("stress-ng", target, "stress-ng", f"{spec.type} needs it"),)
    return host_plan(spec, target, ctx, summary, inject, revert, verify, requires, (verify,))


LOAD = Param("load", parse_percent, default=100.0, doc="CPU load per worker, e.g. 80% (default 100%)")
VM_BYTES = Param("size", parse_size, default=256 * 1024**2, doc="memory per worker, e.g. 512M (default 256M)")
HDD = Param("hdd", lambda v: 0 if v == 0 else count(v), default=0,
            doc="extra workers writing temporary files (default 0: sync() workers only)")
TEMP = Param("path", file_path, default="/tmp", doc="directory the hdd workers write in (default /tmp)")


def _build_cpu(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    n, load = arg(spec, WORKERS), arg(spec, LOAD)
    return _stress_plan(spec, target, ctx, ["--cpu", str(n), "--cpu-load", str(round(load))],
                        f"CPU stress on {target.name}: {n} worker(s) at {load:g}%")


def _build_memory(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    n, size = arg(spec, WORKERS), arg(spec, VM_BYTES)
    return _stress_plan(spec, target, ctx, ["--vm", str(n), "--vm-bytes", str(size), "--vm-keep"],
                        f"memory stress on {target.name}: {n} worker(s) x {size // 1024**2} MiB")


def _build_io(spec: FaultSpec, target: Target, ctx: PlanContext) -> FaultPlan:
    n, hdd, path = arg(spec, WORKERS), arg(spec, HDD), arg(spec, TEMP)
    argv = ["--io", str(n)]
    if hdd:
        argv += ["--hdd", str(hdd), "--hdd-bytes", "64M", "--temp-path", path]
    return _stress_plan(spec, target, ctx, argv, f"I/O stress on {target.name}: {n} sync worker(s)"
                        + (f", {hdd} writer(s) in {path}" if hdd else ""))


FAULTS: list[FaultType] = [
    FaultType("cpu-stress", (WORKERS, LOAD), KINDS, _build_cpu, "stress-ng --cpu"),
    FaultType("memory-stress", (WORKERS, VM_BYTES), KINDS, _build_memory, "stress-ng --vm"),
    FaultType("io-stress", (WORKERS, HDD, TEMP), KINDS, _build_io, "stress-ng --io (and --hdd)"),
]

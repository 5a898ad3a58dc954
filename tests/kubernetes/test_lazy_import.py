"""kr8s is only loaded by a Kubernetes target at run time: `--help`, host-only runs, validate and plan never pay."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import contextlib, io, sys
from controlroom.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main(ARGS)
from controlroom.engine.session import Session  # the engine as a host-only run loads it
from controlroom.faults.catalogue import catalogue
catalogue()
bad = sorted(m for m in sys.modules if m.split('.')[0] in ('kr8s', 'box', 'httpx_ws'))
print(','.join(bad) or 'clean')
"""


def _loaded(args: list[str]) -> str:
    out = subprocess.run([sys.executable, "-c", CODE.replace("ARGS", repr(args))], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_help_and_the_engine_never_import_kr8s() -> None:
    assert _loaded(["--help"]) == "clean"


def test_validate_and_plan_of_a_kubernetes_scenario_do_not_import_kr8s() -> None:
    assert _loaded(["validate", "scenarios/k8s-pod-kill.yaml"]) == "clean"
    assert _loaded(["plan", "-v", "scenarios/k8s-pod-kill.yaml"]) == "clean"

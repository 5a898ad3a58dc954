"""`controlroom import`: the subcommand's arguments and its run; kept apart so cli.py stays a thin hook.

Imports of the core are lazy, as in cli.py: `controlroom --help` imports none of it.
"""

from __future__ import annotations

import argparse
import os
import sys


def add_parser(sp: argparse.ArgumentParser) -> None:
    tools = sp.add_subparsers(dest="tool", metavar="TOOL", required=True)
    ctk = tools.add_parser(
        "chaostoolkit", help="a Chaos Toolkit experiment (JSON or YAML) -> a commented scenario",
        description="Translate a Chaos Toolkit experiment into a scenario (docs/import-export.md). Untranslatable "
                    "activities: one EXPERIMENT:LINE:COL line each, exit 2, nothing written (unless --partial).")
    ctk.add_argument("experiment")
    ctk.add_argument("-o", "--output", help="write the scenario here (default: stdout)")
    ctk.add_argument("--partial", action="store_true",
                     help="write what translates; the rest as commented TODOs, and `template: true` so run refuses it")
    ctk.add_argument("-t", "--target", metavar="SSH", help="run the commands on this SSH destination (user@host)")
    ctk.add_argument("-m", "--mapping", metavar="FILE",
                     help="YAML: target, environment, verify: {ACTION: CHECK}, undoes: {ROLLBACK: ACTION}, "
                          "kubernetes: {context: NAME}, toxiproxy: {ssh: DEST}")
    ctk.add_argument("--kube-context", metavar="NAME",
                     help="the kubeconfig context chaosk8s actions act on (else the mapping's kubernetes.context)")
    ctk.add_argument("--allow-unleashed", action="store_true",
                     help="translate Toxiproxy actions with no leash (no toxiproxy.ssh in the mapping); the "
                          "scenario then says blast_radius.allow_unleashed: [toxiproxy]")


def run(args: argparse.Namespace) -> int:
    from controlroom.errors import ControlroomError
    from controlroom.importers.chaostoolkit import import_experiment, read_mapping
    from controlroom.safefile import write_atomically

    mapping = read_mapping(args.mapping or "", args.target, kube_context=args.kube_context,
                           allow_unleashed=args.allow_unleashed)
    result = import_experiment(args.experiment, mapping, partial=args.partial)
    for problem in result.untranslatable:  # --partial: say what was left as a TODO, one located line each
        print(f"{problem} (left as a TODO)", file=sys.stderr)
    if not args.output:
        sys.stdout.write(result.text)
    else:
        if os.path.exists(args.output) and os.path.samefile(args.output, args.experiment):
            raise ControlroomError(f"{args.output}: is the experiment itself; write the scenario to another file")
        try:
            write_atomically(args.output, result.text)
        except OSError as err:
            raise ControlroomError(f"{args.output}: cannot write the scenario: {err.strerror or err}") from None
    todo = f", {len(result.untranslatable)} TODO(s): template: true until written" if result.untranslatable else ""
    print(f"{args.experiment}: imported: {result.steps} step(s), {result.metrics} metric(s){todo}"
          + (f" -> {args.output}" if args.output else ""), file=sys.stderr)
    return 0

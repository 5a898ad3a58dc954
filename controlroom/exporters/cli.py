"""`controlroom export`: the subcommand's arguments and its run; kept apart so cli.py stays a thin hook.

Imports of the core are lazy, as in cli.py: `controlroom --help` imports none of it.
"""

from __future__ import annotations

import argparse
import os
import sys


def add_parser(sp: argparse.ArgumentParser) -> None:
    tools = sp.add_subparsers(dest="tool", metavar="TOOL", required=True)
    cm = tools.add_parser(
        "chaos-mesh", help="a Kubernetes scenario -> a Chaos Mesh Workflow (or one manifest per fault)",
        description="Write a scenario whose faults are pod-kill or chaos-* on kubernetes targets as a Chaos Mesh "
                    "Workflow (docs/import-export.md). Parts Chaos Mesh cannot express: one SCENARIO:LINE:COL line "
                    "each, exit 2, nothing written (unless --partial).")
    cm.add_argument("scenario")
    cm.add_argument("-o", "--output", metavar="DIR", help="write the file(s) in this directory (default: stdout)")
    cm.add_argument("--per-step", action="store_true",
                    help="one manifest per fault (NN-STEP.yaml) instead of one Workflow; apply them in order")
    cm.add_argument("--partial", action="store_true",
                    help="write what Chaos Mesh can express; a comment header lists what was left out")
    cm.add_argument("--force", action="store_true", help="overwrite output files that exist")


def run(args: argparse.Namespace) -> int:
    from controlroom.errors import ControlroomError
    from controlroom.exporters.chaosmesh import export_chaos_mesh
    from controlroom.safefile import write_atomically
    from controlroom.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    result = export_chaos_mesh(scenario, args.scenario, per_step=args.per_step, partial=args.partial)
    for problem in result.omitted:  # --partial: say what was left out, one located line each
        print(f"{problem} (left out)", file=sys.stderr)
    if not args.output:
        sys.stdout.write("---\n".join(text for _, text in result.files))
        where = ""
    else:
        out = args.output
        try:
            os.makedirs(out, exist_ok=True)
        except OSError as err:
            raise ControlroomError(f"{out}: cannot create the output directory: {err.strerror or err}") from None
        if not os.path.isdir(out):
            raise ControlroomError(f"{out}: is not a directory; -o names the directory the manifests go in")
        paths = [os.path.join(out, name) for name, _ in result.files]
        existing = [p for p in paths if os.path.lexists(p)]
        if existing and not args.force:  # checked for every file before any is written: all or nothing
            raise ControlroomError(f"{existing[0]}: exists; not overwritten (--force to replace it)")
        for path, (_, text) in zip(paths, result.files, strict=True):
            try:
                write_atomically(path, text)
            except OSError as err:
                raise ControlroomError(f"{path}: cannot write the manifest: {err.strerror or err}") from None
        where = " -> " + ", ".join(paths)
    left = f", {len(result.omitted)} part(s) left out" if result.omitted else ""
    what = "manifest(s)" if args.per_step else "Workflow"
    print(f"{args.scenario}: exported: {result.templates} chaos template(s) as {what}{left}{where}", file=sys.stderr)
    return 0

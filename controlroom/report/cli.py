"""`controlroom report JOURNAL [--format md|html|json] [-o FILE]`: the post-mortem of one session."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from controlroom.errors import ControlroomError
from controlroom.journal.reader import JournalStream
from controlroom.report.build import build_report
from controlroom.report.model import ReportError
from controlroom.report.render import render_html, render_json, render_markdown
from controlroom.safefile import write_atomically

# Processes that parse a large journal's blocks while this one folds them (journal.reader.JournalStream): two when
# this process may run on two CPUs or more (this one mostly folds, or waits: on 2 CPUs two workers beat one,
# 1.9 s against 2.1-2.5 s for a million events), none on a single CPU (the parse would only add the pickling).
_CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
WORKERS = 2 if _CPUS > 1 else 0

RENDERERS = {"md": render_markdown, "html": render_html, "json": render_json}
_BY_SUFFIX = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".json": "json"}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="controlroom report", description="Post-mortem of a recorded session.")
    p.add_argument("journal", help="the session's journal (*.jsonl)")
    p.add_argument("--format", "-f", choices=sorted(RENDERERS), default=None,
                   help="md (wiki), html (one self-contained file with charts) or json; default: from -o's suffix, else md")
    p.add_argument("-o", "--output", help="write here instead of standard output")
    return p


def write_report(journal: str | Path, fmt: str, output: str | Path | None) -> str:
    """Build and render; write to `output` when given. Returns the rendered text."""
    if fmt not in RENDERERS:
        raise ReportError(f"--format {fmt}: unknown report format; use one of {', '.join(sorted(RENDERERS))}")
    j = JournalStream(journal, workers=WORKERS)  # a block at a time while it is folded: bounded memory, any size
    report = build_report(j)
    for why in j.warnings:  # skipped lines, located: the report is marked incomplete when any was damaged
        print(f"controlroom report: {why}", file=sys.stderr)
    text = RENDERERS[fmt](report)
    if output is not None:
        out = Path(output)
        if out.is_dir():
            raise ReportError(f"{out}: is a directory; give -o a file name such as report.{fmt}")
        try:
            # Temp file O_EXCL|O_NOFOLLOW beside the target, then a rename: a reader never sees half a
            # report, and a planted `.report.html.tmp` symlink cannot redirect the write (root's included).
            write_atomically(out, text)
        except OSError as err:
            raise ReportError(f"{out}: cannot write the report: {err.strerror or err}") from None
    return text


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    fmt = args.format or (_BY_SUFFIX.get(Path(args.output).suffix.lower(), "md") if args.output else "md")
    try:
        text = write_report(args.journal, fmt, args.output)
    except ControlroomError as err:
        print(f"controlroom report: {err}", file=sys.stderr)
        return err.exit_code
    if args.output is None:
        sys.stdout.write(text)
    else:
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

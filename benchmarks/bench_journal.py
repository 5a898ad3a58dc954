"""What checking every journal line against the event vocabulary costs: `python -m benchmarks journal`.

The same 200,000 lines (the report benchmark's synthetic journal: mostly metric samples) parsed the way the
reader did before the vocabulary was checked (JSON, three keys popped, an Event) and the way it does now
(`journal.reader.event_from_line`: the same, plus every field checked and NaN readings read as null).
Five rounds each, interleaved, in one process, so machine load hits both alike.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

LINES = 200_000
ROUNDS = 5


def main() -> None:
    from benchmarks.bench_report import write_journal
    from controlroom.journal import reader
    from controlroom.journal.events import Event

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "j.jsonl"
        write_journal(path, LINES)
        lines = path.read_bytes().split(b"\n")[1:-1]

    def unchecked() -> None:
        for line in lines:
            doc = reader._loads(line)
            type_, t, mono = doc.pop("type"), doc.pop("t"), doc.pop("mono")
            Event(type=str(type_), t=str(t), mono=float(mono), data=doc)

    def checked() -> None:
        for line in lines:
            reader.event_from_line(line)

    times: dict[str, list[float]] = {"unchecked": [], "checked": []}
    for _ in range(ROUNDS):
        for name, fn in (("unchecked", unchecked), ("checked", checked)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    a, b = statistics.median(times["unchecked"]), statistics.median(times["checked"])
    print(f"   {len(lines):,} lines, median of {ROUNDS}: unchecked {a:.3f}s ({len(lines) / a:,.0f}/s), "
          f"checked against the vocabulary {b:.3f}s ({len(lines) / b:,.0f}/s): x{b / a:.2f}")


if __name__ == "__main__":
    main()

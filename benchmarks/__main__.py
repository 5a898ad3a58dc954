"""Run every benchmark module (bench_*.py) and print its figures: `python -m benchmarks [name ...]`."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    chosen = [n for n in names if not argv or any(a in n for a in argv)]
    failed = 0
    for name in chosen:
        print(f"\n== {name} ==", flush=True)
        t0 = time.perf_counter()
        try:
            importlib.import_module(f"benchmarks.{name}").main()
        except SystemExit as exit_:
            if exit_.code not in (0, None):
                print(f"   skipped: {exit_.code}")
        except Exception as err:
            failed += 1
            print(f"   FAILED: {type(err).__name__}: {err}")
        print(f"   ({time.perf_counter() - t0:.1f}s)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

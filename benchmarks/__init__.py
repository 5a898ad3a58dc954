"""Performance figures, printed by `make bench` (python -m benchmarks). Not timed tests: figures to read."""

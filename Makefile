# The two commands of the README: `make demo` and `make test`. Each builds its own venv.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: demo test lint bench mutants screenshots clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/controlroom demo

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy

test: $(VENV)/.installed
	bash scripts/system-deps
	$(MAKE) --no-print-directory lint
	$(BIN)/pytest -n 4 --dist loadgroup

bench: $(VENV)/.installed
	$(PY) -m benchmarks

# Deliberate bugs in the safety code, one at a time, each against the fast tests that must catch it (~5 min;
# not part of `make test`). docs/testing.md keeps the results.
mutants: $(VENV)/.installed
	$(PY) scripts/mutants.py

screenshots: $(VENV)/.installed
	$(PY) -m controlroom.app.screenshots screenshots

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# The human interface: make run | test | check | bench. CI calls `make test` through .ci/run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test check bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Start Lamina on http://127.0.0.1:4566 with the example functions deployed.
run: $(STAMP)
	$(BIN)/lamina serve --examples examples

## Set up and run every test.
test: $(STAMP)
	$(BIN)/python -m pytest

## Lint and type-check.
check: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

## Benchmarks: medians and ratios, written to benchmarks/results/.
bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .lamina .pytest_cache .mypy_cache .ruff_cache

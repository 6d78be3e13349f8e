# The human interface: make run | test | check | bench. CI calls `make test` through .ci/run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test check bench install native clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## The invoke path compiled with mypyc (src/lamina/native.py), rebuilt when one of its sources changes.
## Without a C compiler it is skipped with a warning and Lamina runs from source, slower.
## CI passes NATIVE_FLAGS=--required so a failed build fails the run.
native: $(STAMP)
	$(BIN)/python -c 'import sys, lamina.native as n; sys.exit(n.main(sys.argv[1:]))' build --if-stale $(NATIVE_FLAGS)

## Start Lamina on http://127.0.0.1:4566 with the example functions deployed.
run: native
	$(BIN)/lamina serve --examples examples

## Set up and run every test.
test: native
	$(BIN)/python -m pytest

## Lint and type-check.
check: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

## Benchmarks: medians and ratios, written to benchmarks/results/.
bench: native
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .lamina .pytest_cache .mypy_cache .ruff_cache src/lamina/native.manifest
	find src -name '*.so' -delete

# The two commands of the README: `make demo` and `make test`. Everything else is for developers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest codegen bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,cli,fleet]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/godeploy demo

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests codegen
	$(BIN)/ruff format --check src tests codegen

typecheck: $(STAMP)
	$(BIN)/mypy --strict src/godeploy

pytest: $(STAMP)
	$(BIN)/pytest

codegen: $(STAMP)
	$(BIN)/python -m codegen

# BENCH_ARGS="--runs 7 --sections 2,4" to repeat more or run fewer sections.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,cli,fleet,bench]'
	$(BIN)/python -m tests.benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build .mypy_cache .ruff_cache

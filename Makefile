# The two commands of the README: `make demo` and `make test`. Everything else is for developers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The benchmarks' extras (httpx, pydantic, msgspec, ...) stay out of the test venv.
BENCH_VENV := build/bench-venv
BENCH_STAMP := $(BENCH_VENV)/.installed

# `make test` runs on $(PYTHON); `make test-matrix` runs pytest on each other claimed CPython
# found (pyenv's newest patch release, else pythonX.Y on PATH), each in its own .venv-X.Y.
MATRIX ?= 3.12 3.13
PYENV_ROOT ?= $(HOME)/.pyenv
python_of = $(or $(lastword $(sort $(wildcard $(PYENV_ROOT)/versions/$(1).*/bin/python3))),$(shell command -v python$(1) 2>/dev/null))
MATRIX_PRESENT := $(foreach version,$(MATRIX),$(if $(call python_of,$(version)),$(version)))
MATRIX_ABSENT := $(filter-out $(MATRIX_PRESENT),$(MATRIX))

# `make test-lowest`: the suite on the lowest versions pyproject's ranges allow (uv's
# lowest-direct resolution: every declared requirement at its floor, the rest at their newest).
LOWEST_VENV := .venv-lowest

.PHONY: demo demo-fleet docs test lint typecheck pytest test-slow test-lowest test-uvloop test-matrix codegen bench clean

# pip brings uv (pinned in constraints.txt) into .venv; uv installs the rest, there and in the
# other venvs, several times faster than pip, compiled to bytecode.
UV := $(BIN)/uv
UV_INSTALL := $(UV) pip install --quiet --compile-bytecode

# Our own runs keep Python's bytecode caches even where the machine says not to write them
# (PYTHONDONTWRITEBYTECODE=1 here): without them every process the tests start (a CLI run, a
# worker, a pytest child) compiles aiohttp, rich and the rest again: `godeploy --version`
# took 1.5 s instead of 0.5 s.
unexport PYTHONDONTWRITEBYTECODE

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt uv
	$(UV_INSTALL) --python $(BIN)/python -c constraints.txt \
		-e '.[dev,cli,fleet,redis,docs]'
	touch $(STAMP)

.venv-%/.installed: pyproject.toml constraints.txt $(STAMP)
	$(call python_of,$*) -m venv .venv-$*
	$(UV_INSTALL) --python .venv-$*/bin/python -c constraints.txt \
		-e '.[dev,cli,fleet,redis,docs]'
	touch $@

$(LOWEST_VENV)/.installed: pyproject.toml constraints.txt $(STAMP)
	$(PYTHON) -m venv $(LOWEST_VENV)
	$(UV_INSTALL) --python $(LOWEST_VENV)/bin/python \
		--resolution lowest-direct -e '.[dev,cli,fleet,redis,otel,docs]'
	touch $@

$(BENCH_STAMP): pyproject.toml constraints.txt $(STAMP)
	$(PYTHON) -m venv $(BENCH_VENV)
	$(UV_INSTALL) --python $(BENCH_VENV)/bin/python -c constraints.txt \
		-e '.[dev,cli,fleet,bench]'
	touch $(BENCH_STAMP)

# The demos are scripts in examples/, not commands of the installed `godeploy`.
demo: $(STAMP)
	$(BIN)/python examples/demo.py

# Redis, a capped fake API and 3 fleet workers in their own processes; one is SIGKILLed.
demo-fleet: $(STAMP)
	$(BIN)/python examples/fleet_demo.py

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests codegen
	$(BIN)/ruff format --check src tests codegen

typecheck: $(STAMP)
	$(BIN)/mypy --strict src/godeploy

# -n auto: one pytest worker per core (pytest-xdist); `pytest` alone runs in one process.
pytest: $(STAMP)
	$(BIN)/pytest -n auto

# The long runs (soak, SIGKILLed workers, installs): `make test` leaves them out.
test-slow: $(STAMP)
	$(BIN)/pytest -m slow

# Every async test on uvloop's event loop, the loop uvicorn runs by default.
test-uvloop: $(STAMP)
	$(BIN)/pytest -q -n auto --uvloop

test-lowest: $(LOWEST_VENV)/.installed
	@$(LOWEST_VENV)/bin/python -c "import importlib.metadata as m; \
		print('test-lowest on', ', '.join(f'{n} {m.version(n)}' for n in \
		('aiohttp', 'attrs', 'cattrs', 'yarl', 'opentelemetry-api', 'typer', 'rich', 'arq', 'redis')))"
	$(LOWEST_VENV)/bin/pytest -q -n auto

test-matrix: $(MATRIX_PRESENT:%=.venv-%/.installed)
	@passed=""; failed=""; \
	for version in $(MATRIX_PRESENT); do \
		echo "== pytest on $$(.venv-$$version/bin/python -V) (.venv-$$version)"; \
		if .venv-$$version/bin/pytest -q -n auto; then passed="$$passed $$version"; \
		else failed="$$failed $$version"; fi; \
	done; \
	echo "test-matrix: passed:$${passed:- none}; failed:$${failed:- none}; absent:$(if $(MATRIX_ABSENT), $(MATRIX_ABSENT), none)"; \
	test -z "$$failed"

codegen: $(STAMP)
	$(BIN)/python -m codegen

# The site (guide, API reference, benchmarks page) into build/site; a warning fails it.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# BENCH_ARGS="--runs 7 --sections 2,4" to repeat more or run fewer sections.
bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python -m tests.benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(LOWEST_VENV) $(MATRIX:%=.venv-%) build .mypy_cache .ruff_cache

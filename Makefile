# The two commands of the quick start: `make demo` and `make test`. Each creates the
# virtual environment when needed, so both work from a fresh clone with Python 3.11 and pip.
# `make demo` installs the runtime dependencies (and Cython, to compile the hot path); `make
# test` adds the dev extras (pytest, hypothesis, ruff, the notebook runner). Both compile the
# hot path first (`native`, README "Compiled hot path"); without a C compiler they say so and
# run everything as Python.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev

.PHONY: demo test bench clean native

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[native]'
	touch $(RUNTIME)

$(DEV): $(RUNTIME)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(DEV)

# Compiles only the hot modules edited since their last build: a no-op when none was.
native: $(RUNTIME)
	$(BIN)/python -m sim.compile build

demo: native
	$(BIN)/cascadesim compare scenarios/quickstart.yaml --protocols none,softlock

test: $(DEV) native
	$(BIN)/ruff check sim tests bench
	$(BIN)/python -m pytest

# The random-worlds gate on many fresh worlds (CI runs a fixed 250): README, Development.
CASCADESIM_FUZZ_EXAMPLES ?= 2000
.PHONY: fuzz
fuzz: $(DEV) native
	CASCADESIM_FUZZ_EXAMPLES=$(CASCADESIM_FUZZ_EXAMPLES) $(BIN)/python -m pytest -p no:cacheprovider \
		--hypothesis-show-statistics tests/test_random_worlds.py::test_random_worlds_hold_every_invariant

bench: native
	$(BIN)/python bench/scale.py --appliances 30 --days 30
	$(BIN)/python bench/scale.py --appliances 30 --days 30 --protocol softlock
	$(BIN)/python bench/scale.py --appliances 300 --days 30
	$(BIN)/python bench/scale.py --appliances 99 --days 140
	$(BIN)/python bench/limits.py deep_chain --depth 500 --hours 24 --protocol none
	$(BIN)/python bench/limits.py deep_chain --depth 500 --hours 24 --protocol softlock
	$(BIN)/python bench/limits.py large_keep --keep 100000 --hours 96 --protocol none
	$(BIN)/python bench/limits.py large_keep --keep 100000 --hours 96 --protocol softlock

clean:
	rm -rf $(VENV) results/*/ .pytest_cache sim/_native

# The two commands of the quick start: `make demo` and `make test`. Each creates the
# virtual environment when needed, so both work from a fresh clone with Python 3.11 and pip.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cascadesim compare scenarios/quickstart.yaml --protocols none,softlock

test: $(STAMP)
	$(BIN)/ruff check sim tests bench
	$(BIN)/python -m pytest

# The random-worlds gate on many fresh worlds (CI runs a fixed 250): README, Development.
CASCADESIM_FUZZ_EXAMPLES ?= 2000
.PHONY: fuzz
fuzz: $(STAMP)
	CASCADESIM_FUZZ_EXAMPLES=$(CASCADESIM_FUZZ_EXAMPLES) $(BIN)/python -m pytest -p no:cacheprovider \
		--hypothesis-show-statistics tests/test_random_worlds.py::test_random_worlds_hold_every_invariant

bench: $(STAMP)
	$(BIN)/python bench/scale.py --appliances 30 --days 30
	$(BIN)/python bench/scale.py --appliances 30 --days 30 --protocol softlock
	$(BIN)/python bench/scale.py --appliances 300 --days 30
	$(BIN)/python bench/scale.py --appliances 99 --days 365

clean:
	rm -rf $(VENV) results/*/ .pytest_cache

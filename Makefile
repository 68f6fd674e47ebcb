# SmartMine: `make run` serves the live system, `make test` passes the tests. Both set everything up.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SERVICES := $(PY) -m smartmine.devservices run --
# The tests' own namespace on a shared Redis: tasks they queue are never run by a `make run` of this checkout.
TEST_INSTALLATION_ID ?= smartmine-tests
# The suite runs in this many processes (pytest-xdist; 0: in one). Each has its own test database and Redis
# namespace (tests/conftest.py). `--dist load` keeps pytest-django's order within each process: tests on a
# rolled-back transaction first, then those that empty the tables, and with them the roles, alarm rules and
# schedules the migrations wrote.
TEST_WORKERS ?= 2

.PHONY: run test fuzz lint format bench soak install services stop-services clean

$(STAMP): requirements/base.txt requirements/dev.txt requirements/constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "SmartMine needs Python 3.11 or newer: install python3.11 (apt-get install python3.11 python3.11-venv)")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { echo "could not create $(VENV): install the venv module (apt-get install python3-venv)"; exit 1; }
	$(PY) -m pip install -q --disable-pip-version-check -r requirements/dev.txt -c requirements/constraints.txt
	@touch $(STAMP)

install: $(STAMP)

## run: install, start PostgreSQL/Redis if needed, migrate, seed, then daphne + worker + beat (Ctrl-C stops all)
run: install
	API_ALLOW_ANONYMOUS_READ=$${API_ALLOW_ANONYMOUS_READ:-true} $(SERVICES) $(PY) manage.py runsystem

## test: install, start PostgreSQL/Redis if needed, lint (ruff, the import layers), then the whole test suite
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m smartmine.devservices browser
	INSTALLATION_ID=$(TEST_INSTALLATION_ID) $(SERVICES) $(PY) -m pytest -n $(TEST_WORKERS) --dist load $(PYTEST_ARGS)

## fuzz: the API fuzzing of `make test` at length: 30 cases per operation and mode, 20 stateful scenarios,
## as each role and anonymous (FUZZ_SEED=... replays a run; FUZZ_EXAMPLES, FUZZ_STATEFUL, FUZZ_STEPS tune it)
fuzz: install
	INSTALLATION_ID=$(TEST_INSTALLATION_ID) FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-30} FUZZ_STATEFUL=$${FUZZ_STATEFUL:-20} \
		FUZZ_STEPS=$${FUZZ_STEPS:-10} $(SERVICES) $(PY) -m pytest tests/smartmine/test_api_fuzz.py -p no:logging $(PYTEST_ARGS)

## bench: the benchmark suite (QUICK=1 for a small version); never part of `make test`
bench: install
	$(PY) -m smartmine.devservices bench-tools
	$(SERVICES) $(PY) -m bench $(if $(QUICK),--quick,)

## soak: 30 min of the real system (1,000 trucks, 1 tick/s, 500 WebSocket clients); SOAK_ARGS="--minutes 5"
soak: install
	$(SERVICES) $(PY) -m bench.soak $(SOAK_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

services: install
	$(PY) -m smartmine.devservices ensure

stop-services:
	$(PY) -m smartmine.devservices stop

clean: stop-services
	rm -rf $(VENV) var

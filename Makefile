# Two set-up commands for a fresh machine (see README):
#   make demo   installs ClassPulse into .venv and runs the offline demo class
#   make test   installs it with the dev tools and runs lint, type checks and all tests
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test test-postgres quick component lint types install install-dev clean model

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'

demo: install
	$(BIN)/classpulse demo

lint: install-dev
	$(BIN)/ruff check .

types: install-dev
	$(BIN)/mypy

# The whole suite: unit tests plus the slow and integration ones (they skip cleanly when
# ../shared/datasets is absent).
test: install-dev
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS)
	$(MAKE) test-postgres

# The store and service suites once more on PostgreSQL (a throw-away cluster the tests start;
# Debian's `postgresql` package must be installed: .ci/run installs it).
PG_SUITES = tests/test_migrations.py tests/test_store.py tests/test_db_service_state.py tests/test_session_runner.py \
            tests/test_purge.py tests/test_timetable_import.py tests/test_course_summaries.py tests/test_course_inputs.py \
            tests/test_service_*.py
test-postgres: install-dev
	CLASSPULSE_TEST_DB=postgresql $(BIN)/pytest $(PYTEST_ARGS) $(PG_SUITES)

# The quick suite while developing (under 30 s): the unit tests of the core, no slow, integration or
# component tests, and nothing that loads TensorFlow (tests/conftest.py fails an unmarked test that
# does). Prints its slowest tests. `make component` runs the service and connector component tests.
quick:
	$(BIN)/pytest -q -m "not slow and not integration and not component" --durations=15

component:
	$(BIN)/pytest -q -m "component and not slow and not integration" --durations=15

# Retrain the committed emotion model from scratch (two stages, about 70 minutes on 2 cores;
# resumable: run it again after an interruption). Needs FER-2013 in ../shared/datasets/fer2013.
FER ?= ../shared/datasets/fer2013
model: install
	$(BIN)/classpulse train --data $(FER) --name vgg-a --epochs 32 --seed 1
	$(BIN)/classpulse train --data $(FER) --name vgg-a-ft --init runs/vgg-a --epochs 30 --lr 1e-3 \
		--class-weight-power 0.3 --seed 3 --export model/emotion

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# The two commands: `make run` installs and starts the hub; `make test` installs and runs every test.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip --disable-pip-version-check -q
PYTHON ?= python3

.PHONY: run test install test-install system-deps lint unit integration integration-postgres fuzz bench mutation

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -e .
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/modelyard serve

# CPU build of torch first (transformers tests); then the test extras, which it already satisfies.
$(VENV)/.test-installed: $(VENV)/.installed pyproject.toml
	$(PIP) install "torch==2.13.0"
	$(PIP) install -e ".[test]"
	touch $@

test-install: $(VENV)/.test-installed

# Programs the tests drive that are not Python packages.
system-deps:
	@command -v git >/dev/null && command -v git-lfs >/dev/null || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git git-lfs >/dev/null; }

lint: test-install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

unit: test-install
	$(VENV)/bin/pytest -q tests/unit

integration: test-install system-deps
	$(VENV)/bin/pytest -q tests/integration

# The integration suite again on PostgreSQL, when one answers on 127.0.0.1:5432 (or MODELYARD_TEST_DATABASE_URL).
# Under CI=true PostgreSQL is expected: its absence fails the target instead of skipping the run.
integration-postgres: test-install system-deps
	@$(PY) tests/postgres_available.py; status=$$?; \
	if [ $$status -eq 0 ]; then \
		MODELYARD_TEST_BACKEND=postgresql $(VENV)/bin/pytest -q tests/integration; \
	elif [ $$status -eq 1 ]; then echo "PostgreSQL not reachable: skipping the PostgreSQL run"; \
	else exit $$status; fi

test: lint unit integration integration-postgres

# Five minutes of schemathesis with a fresh random seed (the integration suite runs a short, fixed pass); any 5xx fails.
fuzz: test-install
	MODELYARD_FUZZ_EXAMPLES=$${MODELYARD_FUZZ_EXAMPLES:-50} MODELYARD_FUZZ_MAX_TIME=$${MODELYARD_FUZZ_MAX_TIME:-300} \
		MODELYARD_FUZZ_SEED=random $(VENV)/bin/pytest -q tests/integration/test_fuzz.py -k generated

# Mutation testing of the modules that guard data and access (tests/mutation/run.py; not part of `make test`).
# Prints killed/survived per module and writes build/mutation/report.md; docs/testing.md records the last run.
mutation: test-install system-deps
	$(PIP) install -e ".[test,mutation]"
	$(PY) tests/mutation/run.py $(MODULES)

bench: test-install
	$(PY) bench/download_throughput.py

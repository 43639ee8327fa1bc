# Two commands for a new user: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# A fixed key for test data only; real deployments set ENCRYPTION_KEYS.
TEST_ENCRYPTION_KEY := dGVzdC1vbmx5LWVuY3J5cHRpb24ta2V5LTMyYnl0ZXM=

.PHONY: run test lint typecheck check bench chaos

$(STAMP): pyproject.toml
	@test -x $(PY) || "$$(scripts/find-python)" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## Set up, migrate, start the emulator with two demo orgs, the web server and a worker.
run: $(STAMP)
	DEBUG=$${DEBUG:-1} $(PY) manage.py demo $(DEMO_ARGS)

## Set up and run the whole test suite (PostgreSQL/Redis from DATABASE_URL/REDIS_URL if set).
## Installs Debian's chromium for the browser tests when run as root (scripts/ensure-chromium).
test: $(STAMP)
	@scripts/ensure-chromium
	SECRET_KEY=$${SECRET_KEY:-test-only-secret-key} \
	ENCRYPTION_KEYS=$${ENCRYPTION_KEYS:-$(TEST_ENCRYPTION_KEY)} \
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	DEBUG=1 $(PY) -m mypy .

check: test lint typecheck

## Kill workers (kill -9) and inject faults mid-run; fail on any duplicate, lost
## mapping or manual launch (issue 11). CHAOS_ARGS="--kills 100 --db-restart ...".
CHAOS_ARGS ?= --kills 10 --fault-rate 0.05
chaos: $(STAMP)
	SECRET_KEY=$${SECRET_KEY:-test-only-secret-key} \
	ENCRYPTION_KEYS=$${ENCRYPTION_KEYS:-$(TEST_ENCRYPTION_KEY)} \
	sh -c '$(PY) manage.py migrate --noinput -v0 && $(PY) manage.py chaos $(CHAOS_ARGS)'

## Performance figures (records/s, API calls per 1,000 records, peak memory).
# With BENCH_DATABASE_URL (a PostgreSQL database of its own, emptied first) it also
# times the mapping lookup among 5,000,000 mappings.
bench: $(STAMP)
	$(PY) benchmarks/emulator_bench.py
	$(PY) benchmarks/migration_bench.py --records 50000 --pairs 5 \
		$${BENCH_DATABASE_URL:+--lookup-mappings 5000000}

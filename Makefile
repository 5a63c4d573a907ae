# peerlink: `make run` serves the demo, `make test` runs the whole suite (both from a fresh clone).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest-xdist workers: each starts its own throwaway PostgreSQL and Redis. Two fit the CI's
# two cores; TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2

.PHONY: install run test test-sqlite test-postgres lint bench screenshots clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# The demo's survey links carry the server's address, so seeding knows it too.
run: install
	PEERLINK_ENV=local $(PY) manage.py migrate --noinput
	PEERLINK_ENV=local PEERLINK_PUBLIC_URL=$${PEERLINK_PUBLIC_URL:-http://$(HOST):$(PORT)} $(PY) manage.py seed_demo
	PEERLINK_ENV=local PEERLINK_PUBLIC_URL=$${PEERLINK_PUBLIC_URL:-http://$(HOST):$(PORT)} $(PY) -m uvicorn peerlink.asgi:application --host $(HOST) --port $(PORT) --app-dir platform --no-access-log

# The whole suite on SQLite (plus the real Redis/PostgreSQL tests), then every database test
# again on a real PostgreSQL server that the suite starts itself.
test: install
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

test-sqlite: install
	PEERLINK_TEST_DB=sqlite $(PY) -m pytest -q -n $(TEST_WORKERS)

test-postgres: install
	PEERLINK_TEST_DB=postgres $(PY) -m pytest -q -m db -n $(TEST_WORKERS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy platform messaging scheduling outcomes

# Every benchmark with its baseline (docs/performance.md). BENCH_ARGS=--quick for a short run;
# BENCH_ARGS=chat for one benchmark. The chat benchmark starts its own PostgreSQL and Redis.
bench: install
	$(PY) bench/run.py $(BENCH_ARGS)

# The README's pictures of the web client: the browser tests save one per page there.
screenshots: install
	PEERLINK_SCREENSHOT_DIR=$(CURDIR)/docs/screenshots $(PY) -m pytest -q -p no:xdist tests/browser

clean:
	rm -rf $(VENV) var

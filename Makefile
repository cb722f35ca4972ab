# Two commands matter: `make run` runs the product, `make test` passes the tests.
# Both create or reuse .venv and install what they need.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.movierec-installed
WEB := app/web
WEB_STAMP := $(WEB)/node_modules/.movierec-installed
# System packages come from apt; root installs them directly, anyone else through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install run test lint typecheck pytest browser plain-postgres bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: any other spec makes pip download a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# GraphiQL's JavaScript and CSS, from the npm registry at the versions in package-lock.json;
# the app serves them itself, so no page needs a CDN.
$(WEB_STAMP): $(WEB)/package.json $(WEB)/package-lock.json
	command -v npm >/dev/null || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nodejs npm)
	npm ci --prefix $(WEB) --no-audit --no-fund --loglevel=error
	touch $(WEB_STAMP)

install: $(STAMP) $(WEB_STAMP)

# Headless Chromium and its WebDriver (Debian packages) for the browser tests.
browser:
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium chromium-driver)

run: install
	$(BIN)/movierec up

lint: install
	$(BIN)/ruff check app schema jobs tests bench
	$(BIN)/ruff format --check app schema jobs tests bench

typecheck: install
	$(BIN)/mypy
	npm run --prefix $(WEB) --silent typecheck

# Debian's PostgreSQL 15 (it has no pgvector): the tests of a database without pgvector run on it.
plain-postgres:
	test -x /usr/lib/postgresql/15/bin/postgres || \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq postgresql)

# The API's tests run twice: on PostgreSQL with pgvector, then on one without it (the same answers
# from the in-process exact search; tests marked `pgvector` are skipped there).
API_TESTS := tests/test_api_queries.py tests/test_api_recommendations.py tests/test_api_access.py \
	tests/test_search.py tests/test_admin_api.py tests/test_jobs_api.py

pytest: install browser plain-postgres
	HF_HUB_OFFLINE=1 MOVIEREC_REQUIRE_BROWSER=1 MOVIEREC_REQUIRE_PLAIN_POSTGRES=1 $(BIN)/pytest
	HF_HUB_OFFLINE=1 MOVIEREC_TEST_SERVER=plain $(BIN)/pytest -q $(API_TESTS)

test: lint typecheck pytest

# Benchmarks read ../shared/data; the API benchmark drives the server with wrk (Debian's package).
bench: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.embed
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.api
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.refresh
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.vectors
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.fallback
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.train

clean:
	rm -rf $(VENV) $(WEB)/node_modules .pytest_cache .mypy_cache .ruff_cache test-artifacts

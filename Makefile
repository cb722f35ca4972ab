# Two commands matter: `make run` runs the product, `make test` passes the tests.
# Both create or reuse .venv and install what they need.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.movierec-installed

.PHONY: install run test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: any other spec makes pip download a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/movierec up

lint: install
	$(BIN)/ruff check app schema jobs tests bench
	$(BIN)/ruff format --check app schema jobs tests bench

typecheck: install
	$(BIN)/mypy

pytest: install
	HF_HUB_OFFLINE=1 $(BIN)/pytest

test: lint typecheck pytest

# Benchmarks read ../shared/data; the API benchmark drives the server with wrk (Debian's package).
bench: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.embed
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.api
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.refresh
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.vectors

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# `make run` and `make test` each create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test lint bench clean

# The server and its client are two distributions (the client in client/); both come from here.
$(INSTALLED): pyproject.toml client/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ./client -e '.[test,couchbase]'
	touch $(INSTALLED)

run: $(INSTALLED)
	$(BIN)/couchqueue serve

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

# `make bench BENCH_ARGS=--quick` for a shorter run. Needs wrk (installed with apt-get as root).
BENCH_ARGS ?=
bench: $(INSTALLED)
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; } || \
		{ echo "bench needs wrk: apt-get install wrk (or brew install wrk)"; exit 1; }
	@$(BIN)/python -c "import websockets, orjson, uvloop" 2>/dev/null || $(BIN)/pip install --quiet websockets orjson uvloop
	timeout 1200 $(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) couchqueue.db couchqueue.db-wal couchqueue.db-shm

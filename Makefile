# `make run` and `make test` each create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test lint bench clean soak

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

# The Couchbase store against the faulty test node, 20 seeds of 10 s each (CI runs 3 short ones).
# A failure prints its seed; rerun it alone with SOAK_SEEDS=<seed>.
SOAK_SEEDS ?= 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20
SOAK_SECONDS ?= 10
soak: $(INSTALLED)
	COUCHQUEUE_SOAK_SEEDS=$(SOAK_SEEDS) COUCHQUEUE_SOAK_SECONDS=$(SOAK_SECONDS) \
		timeout 1800 $(BIN)/pytest tests/store/test_couchbase_faults.py -q -rA

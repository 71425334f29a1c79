# Two commands set everything up on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: serve test install bench dist test-dist clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml $(wildcard plugins/pyproject.toml)
	$(BIN)/pip install -q -e . $(if $(wildcard plugins/pyproject.toml),-e plugins)
	touch $@

install: $(STAMP)

# Initialises ./data on first run (printing the owner API key once), then serves.
serve: $(STAMP)
	$(BIN)/alertflow serve

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[test]' -e tests/testkit
	@# The dashboard and widget tests drive Debian's chromium; install it where we can.
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium not installed: browser tests will skip"; }
	touch $@

test: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/alertflow bench

clean:
	rm -rf $(VENV) build/dist build/work

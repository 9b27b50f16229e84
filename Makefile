# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed
# setuptools announces how it made an editable install with a warning it calls information only
# (pypa/packaging-problems#558); pip shows it, and it would open every first `make demo`.
PIP_INSTALL := $(BIN)/python -W "ignore:Editable installation" -m pip install --quiet
# What the tests need beyond .venv (a server, a browser): one scripts/deps-*.sh per need, run in name
# order, each quick when its need is met already. Adding one needs no change here.
DEPS_SCRIPTS := $(sort $(wildcard scripts/deps-*.sh))

.PHONY: demo test test-js lint deps wheel-smoke bench clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip
	$(PIP_INSTALL) -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mesh-tools demo

lint: $(STAMP)
	$(BIN)/ruff check mesh_tools tests bench setup.py
	$(BIN)/ruff format --check mesh_tools tests bench setup.py
	$(BIN)/mypy

deps:
	for script in $(DEPS_SCRIPTS); do bash $$script || exit 1; done

# The built wheel, installed outside the repository, runs the demo and the core eval suite.
wheel-smoke: $(STAMP)
	scripts/wheel-smoke.sh $(BIN)/python

test: lint deps wheel-smoke
	$(BIN)/pytest
	$(MAKE) test-js

# The Node and browser tests (js/test) start a real `mesh-tools serve` from the virtualenv; without
# Node they skip, except under CI=true (scripts/deps-web.sh installs Node, npm packages and chromium).
test-js: $(STAMP)
	@if command -v npm >/dev/null && [ -d js/node_modules ]; then \
		cd js && MESH_TOOLS_PYTHON=$(CURDIR)/$(BIN)/python npm test; \
	elif [ "$$CI" = true ]; then echo "test-js: Node or js/node_modules missing (run make deps)" >&2; exit 1; \
	else echo "test-js: skipped, Node or js/node_modules missing (run make deps)"; fi

# Every bench in one run (under 10 minutes on 2 cores), then one table of ours beside the references:
# bench/results.md, each bench's own output in bench/results.log. `python bench/all.py --help` for more.
bench: $(BENCH_STAMP)
	$(BIN)/python bench/all.py

# The benches' references (pycrdt-websocket), installed once rather than on every `make bench` (~15 s).
$(BENCH_STAMP): $(STAMP)
	$(PIP_INSTALL) -e '.[bench]'
	touch $(BENCH_STAMP)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache js/node_modules

# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-js deps lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mesh-tools demo

lint: $(STAMP)
	$(BIN)/ruff check mesh_tools tests bench
	$(BIN)/ruff format --check mesh_tools tests bench
	$(BIN)/mypy

# Node, npm packages and chromium for the JavaScript and browser tests (scripts/install-test-deps.sh).
deps: $(STAMP)
	bash scripts/install-test-deps.sh

test: lint deps
	$(BIN)/pytest
	$(MAKE) test-js

# The Node tests start a real `mesh-tools serve` from the virtualenv; without Node they skip (not in CI).
test-js: $(STAMP)
	@if command -v npm >/dev/null && [ -d js/node_modules ]; then \
		cd js && MESH_TOOLS_PYTHON=$(CURDIR)/$(BIN)/python npm test; \
	elif [ "$$CI" = true ]; then echo "test-js: Node or js/node_modules missing (run make deps)" >&2; exit 1; \
	else echo "test-js: skipped, Node or js/node_modules missing (run make deps)"; fi

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache js/node_modules

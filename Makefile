# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint js-deps bench clean

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

# Node and the npm packages of the JS-Yjs hostile writer test (scripts/install-js-test-deps.sh).
js-deps:
	bash scripts/install-js-test-deps.sh

test: lint js-deps
	$(BIN)/pytest

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache tests/js_hostile/node_modules

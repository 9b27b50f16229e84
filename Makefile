# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

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

# The MCP Inspector CLI (npm, pinned by its lockfile) that tests/tools/test_mcp_inspector.py drives.
INSPECTOR := scripts/mcp-inspector/node_modules/.bin/mcp-inspector

$(INSPECTOR): scripts/mcp-inspector/package-lock.json scripts/install-mcp-inspector.sh
	./scripts/install-mcp-inspector.sh

test: lint $(INSPECTOR)
	$(BIN)/pytest

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache

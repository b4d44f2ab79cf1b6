# Two entry points, each doing all of its set-up on a fresh machine:
#   make lab    JupyterLab with the extension, on notebooks/ (the quickstart open)
#   make test   every test: lint, types, unit, server, interop (node, y-py), browser (chromium)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
PORT ?= 8888

.PHONY: lab test setup browser lint benchmark clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Installs the package (building the labextension with jlpm) and the test tools.
$(VENV)/.installed: $(BIN)/python pyproject.toml labextension/package.json labextension/yarn.lock
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

setup: $(VENV)/.installed

# Debian's chromium for the browser tests (never a downloaded browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null; }

lab: setup
	$(BIN)/jupyter lab --no-browser $(ROOT_FLAG) --port=$(PORT) \
	  --ServerApp.root_dir=notebooks notebooks/quickstart.ipynb

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check jupyter_ysync
	$(BIN)/mypy

test: setup browser lint
	$(BIN)/python -m pytest

benchmark: setup
	$(BIN)/pip install --quiet -e ".[test,bench]"
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) labextension/node_modules labextension/lib jupyter_ysync/labextension

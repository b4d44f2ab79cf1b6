# Two entry points, each doing all of its set-up on a fresh machine:
#   make lab    JupyterLab with the extension, on notebooks/ (the quickstart open)
#   make test   every test: lint, types, unit, server, interop (node, y-py), browser (chromium),
#               a reverse proxy (nginx), several servers on Redis (redis-server),
#               with coverage
# For the daily loop: make test-fast (no browser, no interop), make fuzz, make benchmark.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
PORT ?= 8888

.PHONY: lab test test-fast setup browser lint benchmark fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Installs the package (building the labextension with jlpm) and the test tools.
$(VENV)/.installed: $(BIN)/python pyproject.toml labextension/package.json labextension/yarn.lock
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

setup: $(VENV)/.installed

# Debian's packages the tests run for real: chromium for the browser tests (never a downloaded
# browser), nginx as the reverse proxy that strips websockets, redis-server for rooms spread
# over several servers. (The tests start and stop their own instances.)
DEBIAN_TOOLS := chromium nginx redis-server
browser:
	@missing=""; for tool in $(DEBIAN_TOOLS); do \
	  command -v $$tool >/dev/null 2>&1 || [ -x /usr/sbin/$$tool ] || missing="$$missing $$tool"; \
	done; \
	case "$$missing" in *chromium*) missing="$$missing fonts-liberation";; esac; \
	if [ -n "$$missing" ]; then \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# The printed URL opens the quickstart.
lab: setup
	$(BIN)/jupyter lab --no-browser $(ROOT_FLAG) --port=$(PORT) \
	  --ServerApp.root_dir=notebooks --LabApp.default_url=/lab/tree/quickstart.ipynb

lint: setup lint-ts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check jupyter_ysync tests benchmarks
	$(BIN)/mypy

# The labextension's TypeScript: prettier, eslint, then the jest unit tests. jlpm's
# scripts call jlpm again, so the venv's bin goes first on PATH.
JLPM := cd labextension && PATH="$(abspath $(BIN)):$$PATH" jlpm
.PHONY: lint-ts
lint-ts: setup labextension/node_modules/.yarn-state.yml
	$(JLPM) lint:check
	$(JLPM) test

labextension/node_modules/.yarn-state.yml: labextension/package.json labextension/yarn.lock
	$(JLPM) install
	touch $@

test: setup browser lint
	$(BIN)/python -m pytest --cov --cov-report=
	# The guarantee scenarios again, each server process on its own redis-server (Redis mode).
	YSYNC_TEST_REDIS=1 $(BIN)/python -m pytest --cov --cov-append --cov-report=term:skip-covered \
	  tests/test_guarantees.py tests/test_notebooks.py

test-fast: setup
	$(BIN)/python -m pytest -m "not browser and not interop"

benchmark: setup
	$(BIN)/pip install --quiet -e ".[test,bench]"
	$(BIN)/python -m benchmarks

# 100,000 bad frames against a server process while good peers edit (benchmarks/README.md).
fuzz: setup
	$(BIN)/python -m benchmarks.fuzz

clean:
	rm -rf $(VENV) labextension/node_modules labextension/lib jupyter_ysync/labextension

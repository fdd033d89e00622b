# One-command setup: every target builds what it needs from python3, node/npm and make alone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
NODE_STAMP := node_modules/.installed-stamp
PYTEST_ARGS ?=

.PHONY: setup test lint deploy-check demo sim-demo bench clean

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check \
		-r requirements.txt -r requirements-dev.txt -c constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(STAMP) $(NODE_STAMP)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy

# Starts Azurite on free loopback ports for the whole run; graphsim servers are started per
# test worker by the fixtures. Both are stopped when the run ends, pass or fail.
test: setup lint deploy-check
	bash scripts/check_infra.sh
	$(PY) -m tests.support.servers -- $(PY) -m pytest -n 2 $(PYTEST_ARGS)

# The package as the Functions host gets it: .funcignore's files, requirements.txt alone in a
# fresh virtualenv (.venv-runtime), function_app and every engine module imported from there.
deploy-check: setup
	$(PY) scripts/deploy_package.py check

demo: setup
	$(PY) scripts/demo.py

sim-demo: setup
	$(PY) -m graphsim.demo

# Benchmarks print figures (docs/benchmarks.md); the 1,000,000-object runs take minutes.
bench: setup
	$(PY) bench/graphsim_list_users.py
	$(PY) bench/capture.py
	$(PY) bench/diff.py

clean:
	rm -rf $(VENV) .venv-runtime .venv-checkov node_modules .pytest_cache .ruff_cache .mypy_cache

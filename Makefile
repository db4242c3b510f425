# Two commands do all set-up on a fresh machine:
#   make run   - create .venv if missing, then run the default experiment on CPU
#   make test  - create .venv if missing, then run the test suite
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUN_DIR ?= runs/default
PYTEST_ARGS ?=

.PHONY: run test venv clean benchmarks

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m experiments.demo --workdir=$(RUN_DIR)

test: $(STAMP)
	$(PY) -m pytest -n 2 -q $(PYTEST_ARGS)

benchmarks: $(STAMP)
	$(PY) -m benchmarks.samplers --out runs/benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache

# Two commands do all set-up on a fresh machine:
#   make run   - create .venv if missing, then run the default experiment on CPU
#   make test  - create .venv if missing, then run the test suite
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUN_DIR ?= runs/default
PYTEST_ARGS ?=
RUN_ARGS ?=
FMNIST_DIR := /usr/share/datasets/fashion-mnist
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-slow test-all venv clean benchmarks data demo mutation

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e ".[dev]"
	touch $(STAMP)

# Offline real data: Fashion-MNIST from Debian's dataset-fashion-mnist package, and the
# aeon/statsmodels wheels whose bundled time series diffax.data.timeseries reads
# (downloaded, not installed; pinned with hashes in requirements-data.lock).
DATA_WHEELS := $(VENV)/share/diffax-data
DATA_WHEEL_FILES := aeon-1.6.0-py3-none-any.whl \
  statsmodels-0.15.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl \
  pyvista-0.49.2-py3-none-any.whl
data: $(STAMP)
	@test -f $(FMNIST_DIR)/train-images-idx3-ubyte.gz || \
	  ($(SUDO) apt-get install -y -q dataset-fashion-mnist || \
	   ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q dataset-fashion-mnist))
	@missing=; for f in $(DATA_WHEEL_FILES); do test -f $(DATA_WHEELS)/$$f || missing=1; done; \
	  test -z "$$missing" || $(PY) -m pip download -q --no-deps --require-hashes \
	    --only-binary=:all: --platform manylinux_2_28_x86_64 --python-version 3.11 \
	    --implementation cp --abi cp311 -r requirements-data.lock -d $(DATA_WHEELS)

# The default experiment: train the Fashion-MNIST EDM U-Net on CPU for a few minutes,
# sample with DPM-Solver++(2M) at 15 NFE, evaluate; everything lands in $(RUN_DIR).
run: $(STAMP) data
	$(PY) -m experiments.main --config=configs/image/fashion_mnist_edm.py \
	  --workdir=$(RUN_DIR) --mode=train,sample,eval $(RUN_ARGS)

# The exact-oracle sampler demo (2-D Gaussian mixture, no training).
demo: $(STAMP)
	$(PY) -m experiments.demo --workdir=runs/demo

# `make test` (CI, under 20 minutes on 2 cores) leaves out the tests marked slow: notebooks
# but one, runs of whole experiments and CLIs in subprocesses, and networks trained to a
# quality bar (docs/testing.md). `make test-slow` runs only those; `make test-all` both.
TEST_MARKERS ?= not slow
PYTEST := $(PY) -m pytest -n 2 --dist loadscope --no-loadscope-reorder -q

test: $(STAMP) data
	$(PYTEST) -m "$(TEST_MARKERS)" $(PYTEST_ARGS)

test-slow: $(STAMP) data
	$(PYTEST) -m slow $(PYTEST_ARGS)

test-all: $(STAMP) data
	$(PYTEST) $(PYTEST_ARGS)

benchmarks: $(STAMP)
	$(PY) -m benchmarks.samplers --out runs/benchmarks
	$(PY) -m benchmarks.likelihood --out runs/benchmarks/likelihood
	$(PY) -m benchmarks.inverse --out runs/benchmarks/inverse

# Mutation testing (on demand, not part of `make test`; docs/testing.md): mutmut, pinned in
# the `mutation` extra, per module against that module's own tests. [tool.mutmut] in
# pyproject.toml is written for guidance; each module runs in runs/mutation/<module>/ with a
# copy of pyproject.toml retargeted to diffax/<module>/ and tests/<module>, a copy of diffax/
# whose registering decorators are rewritten as calls (mutmut skips decorated functions;
# benchmarks/mutation_prepare.py) and a link to tests/ (mutmut reads its config from the
# working directory and copies the code it mutates into ./mutants/). Scores land in
# runs/mutation/<module>.txt.
# MUTATION_MODULES=guidance narrows the run; MUTATION_JOBS sets mutmut's worker count.
MUTATION_MODULES ?= guidance losses likelihood inverse samplers
MUTATION_JOBS ?= 2
mutation: $(STAMP)
	$(PY) -m pip install -q -c requirements.lock -e ".[mutation]"
	@set -e; for m in $(MUTATION_MODULES); do \
	  d=runs/mutation/$$m; mkdir -p $$d; \
	  rm -rf $$d/diffax; cp -r $(CURDIR)/diffax $$d/diffax; ln -sfn $(CURDIR)/tests $$d/tests; \
	  $(PY) -m benchmarks.mutation_prepare $$d/diffax/$$m/*.py; \
	  sed -e "s#\"diffax/guidance/\"#\"diffax/$$m/\"#" -e "s#\"tests/guidance\"#\"tests/$$m\"#" \
	    pyproject.toml > $$d/pyproject.toml; \
	  echo "== mutation testing diffax/$$m with tests/$$m"; \
	  (cd $$d && $(CURDIR)/$(VENV)/bin/mutmut run --max-children $(MUTATION_JOBS) > run.log 2>&1; \
	   tail -n 1 run.log | tr '\r' '\n' | tail -n 1 > ../$$m.txt; \
	   $(CURDIR)/$(VENV)/bin/mutmut results >> ../$$m.txt); \
	  cat runs/mutation/$$m.txt; \
	done

clean:
	rm -rf $(VENV) runs .pytest_cache

# Mutation testing with the in-process runner (benchmarks/mutation_inproc.py; docs/testing.md,
# "Measured (2026-12): the DPM-Solver engine files"): mutmut only generates the mutants, one
# process runs every mutant's tests. MUTATION_SPEC is a spec of test groups (built with
# benchmarks/mutation_spec.py); results are appended to MUTATION_OUT (resumable).
MUTATION_WORKDIR ?= runs/mutation/inproc
MUTATION_MODULE ?= samplers
MUTATION_FILES ?= dpm_solver_engine.py,dpm_solver.py,dpm_solver_pp.py
MUTATION_SPEC ?= $(MUTATION_WORKDIR)/spec.json
MUTATION_OUT ?= $(MUTATION_WORKDIR)/results.jsonl
.PHONY: mutation-inproc
mutation-inproc: $(STAMP)
	$(PY) -m pip install -q -c requirements.lock -e ".[mutation]"
	$(PY) -m benchmarks.mutation_inproc prepare $(MUTATION_WORKDIR) --module $(MUTATION_MODULE) \
	  --files $(MUTATION_FILES) | tail -n 1
	$(PY) -m benchmarks.mutation_inproc run $(MUTATION_WORKDIR) --spec $(MUTATION_SPEC) \
	  --out $(MUTATION_OUT)
	$(PY) -m benchmarks.mutation_inproc tally $(MUTATION_OUT)

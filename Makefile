# Every target sets up its own virtual environment first, so a fresh clone needs only `make`.
#   TORCH: the torch requirement installed before the package. The default is the CPU build that
#          these machines keep on local disk; GPU users pass TORCH= and
#          VENV_FLAGS=--system-site-packages to use the CUDA torch they already have.
VENV ?= .venv
VENV_FLAGS ?=
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup bench costs cost-gate test test-all lint docs clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV_FLAGS) $(VENV)
	$(if $(strip $(TORCH)),$(PY) -m pip install -q $(TORCH))
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# Main job: benchmark on the best device, save under the hardware key, compare with the last run.
# ARGS go to unet-bench run, e.g. make bench ARGS="--quick -- --benchmark-compare-fail=median:10%"
bench: $(STAMP)
	$(VENV)/bin/unet-bench run $(ARGS)

costs: $(STAMP)
	$(VENV)/bin/unet-bench costs

# Every case once, untimed: fails when any case's params/flops/mult-adds differ from the manifest.
cost-gate: $(STAMP)
	$(PY) -m pytest benchmarks --benchmark-disable -q -p no:cacheprovider

# ruff (complexity included) and the import contracts: the layers of unet/bench (pyproject.toml)
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports

# The lane for every change: lint, the in-process unit tests and the cost gate (about 3 min).
test: lint
	$(PY) -m pytest tests -m "not e2e" --durations=15
	$(MAKE) --no-print-directory docs
	$(MAKE) --no-print-directory cost-gate

# Everything, the end-to-end tests that start suites, workers and worktrees included; .ci/run.
test-all: lint
	$(PY) -m pytest tests --durations=15
	$(MAKE) --no-print-directory docs
	$(MAKE) --no-print-directory cost-gate

# The documentation site into site/, strict (mkdocs.yml): the generated reference pages must be
# current (regenerate them with $(PY) -m unet.bench.docs), every link must resolve.
docs: $(STAMP)
	$(PY) -m unet.bench.docs --check
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --quiet

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info site

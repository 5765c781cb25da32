# Every target sets up its own virtual environment first, so a fresh clone needs only `make`.
#   TORCH: the torch requirement installed before the package. The default is the CPU build that
#          these machines keep on local disk; GPU users pass TORCH= and
#          VENV_FLAGS=--system-site-packages to use the CUDA torch they already have.
VENV ?= .venv
VENV_FLAGS ?=
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup costs test lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV_FLAGS) $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(if $(strip $(TORCH)),$(PY) -m pip install -q "$(TORCH)")
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

costs: $(STAMP)
	$(VENV)/bin/unet-bench costs

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: lint
	$(PY) -m pytest tests

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info

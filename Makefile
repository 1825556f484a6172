# One command each: `make run` (set up, then the main job), `make test` (set up, then the tests).
# Everything installs into .venv; PyTorch is pinned to the releases these machines hold on disk
# (override TORCH=... for another platform or a CPU-only build).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARCH := $(shell uname -m)
ifeq ($(ARCH),aarch64)
TORCH ?= torch==2.9.1 torchvision==0.24.1
else
TORCH ?= torch==2.14.1 torchvision==0.29.1
endif
# The offline assets folder beside the checkout, when there is one (see README).
ASSETS := $(wildcard ../shared/assets)
ifneq ($(ASSETS),)
export NETVIZ_TP_ASSETS ?= $(abspath $(ASSETS))
endif
export NETVIZ_TP_CACHE ?= $(abspath data/cache)
OUT ?= outputs

.PHONY: setup run test lint build check-release bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: setup
	$(BIN)/netviz-tp run --out $(OUT)

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

build: setup
	$(BIN)/netviz-tp build

check-release: setup
	$(BIN)/netviz-tp build --check

bench: setup
	$(BIN)/python bench/bench_methods.py
	$(BIN)/python bench/bench_featviz.py
	$(BIN)/python bench/bench_grading.py
	$(BIN)/python bench/bench_widgets.py
	$(BIN)/python bench/bench_activations.py
	$(BIN)/python bench/bench_generators.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache test-artifacts

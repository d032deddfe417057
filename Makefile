# recbench — every target installs what it needs from nothing (a venv, pinned deps).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: install run test test-all ui screenshot bench clean

install: $(STAMP)

# torch goes first, pinned to the CPU build: an unpinned torch would pull gigabytes of CUDA.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install "torch==2.13.0"
	$(PIP) install -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/recbench run -m experiment=ml100k_baselines
	$(BIN)/recbench leaderboard --experiment ml100k_baselines

test: $(STAMP)
	$(BIN)/python -m pytest

test-all: $(STAMP)
	$(BIN)/python -m pytest -m ""

ui: $(STAMP)
	$(BIN)/recbench ui

clean:
	rm -rf outputs multirun .pytest_cache

# MLflow UI screenshot for the README (needs Debian's chromium: apt-get install chromium)
screenshot: $(STAMP)
	$(PIP) install "playwright==1.65.2"
	$(BIN)/python docs/mlflow_screenshot.py

# Benchmarks write their tables to results/bench/ (timings are not unit tests)
bench: $(STAMP)
	$(BIN)/python benchmarks/data_bench.py

# Two entry points: `make repro` runs the pipeline, `make test` runs the tests.
# Both create .venv and install the project on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# the CPU build of torch: a plain `pip install torch` on Linux pulls a multi-GB CUDA build
TORCH ?= torch==2.13.0

.PHONY: install repro test bench clean-venv

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

repro: install
	PATH="$(abspath $(BIN)):$$PATH" dvc repro

test: install
	PATH="$(abspath $(BIN)):$$PATH" python -m pytest

bench: install
	PATH="$(abspath $(BIN)):$$PATH" python benchmarks/run_all.py

clean-venv:
	rm -rf $(VENV)

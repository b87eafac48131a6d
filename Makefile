# Two entry points: `make repro` runs the pipeline, `make test` runs the tests.
# Both create .venv and install the project on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch 2.13.0 from the package index pip is configured with: on Linux, PyPI's wheel is the CUDA build
# (several GB). A machine without an NVIDIA GPU can take PyTorch's CPU-only wheels instead:
#   make TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH ?= torch==2.13.0
TORCH_INDEX ?=

.PHONY: install repro test bench clean-venv

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[test]"
	$(BIN)/python -m hwr.model.native  # compile the CPU kernels now rather than on first use
	touch $@

repro: install
	$(BIN)/python -m hwr.params.verify params.yaml  # a value DVC cannot read is named here, not as DVC's "unexpected error"
	PATH="$(abspath $(BIN)):$$PATH" dvc repro

test: install
	PATH="$(abspath $(BIN)):$$PATH" python -m pytest

bench: install
	PATH="$(abspath $(BIN)):$$PATH" python benchmarks/run_all.py

clean-venv:
	rm -rf $(VENV)

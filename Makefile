# The two commands of the README: `make demo` (main job) and `make test` (the suite).
# Both set themselves up on a fresh machine; `make venv` alone builds the environment.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
DEMO_OUT ?= demo-out
PYTEST_ARGS ?=
# PyTorch's CPU wheel index: requirements-cpu.txt pins torch 2.13.0+cpu on Linux, which only that
# index has (PyPI's Linux wheels are CUDA builds). tools/torch_index.sh adds it to pip's indexes
# unless this machine's pip already finds the pinned wheel (find-links or a local wheel directory in
# its pip configuration, as on this project's CI machines). A mirror: `make venv
# TORCH_INDEX=https://mirror/whl/cpu`; `TORCH_INDEX=` never adds it.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: venv system-deps demo demo-multitask test test-fast clean

$(STAMP): setup.py requirements-cpu.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	@index="$$(TORCH_INDEX='$(TORCH_INDEX)' sh tools/torch_index.sh $(BIN)/pip requirements-cpu.txt)"; \
	echo "$(BIN)/pip install -q $$index -r requirements-cpu.txt"; \
	$(BIN)/pip install -q $$index -r requirements-cpu.txt
	$(BIN)/pip install -q -e .
	touch $(STAMP)

venv: $(STAMP)

# Debian packages for the real single-node Slurm cluster used by the `slurm` tests.
system-deps:
	bash tools/install_system_deps.sh

demo: $(STAMP)
	@PATH=$(abspath $(BIN)):$$PATH bash tools/demo.sh $(DEMO_OUT)

# Multi-task interpretation (docs/multitask.md) with the embedded MTI + MTR models.
demo-multitask: $(STAMP)
	@PATH=$(abspath $(BIN)):$$PATH bash tools/demo_multitask.sh $(DEMO_OUT)/multitask

test: $(STAMP) system-deps
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest $(PYTEST_ARGS)

# Everything but the Slurm cluster tests (no root or Debian packages needed).
test-fast: $(STAMP)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest -m "not slurm" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache

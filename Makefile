# The README's Quickstart: `make demo` and `make test` do every set-up step themselves.
#
# Python: the first of python3, python3.13, python3.12, python3.11 that is 3.11 or newer
# (pyproject.toml's requires-python); PYTHON=/path/to/python3.X chooses another.
ifndef PYTHON
PYTHON := $(shell for p in python3 python3.13 python3.12 python3.11; do command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
endif
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-run
TESTING := $(VENV)/.installed-test
CONSTRAINTS := pyproject.toml constraints.txt constraints-keep-torch.txt
# A laptop without a GPU: make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu takes PyTorch's
# CPU-only wheel (about 200 MB) instead of PyPI's CUDA build (several GB).
TORCH_INDEX ?=

.PHONY: demo test lint browser docs check-pythons

$(BIN)/python:
	@if [ -z "$(PYTHON)" ]; then \
	  echo "s2s needs Python 3.11 or newer and found none (python3 is $$(python3 --version 2>&1)):" \
	       "install python3.11 or newer, or give PYTHON=/path/to/python3.X" >&2; exit 1; fi
	@echo "making $(VENV) with $(PYTHON) ($$($(PYTHON) --version 2>&1))"
	$(PYTHON) -m venv $(VENV)

# What the demo needs: the package and its runtime libraries, at the tested versions.
$(RUNTIME): $(CONSTRAINTS) | $(BIN)/python
	$(if $(TORCH_INDEX),$(BIN)/pip install --quiet --index-url $(TORCH_INDEX) torch==2.13.0)
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

# What the tests need besides: every extra (serve, onnx, tensorboard, wmt), the linters, the docs.
$(TESTING): $(RUNTIME)
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test]"
	touch $@

demo: $(RUNTIME)
	$(BIN)/s2s train --config configs/default.yaml
	$(BIN)/s2s translate "i am a student"
	$(BIN)/s2s attend --output heatmap.png "the red car is small"

# ruff, then the layers: import-linter's contracts in pyproject.toml (imports only point down).
lint: $(TESTING)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

# The explorer's tests drive a real Chromium: installed with apt where we are root (as in CI),
# and there they must run (S2S_REQUIRE_BROWSER=1: a missing browser fails them); elsewhere
# pytest skips them and its summary (-rs) says which and why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium for the browser tests (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "note: chromium is missing and cannot be installed here (needs root and apt-get): browser tests will be skipped"; \
	  fi; }

# The documentation site (docs/, mkdocs.yml) into build/site, offline; --strict: a broken link or
# anchor, or a docstring mkdocstrings cannot read, fails the build, and so make test. Not --quiet:
# in mkdocs 1.6 it hides the warnings from --strict too, and a broken link then passes.
docs: $(TESTING)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site

test: $(TESTING) lint browser docs
	S2S_REQUIRE_BROWSER=$${S2S_REQUIRE_BROWSER:-$$([ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && echo 1 || echo 0)} \
	  $(BIN)/python -m pytest -q -rs

# Every Python version pyproject.toml claims (its classifiers): a fresh venv each under
# build/check-pythons/, the runtime install, and the smoke test (train the seed pairs, translate,
# attend). Not part of make test: off Python 3.11 here each install downloads torch (several GB).
check-pythons: | $(BIN)/python
	$(BIN)/python .ci/check_pythons.py

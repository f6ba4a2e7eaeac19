# The README's Quickstart: `make demo` and `make test` do every set-up step themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test lint browser docs

$(INSTALLED): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test]"
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/s2s train --config configs/default.yaml
	$(BIN)/s2s translate "i am a student"
	$(BIN)/s2s attend --out heatmap.png "the red car is small"

# ruff, then the layers: import-linter's contracts in pyproject.toml (imports only point down).
lint: $(INSTALLED)
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
docs: $(INSTALLED)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site

test: lint browser docs
	S2S_REQUIRE_BROWSER=$${S2S_REQUIRE_BROWSER:-$$([ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && echo 1 || echo 0)} \
	  $(BIN)/python -m pytest -q -rs

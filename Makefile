# The README's Quickstart: `make demo` and `make test` do every set-up step themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test lint

$(INSTALLED): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test]"
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/s2s train --config configs/default.yaml
	$(BIN)/s2s translate "i am a student"
	$(BIN)/s2s attend --out heatmap.png "the red car is small"

lint: $(INSTALLED)
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest -q

# `make run` and `make test` create .venv and install what they need on first use.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench soak

$(STAMP): pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tradebot run $(ARGS)

test: $(STAMP)
	$(BIN)/pytest

# the chaos soak alone, its figures on the terminal (it also runs inside `make test`)
soak: $(STAMP)
	$(BIN)/pytest -s -p no:cacheprovider -m soak tests/test_soak.py

bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

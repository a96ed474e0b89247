# `make run` and `make test` create .venv and install what they need on first use.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench bench-peers soak cluster

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

# a local nats-server and one process of each cluster role (README "Scaling out")
cluster: $(STAMP)
	$(BIN)/tradebot cluster $(ARGS)

# bytecode compiled first: where PYTHONDONTWRITEBYTECODE is set, every process would compile
# the project's modules again (a user's Python caches them)
bench: $(STAMP)
	$(BIN)/python -m compileall -q -x '\.peers-venv' strategy ops bot bench
	$(BIN)/python -m bench $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# the same strategy and bars in backtrader, backtesting.py, vectorbt and nautilus_trader,
# installed in their own venv (bench/.peers-venv, git-ignored; the python3 on the PATH), beside
# tradebot. vectorbt 1.0 breaks on plotly 6 (its theme names scattermapbox, which plotly 6
# removed)
PEERS_VENV := bench/.peers-venv
$(PEERS_VENV)/.installed-stamp:
	test -x $(PEERS_VENV)/bin/python || python3 -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		backtrader backtesting vectorbt nautilus_trader 'plotly<6'
	touch $@

bench-peers: $(STAMP) $(PEERS_VENV)/.installed-stamp
	$(BIN)/python -m compileall -q -x '\.peers-venv' strategy ops bot bench
	$(BIN)/python -m bench.peers_table

# salesdw — the two commands a new user needs: `make demo` and `make test`.
# Both create the virtual environment (.venv, from pyproject.toml) on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SCALE  ?= M

.PHONY: demo test test-all lint typecheck bench clean docs compat

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

## demo: generate the demo data set, run the nightly job on it, print the KPI summary
demo: $(STAMP)
	$(BIN)/salesdw demo

## test: the default test suite (fast; slow and benchmark runs are behind markers)
test: $(STAMP)
	$(BIN)/python -m pytest -q

## test-all: every test, the slow ones included
test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m "" 

## lint: ruff on everything, mypy --strict on every package
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy --strict schemas kpis salesdw flows

## bench: the performance benchmark (SCALE=S|M|L, default M); writes data/bench/results.json
bench: $(STAMP)
	$(BIN)/python -m benchmarks.bench --scale $(SCALE)

## compat: open the published warehouse with DuckDB 1.5.5 (the version BI drivers bundle)
compat: $(STAMP)
	$(BIN)/python -m salesdw.compat data/warehouse/sales.duckdb

clean:
	rm -rf data/landing data/warehouse data/reports data/bench target logs

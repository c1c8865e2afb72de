# rostersync developer tasks. `make install` once, then `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install test lint bench build clean example

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

test: install
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

build:
	sam build

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .aws-sam bench/data

# Main job for now: a generated district's day 2 preflighted against day 1 (exit 1 = held).
EXAMPLE ?= out/example
example: install
	rm -rf $(EXAMPLE)
	$(BIN)/rostersync sample $(EXAMPLE) --students 3000
	$(BIN)/rostersync snapshot $(EXAMPLE)/day1 $(EXAMPLE)/accepted
	$(BIN)/rostersync check $(EXAMPLE)/day2 --previous $(EXAMPLE)/accepted --out $(EXAMPLE)/preflight || test $$? -eq 1

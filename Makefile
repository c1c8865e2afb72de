# rostersync developer tasks. `make demo` sets up and runs the local product's guided scenario;
# `make test` is what CI runs (.ci/run: `make install`, then `make test`).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install test lint bench build clean example openapi demo serve

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The guided scenario on the local product (docs/local.md): SFTP uploads, two holds, an email,
# decisions over HTTP. `make demo DEMO_ARGS="--students 1000"` for a bigger district;
# `make demo DEMO_ARGS=--keep-serving` leaves it running for the console (URL printed at the end).
demo: install
	$(BIN)/rostersync demo --workdir .rostersync/demo $(DEMO_ARGS)

# The local product until Ctrl-C: prints the SFTP login, the API URL and tokens, the outbox path.
serve: install
	$(BIN)/rostersync serve $(SERVE_ARGS)

test: install
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The release API's OpenAPI document, generated from the resolver (tests/unit/api fails on drift).
openapi: install
	$(BIN)/python -c "import pathlib, rostersync.api as a; pathlib.Path('docs/openapi.json').write_text(a.openapi_text())"

bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

build:
	sam build

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .aws-sam bench/data .rostersync

# Main job for now: a generated district's day 2 preflighted against day 1 (exit 1 = held).
EXAMPLE ?= out/example
example: install
	rm -rf $(EXAMPLE)
	$(BIN)/rostersync sample $(EXAMPLE) --students 3000
	$(BIN)/rostersync snapshot $(EXAMPLE)/day1 $(EXAMPLE)/accepted
	$(BIN)/rostersync check $(EXAMPLE)/day2 --previous $(EXAMPLE)/accepted --out $(EXAMPLE)/preflight || test $$? -eq 1

# Two commands on a fresh machine: `make build`, then `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: build test golden bench fuzz lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

build: $(VENV)/.installed  ## build the sample year into public/
	$(BIN)/nyhetsbrev build --root . --out public

test: $(VENV)/.installed-test  ## run the test suite on two processes (installs Debian's chromium when root)
	scripts/ensure-browser
	scripts/ensure-dovecot
	$(BIN)/python -m pytest -q -n 2

golden: $(VENV)/.installed-test  ## regenerate tests/expected/ (read the diff before committing)
	$(BIN)/python -m tests.golden

bench: $(VENV)/.installed-test  ## the build benchmark (prints a table; installs Postfix's smtp-sink when root)
	scripts/ensure-smtp-sink
	$(BIN)/python benchmarks/bench.py

fuzz: $(VENV)/.installed-test  ## a long property-based run
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q tests/test_properties.py

lint: $(VENV)/.installed-test  ## ruff (lint and format) and mypy
	$(BIN)/ruff check nyhetsbrev tests benchmarks scripts
	$(BIN)/ruff format --check nyhetsbrev tests benchmarks scripts
	$(BIN)/mypy nyhetsbrev

clean:
	rm -rf $(VENV) public

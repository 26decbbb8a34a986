# The two commands of the README: `make run` and `make test`. Both set up everything they
# need on a fresh Debian 12 machine: system packages, the virtualenv, the project.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed-stamp

.PHONY: run test test-fast lint bench soak install uninstall system-packages venv clean

run: venv
	$(VENV)/bin/printstation run

test: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q

# The unit tests only, in under a minute: no daemon, cupsd, receiver or soak (`e2e` tests).
test-fast: venv
	$(VENV)/bin/pytest -q -m "not e2e"

lint: venv
	$(VENV)/bin/ruff check .

bench: venv
	$(VENV)/bin/python bench/run.py

soak: venv
	$(VENV)/bin/python bench/soak.py

install:
	bash scripts/install

uninstall:
	bash scripts/uninstall

system-packages:
	@bash scripts/ensure-system-packages

venv: system-packages $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	@touch $(STAMP)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache

# The two commands of the README: `make run` and `make test`. Both set up everything they
# need on a fresh Debian 12 machine: system packages, the virtualenv, the project.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed-stamp

.PHONY: run test test-fast lint bench soak install uninstall system-packages venv clean

run: venv
	$(VENV)/bin/printstation run

# Two test processes (pytest-xdist, a module to each in turn): most tests wait on daemons,
# cupsd and PostgreSQL rather than on the CPU. Modules that create system users take
# turns (tests/conftest.py SYSTEM_WIDE).
test: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q -n 2 --dist loadfile --durations=25

# The unit tests only, in under a minute: no daemon, cupsd, receiver or soak (`e2e` tests).
test-fast: venv
	$(VENV)/bin/pytest -q -m "not e2e"

lint: venv
	$(VENV)/bin/ruff check .

bench: venv
	$(VENV)/bin/python bench/run.py

soak: venv
	$(VENV)/bin/python bench/soak.py

# `make install` puts printstation on the PATH (PREFIX/bin), with its man page and bash
# completion; DESTDIR stages the files for a package (no user, folders or systemctl).
# INSTALL_FLAGS passes more options to scripts/install (e.g. --root DIR --no-venv).
PREFIX ?= /usr/local
DESTDIR ?=
INSTALL_FLAGS ?=

install:
	bash scripts/install --prefix "$(PREFIX)" $(if $(DESTDIR),--destdir "$(DESTDIR)") $(INSTALL_FLAGS)

uninstall:
	bash scripts/uninstall --prefix "$(PREFIX)" $(if $(DESTDIR),--root "$(DESTDIR)")

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

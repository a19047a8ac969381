# The two commands of the README:
#   make lab    set up (idempotently) and open the notebooks in JupyterLab, token authentication on
#   make test   set up (idempotently) and run every test
VENV ?= .venv
PORT ?= 8888
# JupyterLab refuses to start as root without --allow-root (a fresh Debian machine or container is often root).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: lab test setup bench slides html voila

lab:
	@bash scripts/setup.sh lab
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks --ip=127.0.0.1 --port=$(PORT) --no-browser $(ALLOW_ROOT)

test:
	@bash scripts/setup.sh test
	$(VENV)/bin/python -m pytest -q tests

setup:
	@bash scripts/setup.sh test

bench:
	@bash scripts/setup.sh lab
	$(VENV)/bin/python benchmarks/bench_checker.py

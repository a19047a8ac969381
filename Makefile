# The two commands of the README:
#   make lab    set up (idempotently) and open the notebooks in JupyterLab, token authentication on
#   make test   set up (idempotently) and run every test
# Presenting (offline: no CDN, no kernel needed to view the first two):
#   make slides  executed notebooks as reveal.js decks: out/slides/*.slides.html
#   make html    executed notebooks as a static site, widgets as pictures: out/html/index.html
#   make voila   the design-review notebook as a Voila app on 127.0.0.1:$(PORT), token authentication on
VENV ?= .venv
PORT ?= 8888
# JupyterLab refuses to start as root without --allow-root (a fresh Debian machine or container is often root).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: lab test setup bench check-reductions slides html voila

# The notebooks are built from their sources (notebooks/*.md) and run once when a source changed, so the first
# look has pictures; JupyterLab opens on index.ipynb (the URL it prints, token included).
lab:
	@bash scripts/setup.sh lab
	@$(VENV)/bin/python scripts/notebooks.py build --execute
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks --LabApp.default_url=/lab/tree/index.ipynb --ip=127.0.0.1 --port=$(PORT) --no-browser $(ALLOW_ROOT)

test:
	@bash scripts/setup.sh test
	$(VENV)/bin/python -m pytest -q tests

setup:
	@bash scripts/setup.sh test

bench:
	@bash scripts/setup.sh lab
	$(VENV)/bin/python benchmarks/bench_checker.py
	$(VENV)/bin/python benchmarks/bench_stepper.py

check-reductions:
	@bash scripts/setup.sh lab
	$(VENV)/bin/python benchmarks/check_reductions.py

slides:
	@bash scripts/setup.sh present
	@$(VENV)/bin/python scripts/notebooks.py build
	$(VENV)/bin/python -m tdxlab.present slides

html:
	@bash scripts/setup.sh present
	@$(VENV)/bin/python scripts/notebooks.py build
	$(VENV)/bin/python -m tdxlab.present html

voila:
	@bash scripts/setup.sh present
	@$(VENV)/bin/python scripts/notebooks.py build
	$(VENV)/bin/voila notebooks/05-design-review.ipynb --no-browser --Voila.ip=127.0.0.1 --port=$(PORT) --token

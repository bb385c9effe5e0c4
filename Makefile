# Two commands on a fresh clone: `make reproduce` and `make test` (see README.md).
# Each builds .venv first if it is missing or its dependency files changed.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# The stamp is named after the content of the dependency files, so editing them rebuilds the venv.
DEPS_HASH := $(shell cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
STAMP  := $(VENV)/.deps-$(DEPS_HASH)

.PHONY: help test reproduce book bench browser-check clean venv campaign lab

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

venv: $(STAMP)  ## create or refresh .venv from requirements.txt (exact pins)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.deps-* && touch $@

PROFILE ?= auto
FORCE   ?=
NBVAL   := --nbval-lax --nbval-sanitize-with book/nbval_sanitize.cfg --nbval-cell-timeout 600

test: $(STAMP)  ## unit tests, tiny CPU trainings, and every notebook under nbval
	$(PY) -m pytest -q tests book $(NBVAL)

reproduce: $(STAMP)  ## results + figures + HTML book (PROFILE=auto|smoke|cpu|short|paper, FORCE=1 retrains)
	$(PY) -m ffcnn_lib.book --profile $(PROFILE) $(if $(FORCE),--force)

book: $(STAMP)  ## execute the notebooks and render the book from the cached results only
	$(PY) -m ffcnn_lib.book --profile $(PROFILE) --skip-train

browser-check: $(STAMP)  ## every page of the built book in headless Chromium at 1280 and 390 px, and a chapter run in JupyterLab (apt: chromium chromium-driver)
	@test -x /usr/bin/chromium && test -x /usr/bin/chromedriver || \
	  { echo "browser-check needs Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver" >&2; exit 2; }
	@status=0; $(PY) tests/browser_check.py || status=$$?; $(PY) tests/lab_check.py || status=$$?; exit $$status

LAB_PORT ?= 8888
lab: $(STAMP)  ## JupyterLab on 127.0.0.1 with book/ open and the .venv kernel; prints its URL with the token (FFCNN_RESULTS=DIR: runs go there)
	$(PY) -m ffcnn_lib.lab --port $(LAB_PORT)

bench: $(STAMP)  ## training-speed benchmark (full config on CUDA, small on CPU)
	$(PY) -m ffcnn_lib.bench

.PHONY: mutants
mutants: $(STAMP)  ## mutation check: single-line bugs, each must fail its unit tests (minutes; not in CI; tests/mutants.py)
	$(PY) tests/mutants.py

clean:  ## remove the venv, caches and unfinished checkpoints (committed results stay)
	rm -rf $(VENV) .pytest_cache results/checkpoints book/_build
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

BUDGET  ?= 150
WORKERS ?= 2
campaign: $(STAMP)  ## CPU campaign: the paper's small networks at its settings, BUDGET minutes, WORKERS cells side by side, resumable (see README)
	nice -n 19 $(PY) -m ffcnn_lib campaign --budget-minutes $(BUDGET) --workers $(WORKERS)

# Two commands on a fresh clone: `make reproduce` and `make test` (see README.md).
# Each builds .venv first if it is missing or its dependency files changed.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# The stamp is named after the content of the dependency files, so editing them rebuilds the venv.
DEPS_HASH := $(shell cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
STAMP  := $(VENV)/.deps-$(DEPS_HASH)

.PHONY: help test reproduce book bench clean venv

help:  ## list the targets
	@grep -E '^[a-z]+:.*##' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 12

venv: $(STAMP)  ## create or refresh .venv from requirements.txt (exact pins)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.deps-* && touch $@

test: $(STAMP)  ## unit tests, tiny CPU end-to-end trainings
	$(PY) -m pytest -q

reproduce: $(STAMP)  ## regenerate results for the small CPU profile
	$(PY) -m ffcnn_lib train --filters 16 --kernel 5 --n-train 5000 --n-val 2000 --epochs 5 --lr 1e-3

clean:  ## remove the venv, caches and unfinished checkpoints (committed results stay)
	rm -rf $(VENV) .pytest_cache results/checkpoints book/_build
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

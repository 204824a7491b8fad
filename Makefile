# artspeed: the two commands a fresh machine needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
# The pinned set (constraints.txt) is tested on Python 3.11 and resolves on 3.12; several of
# its pins need Python 3.11 or newer, so on 3.10 pip resolves from pyproject.toml's ranges.
PY_MINOR = $(shell $(BIN)/python -c 'import sys; print(sys.version_info[1])' 2>/dev/null)
PIP_INSTALL = $(PIP) install --progress-bar off $(if $(filter 10,$(PY_MINOR)),,-c constraints.txt)

.DEFAULT_GOAL := help
.PHONY: help install dev demo test lint unit notebooks lab bench slides constraints clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP_INSTALL) -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP_INSTALL) -e ".[dev]"
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed  ## create .venv and install artspeed with the pinned versions

dev: $(VENV)/.installed-dev  ## install artspeed and its dev tools (pytest, nbval, ruff)

demo: $(VENV)/.installed  ## the main job, end to end: the quick tour, with its report
	$(BIN)/artspeed tour --quick --out runs/tour

lint: dev  ## ruff over the code, and import-linter's check of the layers (pyproject.toml)
	$(BIN)/ruff check artspeed tests benchmarks slides
	$(BIN)/lint-imports

# One pytest run: unit tests, docstring examples and every notebook (fast mode).
# pytest exits 5 when it collects nothing; that is a failure here, and said so.
test: lint  ## lint, unit tests, doctests and every notebook under nbval
	@ARTSPEED_FAST=1 $(BIN)/python -m pytest tests artspeed --doctest-modules --durations=25 \
	    --nbval-lax notebooks; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests, which is a failure"; fi; \
	  exit $$rc

unit: dev  ## unit tests and doctests only (no notebooks)
	$(BIN)/python -m pytest tests artspeed --doctest-modules

notebooks: dev  ## run every notebook under nbval, in fast mode
	ARTSPEED_FAST=1 $(BIN)/python -m pytest --nbval-lax notebooks

lab: $(VENV)/.installed  ## open the workbook in JupyterLab
	$(BIN)/jupyter lab notebooks

bench: $(VENV)/.installed  ## run the benchmark scripts, which print figures
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

slides: $(VENV)/.installed  ## build the lecture deck, measured here: slides/build/the-art-of-speed-part-1.html
	$(BIN)/python slides/build.py

constraints:  ## re-pin constraints.txt from the current .venv
	@{ echo "# One tested set of versions (Python 3.11, Linux x86_64). Regenerate with: make constraints"; \
	  $(PIP) freeze --exclude-editable | grep -v '^artspeed'; } > constraints.txt

clean:  ## remove caches and runs/ (keeps .venv)
	rm -rf runs slides/build .pytest_cache .ruff_cache build dist *.egg-info

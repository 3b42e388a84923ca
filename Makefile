# netflix-producer: every target builds .venv itself when it is missing or stale.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LAKE   ?= lake

.PHONY: venv demo test lint format bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "netflix-producer needs Python 3.11+ (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

## demo: 30 s of playback events at 500/s into the local lake, with the live view, then the result
demo: $(STAMP)
	$(BIN)/netflix-producer run --rate 500/s --duration 30s --lake-dir $(LAKE) \
		--buffer-interval 10s --summary-json $(LAKE)/last-run.json
	$(BIN)/netflix-producer lake summary --lake-dir $(LAKE)

## test: lint, type-check and the whole test suite
test: lint
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check producer tests bench locustfile.py
	$(BIN)/ruff format --check producer tests bench locustfile.py
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix producer tests bench
	$(BIN)/ruff format producer tests bench

## bench: benchmarks (figures, not pass/fail); see docs/performance.md
bench: $(STAMP)
	$(BIN)/python bench/generate.py
	$(BIN)/python bench/pacing.py
	$(BIN)/python bench/memory.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

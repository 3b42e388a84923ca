# netflix-producer: every target builds .venv itself when it is missing or stale.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LAKE   ?= lake

.PHONY: venv demo pipeline test lint format bench bench-quick clean deploy lint-infra sync-queries browser

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "netflix-producer needs Python 3.11+ (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

## demo: 30 s of playback events at 500/s into the local lake (live view), then the Glue job run
##       locally over it and the Athena example queries on DuckDB
demo: $(STAMP)
	$(BIN)/netflix-producer run --rate 500/s --duration 30s --lake-dir $(LAKE) \
		--buffer-interval 10s --summary-json $(LAKE)/last-run.json --report $(LAKE)/last-run.html
	$(BIN)/netflix-producer lake summary --lake-dir $(LAKE)
	$(BIN)/netflix-producer etl --raw $(LAKE)/netflix --processed $(LAKE)/processed
	$(BIN)/netflix-producer query rows-per-date --processed $(LAKE)/processed
	$(BIN)/netflix-producer query event-type-distribution --processed $(LAKE)/processed
	$(BIN)/netflix-producer query top-titles --processed $(LAKE)/processed
	@echo
	@echo "The run's report (charts of its rate, latency and event types): open $(LAKE)/last-run.html"
	@echo "The pipeline's dashboard over it: $(BIN)/netflix-producer dashboard --processed $(LAKE)/processed"
	@echo "Next: . $(VENV)/bin/activate   (puts netflix-producer and locust on your PATH), then try"
	@echo "  netflix-producer run --help"
	@echo "  netflix-producer query                                    # the queries you can run on $(LAKE)/processed"
	@echo "  netflix-producer run --rate 500/s --shape ramp:100/s..2k/s:5m  # realtime, Ctrl-C to stop"
	@echo "  netflix-producer scenarios list                           # reproducible failure cases"

## pipeline: a faulty scenario end to end: produce, ETL with the data-quality report, queries
##           (in a fresh lake of its own under lake-pipeline/, named at the start and end)
pipeline: $(STAMP)
	$(BIN)/netflix-producer pipeline --scenario late-and-duplicates

## test: lint, type-check, the templates' linters and the whole test suite, in TEST_WORKERS
##       processes (one more than the cores: many tests wait on a child process)
TEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
test: lint lint-infra browser
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup

## browser: headless Chromium for the browser tests (Debian's chromium), installed when missing
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
		echo "installing chromium (the browser tests draw the run report in it)"; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null || { \
			$$SUDO apt-get update -q >/dev/null && \
			$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }; }

lint: $(STAMP)
	$(BIN)/ruff check producer tests bench infra glue_scripts locustfile.py locustfile_shaped.py
	$(BIN)/ruff format --check producer tests bench infra glue_scripts locustfile.py locustfile_shaped.py
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix producer tests bench infra glue_scripts locustfile.py locustfile_shaped.py
	$(BIN)/ruff format producer tests bench infra glue_scripts locustfile.py locustfile_shaped.py

## bench: every benchmark, one at a time (~12 min; figures, not pass/fail), then the summary
##        table of docs/performance.md rewritten from this run's results
bench: $(STAMP)
	$(BIN)/python bench/suite.py

## bench-quick: every benchmark with --quick (~1 min); prints the summary, writes nothing
bench-quick: $(STAMP)
	$(BIN)/python bench/suite.py --quick

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .mypy_cache .ruff_cache .pytest_cache

# ---- the pipeline on AWS: infra/cloudformation/, docs/setup_guide.md --------------------
STACK    ?= netflix-pipeline
BUCKET   ?=
REGION   ?=
PARAMS   ?=
GLUE_SCRIPT := glue_scripts/netflix_raw_to_processed.py
AWS      := aws $(if $(REGION),--region $(REGION))
# $(call stack_output,Key): one output of the pipeline stack, read when the recipe runs
stack_output = $$($(AWS) cloudformation describe-stacks --stack-name $(STACK) \
	--query "Stacks[0].Outputs[?OutputKey=='$(1)'].OutputValue" --output text)
CHECKOV_VENV    := .venv-checkov
CHECKOV_STAMP   := $(CHECKOV_VENV)/.installed
CHECKOV_VERSION := 3.3.30

## deploy: create or update the pipeline stack and its saved queries, upload the Glue script
deploy:
	@test -n "$(BUCKET)" || { echo "usage: make deploy BUCKET=<new bucket name> [STACK=$(STACK)] [REGION=...] [PARAMS='Key=Value ...']"; exit 1; }
	@test -f $(GLUE_SCRIPT) || { echo "$(GLUE_SCRIPT) is missing"; exit 1; }
	$(AWS) cloudformation deploy --stack-name $(STACK) \
		--template-file infra/cloudformation/pipeline.yaml \
		--capabilities CAPABILITY_IAM --no-fail-on-empty-changeset \
		--parameter-overrides BucketName=$(BUCKET) $(PARAMS)
	$(AWS) s3 cp $(GLUE_SCRIPT) "$(call stack_output,GlueScriptLocation)"
	$(AWS) cloudformation deploy --stack-name $(STACK)-queries \
		--template-file infra/cloudformation/named_queries.yaml --no-fail-on-empty-changeset \
		--parameter-overrides GlueDatabaseName="$(call stack_output,GlueDatabaseName)" \
		AthenaWorkGroupName="$(call stack_output,AthenaWorkGroupName)"
	$(AWS) cloudformation describe-stacks --stack-name $(STACK) --query 'Stacks[0].Outputs' --output table

# checkov lives in its own environment: its pins must not touch the project's.
$(CHECKOV_STAMP):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	@touch $@

## lint-infra: saved queries in sync with queries/, cfn-lint and checkov on infra/cloudformation/
lint-infra: $(STAMP) $(CHECKOV_STAMP)
	$(BIN)/python infra/sync_named_queries.py --check
	$(BIN)/cfn-lint --regions us-east-1 us-west-2 eu-west-1 ap-south-1 -- infra/cloudformation/*.yaml
	$(CHECKOV_VENV)/bin/checkov --directory infra/cloudformation --framework cloudformation \
		--skip-download --compact --quiet

## scenario-schema: rewrite scenarios/scenario.schema.json from producer/config/scenario.py (a test checks it)
.PHONY: scenario-schema
scenario-schema: $(STAMP)
	$(BIN)/netflix-producer scenarios schema > scenarios/scenario.schema.json

## sync-queries: rewrite infra/cloudformation/named_queries.yaml from queries/*.sql
sync-queries: $(STAMP)
	$(BIN)/python infra/sync_named_queries.py

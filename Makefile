# Every target bootstraps .venv itself: a fresh clone needs only python3 (>= 3.11) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-postgres test-scale lint format bench realdata realdata-large schemas clean bytecode

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "agentos needs Python >= 3.11 (set PYTHON=python3.11)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,mcp,postgres]'
	@touch $@

# The package is installed in editable mode, and PYTHONDONTWRITEBYTECODE may be set: without
# this, every `agentos` process would compile its modules again (about 60 ms of a start-up).
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q packages

## run: the demo — a real pipeline in a scratch copy of examples/
run: $(STAMP) bytecode
	PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/demo.sh

## test: the whole suite (unit, property, CLI, end-to-end, conformance, real data)
test: $(STAMP) bytecode realdata
	$(BIN)/python -m pytest -q

## test-postgres: the same suite with the PostgreSQL store selected (a scratch cluster; needs pg_ctl)
test-postgres: $(STAMP) bytecode realdata
	AGENTOS_TEST_STORE=postgresql $(BIN)/python -m pytest -q

## test-scale: the long acceptance runs of the queue (200 plans, 4 workers; needs pg_ctl)
test-scale: $(STAMP) bytecode
	$(BIN)/python -m pytest -q -m scale tests/store/test_queue_accept.py

## lint: exactly what CI runs
lint: $(STAMP)
	$(BIN)/ruff check packages tests bench
	$(BIN)/ruff format --check packages tests bench
	$(BIN)/mypy --strict

format: $(STAMP)
	$(BIN)/ruff format packages tests bench
	$(BIN)/ruff check --fix packages tests bench

## realdata: two releases of a PyPI package and the requests tests, fetched once into .cache/realdata
realdata: $(STAMP)
	$(BIN)/python bench/realdata.py fetch

## realdata-large: larger real diffs for the scale benchmarks (about 55 MB of sdists, bench only)
realdata-large: $(STAMP)
	$(BIN)/python bench/realdata.py fetch-large

## bench: performance ratios of SPEC §11, written to docs/benchmarks.md
bench: $(STAMP) bytecode realdata realdata-large
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache

## schemas: regenerate docs/schemas/ from the models (a test keeps them in sync)
schemas: $(STAMP)
	$(BIN)/python -c 'import json; from agentos.model import plan_json_schema as s; open("docs/schemas/plan.schema.json", "w").write(json.dumps(s(), indent=2, sort_keys=True) + "\n")'
	$(BIN)/python -c 'import json; from agentos.governance.policy import policy_json_schema as s; open("docs/schemas/policy.schema.json", "w").write(json.dumps(s(), indent=2, sort_keys=True) + "\n")'
	$(BIN)/python -c 'import json; from agentos.mcpserver.catalog import tool_list as t; open("docs/schemas/mcp-tools.json", "w").write(json.dumps(t(), indent=2, sort_keys=True) + "\n")'

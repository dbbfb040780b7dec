# Two commands matter: `make demo` and `make test`. Each sets up what it needs from a bare Python 3.11+.
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin

export UV_PYTHON_DOWNLOADS := never
export UV_COMPILE_BYTECODE := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 90

.PHONY: demo test test-slow bench bench-quick serve serve-sim lint docs wheel-check clean

demo: $(VENV)/.synced  ## run the main job on the embedded default: simulator + local DuckDB file
	$(BIN)/python -m simulator demo

# Three workers on two cores: the tests wait on sockets, subprocesses and clocks as much as they compute.
TEST_WORKERS ?= 3
COVERAGE_FLOOR ?= 86  # measured 88 % (branches included) on 2026-12-02

test: $(VENV)/.synced lint  ## lint, type-check and run the fast tests with branch coverage (what CI runs)
	$(BIN)/pytest -m "not slow" -n $(TEST_WORKERS) \
		--cov --cov-report=term --cov-fail-under=$(COVERAGE_FLOOR)

lint: $(VENV)/.synced
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

docs: $(VENV)/.synced  ## write the generated pages of docs/ (settings, reports, tables; Markdown and HTML) from the code
	$(BIN)/streamledger docs --output docs

wheel-check: $(VENV)/.synced  ## the wheel, installed outside the checkout, polls the simulator (what CI runs last)
	.ci/wheel-check

serve: $(VENV)/.synced  ## serve the scheduled deployments (a local Prefect server unless PREFECT_API_URL is set)
	$(BIN)/streamledger serve

serve-sim: $(VENV)/.synced  ## the same, polling a simulator on 127.0.0.1 (no credentials)
	$(BIN)/python -m simulator serve-product

test-slow: $(VENV)/.synced  ## the soak and scale tests
	$(BIN)/pytest -m slow

bench: $(VENV)/.synced  ## the benchmark suite (about 45 min; SUITES="poll_overhead poll_wall" for some)
	$(BIN)/python -m benchmarks $(foreach suite,$(SUITES),--suite $(suite))

bench-quick: $(VENV)/.synced  ## the same at small sizes, a few minutes: a smoke check of the suite
	$(BIN)/python -m benchmarks --quick $(foreach suite,$(SUITES),--suite $(suite))

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache

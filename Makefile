# comfy-recovery — every install step lives here, so a fresh clone needs only `make run` / `make test`.
SHELL := /bin/bash
UV_VERSION := 0.9.30
VENV := .venv
BIN := $(VENV)/bin
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
PYTEST := $(BIN)/pytest
# the interpreter of .venv (3.11, 3.12 or 3.13), e.g. make install PYTHON=python3.13
PYTHON ?= python3
# smoke: a second venv on another interpreter (default: the newest supported one)
SMOKE_PYTHON ?= $(shell p=$$(pyenv prefix 3.13 2>/dev/null) && echo $$p/bin/python3 || echo python3.13)
SMOKE_VENV ?= .venv-smoke
FREE_PORT = $$($(BIN)/python -c 'from comfy_recovery.natsd import free_port; print(free_port())')
export UV_PYTHON_DOWNLOADS := never
TOOLS := .tools
ASYNCAPI_CLI_VERSION := 4.1.1
ASYNCAPI := $(TOOLS)/node_modules/.bin/asyncapi

.PHONY: help install chromium run demo campaign test coverage test-fast test-slow smoke bench lint fmt schemas asyncapi-cli clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(UV):
	python3 -m pip install --user --quiet "uv==$(UV_VERSION)"

$(BIN)/comfy-recovery: $(UV) pyproject.toml uv.lock $(wildcard libs/*/pyproject.toml services/*/pyproject.toml)
	$(UV) sync --locked --python $(PYTHON)
	@touch $@

install: $(BIN)/comfy-recovery ## create .venv with every member, dev tools and the comfy-recovery command

chromium: ## the console's browser tests need Chromium: Debian's package via apt-get when missing (CR_CHROMIUM names another)
	@if [ -n "$$CR_CHROMIUM" ] || command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then exit 0; fi; \
	sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	if command -v apt-get >/dev/null && $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium; then exit 0; fi; \
	echo "make chromium: could not install Chromium with apt-get (root or sudo needed); install it, or set CR_CHROMIUM to a Chromium or Chrome binary, for tests/browser" >&2; \
	exit 1

run: install ## bring the local stack up: NATS, the five services, the simulator (no CR_COMFYUI_URLS)
	$(BIN)/comfy-recovery up

demo: install ## run a few jobs (some fail and recover) and print the outcomes
	$(BIN)/comfy-recovery demo

campaign: install ## the seeded fault campaign: 200 jobs, 3 simulated backends, 4 policies, one table
	$(BIN)/comfy-recovery campaign $(CAMPAIGN_ARGS)

# make test runs its modules on TEST_WORKERS processes (pytest-xdist; a module stays on one
# worker, so its live stack starts once): most e2e time is waiting on real services
TEST_WORKERS ?= 2
# the unit tests run once, under coverage (make coverage), then the integration and e2e tests;
# make test fails when either part does, after running both
test: install chromium ## everything except the slow suite, on both cores (see TEST_WORKERS)
	@status=0; $(MAKE) --no-print-directory coverage || status=$$?; \
	$(PYTEST) -m "(integration or e2e) and not slow" -q -n $(TEST_WORKERS) --dist loadfile \
	  --durations=25 || status=$$?; exit $$status

# Branch coverage of the unit tests (no nats-server): the decision cores must stay at 100 %,
# with hypothesis's draws seeded (a few core branches are reached only by property tests, so
# random draws made the gate flaky),
# each package at or above its floor (package:percent; 85 is the goal for every one).
COV_DIR := .artifacts/coverage
COV := COVERAGE_FILE=$(COV_DIR)/data $(BIN)/coverage
COV_CORES := libs/contracts/src/contracts/codec.py,libs/contracts/src/contracts/taxonomy.py,$\
  services/classifier/src/classifier/engine.py,services/recovery/src/recovery/decide.py,$\
  services/recovery/src/recovery/chains.py,services/recovery/src/recovery/breaker.py,$\
  services/recovery/src/recovery/outliers.py,services/recovery/src/recovery/strategies/*
COV_FLOORS := libs/contracts:85 libs/client:85 libs/runtime:85 libs/cli:86 services/submitter:85 \
  services/monitor:85 services/classifier:85 services/recovery:85 services/analytics:85
coverage: install ## unit tests under branch coverage: 100% on the decision cores, per-package floors
	@rm -rf $(COV_DIR) && mkdir -p $(COV_DIR)
	COVERAGE_FILE=$(COV_DIR)/data $(PYTEST) -m "not integration and not e2e and not slow" -q \
	  -n $(TEST_WORKERS) --dist loadfile --cov --cov-report=json:$(COV_DIR)/coverage.json \
	  --hypothesis-seed=0
	@echo "decision cores (100% branch coverage required):"
	@$(COV) report --include='$(COV_CORES)' --fail-under=100 --skip-covered
	@status=0; for entry in $(COV_FLOORS); do \
	  dir=$${entry%:*}; floor=$${entry#*:}; \
	  total=$$($(COV) report --include="$$dir/src/*" --format=total --precision=1); \
	  printf '  %-20s %5s%%  (floor %s%%)\n' "$$dir" "$$total" "$$floor"; \
	  $(COV) report --include="$$dir/src/*" --fail-under=$$floor >/dev/null || \
	    { echo "make coverage: $$dir is under its floor of $$floor%" >&2; status=1; }; \
	done; exit $$status

test-fast: install ## unit and contract tests only (no nats-server)
	$(PYTEST) -m "not integration and not e2e and not slow" -q

test-slow: install ## the slow chaos and soak tests
	$(PYTEST) -m slow -q || [ $$? -eq 5 ]

smoke: install ## a second venv on SMOKE_PYTHON (3.13), then `comfy-recovery demo` on a stack of its own
	UV_PROJECT_ENVIRONMENT=$(SMOKE_VENV) $(UV) sync --locked --python $(SMOKE_PYTHON)
	rm -rf .data/smoke
	CR_DATA_DIR=.data/smoke CR_LOCAL_NATS_PORT=$(FREE_PORT) CR_HEALTH_BASE_PORT=$(FREE_PORT) \
	  CR_SUBMITTER_API_PORT=$(FREE_PORT) CR_NATS_URL= $(SMOKE_VENV)/bin/comfy-recovery demo

bench: install ## throughput and latency figures against same-run baselines (figures only; logs in .bench/)
	$(BIN)/python -m tests.bench

lint: install ## ruff format --check, ruff check, codespell, mypy, import-linter (layer contracts in pyproject.toml)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/codespell libs services tests README.md docs deploy
	$(BIN)/lint-imports
	$(BIN)/mypy -p contracts -p cr_client -p cr_runtime -p comfy_recovery -p submitter -p monitor -p classifier -p recovery -p analytics

fmt: install ## format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schemas: install $(ASYNCAPI) ## write every event's JSON Schema (docs/schemas/) and docs/asyncapi.yaml, then validate it
	$(BIN)/python -m contracts.schemas docs/schemas docs/asyncapi.yaml
	ASYNCAPI_METRICS_CONFIG_PATH=$(TOOLS)/asyncapi-analytics.json $(ASYNCAPI) validate docs/asyncapi.yaml

asyncapi-cli: $(ASYNCAPI) ## the official AsyncAPI CLI (npm, pinned) in .tools/, for `make schemas` and its test

$(ASYNCAPI):
	npm install --prefix $(TOOLS) --save-exact --no-audit --no-fund --loglevel=error @asyncapi/cli@$(ASYNCAPI_CLI_VERSION)
	echo '{"analyticsEnabled":"false","infoMessageShown":"true","userID":"comfy-recovery"}' > $(TOOLS)/asyncapi-analytics.json

clean: ## remove the virtualenvs, local data and bench scratch
	rm -rf $(VENV) $(SMOKE_VENV) .data .bench

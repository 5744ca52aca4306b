# The two commands a newcomer needs: `make run` and `make test`. Each creates the
# virtual environment in .venv and installs what it needs first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CHECKED := backend api tests scripts bench
BETTER_AUTH := tests/interop/better_auth
CLIENT := clients/typescript
PLATFORM_TOOLS := tests/interop/platform
NODE_TOOLS := $(BETTER_AUTH)/node_modules/.installed $(PLATFORM_TOOLS)/node_modules/.installed
MUTATE_CHILDREN ?= 1

.PHONY: run test mutate bench bench-instructions bench-scale package openapi client clean

run: $(VENV)/.local-installed  ## Run the API on http://127.0.0.1:8000 (embedded PostgreSQL without DATABASE_URL)
	$(BIN)/python -m backend serve

test: $(VENV)/.dev-installed $(NODE_TOOLS) $(CLIENT)/dist/index.js  ## Lint, type-check and run every test
	$(BIN)/ruff format --check $(CHECKED)
	$(BIN)/ruff check $(CHECKED)
	$(BIN)/mypy
	$(BIN)/python -m pytest

# Not in CI: minutes per module. [tool.mutmut] in pyproject.toml names the modules and tests;
# needs TEST_DATABASE_URL like `make test`. Surviving mutants are listed at the end.
mutate: $(VENV)/.dev-installed $(NODE_TOOLS)  ## Mutation-test auth, keyset, middleware, errors, handlers, queries, the envelope, statements, telemetry, bulk and the task routes
	rm -rf mutants
	$(BIN)/mutmut run --max-children $(MUTATE_CHILDREN)
	$(BIN)/mutmut export-cicd-stats && cat mutants/mutmut-cicd-stats.json
	$(BIN)/mutmut results

bench: $(VENV)/.local-installed  ## Print the data path's figures as ratios to raw psycopg (BENCH_ARGS=--latency-ms 5)
	$(BIN)/python bench/data_path.py $(BENCH_ARGS)

bench-instructions: $(VENV)/.local-installed  ## Instructions per warm call (valgrind): app vs raw psycopg, free of the machine's noise
	$(BIN)/python -m bench.instructions $(BENCH_ARGS)

bench-scale: $(VENV)/.local-installed  ## 1,000,000 tasks: first vs deep page, q, tag, trash, with plans (BENCH_DATABASE_URL)
	$(BIN)/python bench/scale.py $(BENCH_ARGS)

package: $(VENV)/.local-installed  ## Build the Lambda package in dist/lambda.zip
	$(BIN)/python scripts/package_lambda.py

openapi: $(VENV)/.local-installed $(CLIENT)/node_modules/.installed  ## Regenerate specs/openapi.json and the client's types from it
	$(BIN)/python -m backend openapi > specs/openapi.json
	cd $(CLIENT) && npm run --silent generate

client: $(CLIENT)/dist/index.js  ## Build the TypeScript client (ES modules and declarations) in clients/typescript/dist

$(VENV)/.local-installed: requirements.txt requirements-local.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-local.txt
	touch $@

$(VENV)/.dev-installed: $(VENV)/.local-installed requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# The Better Auth interop tests, the platform tools (the Serverless Framework, Vercel's
# routing) and the TypeScript client need Node; without npm those tests skip (and fail
# under CI=true).
%/node_modules/.installed: %/package-lock.json
	if command -v npm >/dev/null; then cd $* && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; fi

# The client is built before tests/test_client.py runs its tests.
$(CLIENT)/dist/index.js: $(CLIENT)/node_modules/.installed $(CLIENT)/tsconfig.json $(wildcard $(CLIENT)/src/*.ts)
	if command -v npm >/dev/null; then cd $(CLIENT) && rm -rf dist && npm run --silent build; fi

clean:
	rm -rf $(VENV) dist mutants $(BETTER_AUTH)/node_modules $(PLATFORM_TOOLS)/node_modules $(CLIENT)/node_modules $(CLIENT)/dist .pytest_cache .mypy_cache .ruff_cache

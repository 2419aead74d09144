# Everything a newcomer needs: `make dev` runs the product, `make test` runs the tests.
# Both create the virtualenv and install on first use; nothing else needs to be installed.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: dev test bench lint format clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required (set PYTHON=...)") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $(STAMP)

dev: $(STAMP)  ## run everything: embedded PostgreSQL + NATS, migrations, admin, server on :8081
	$(BIN)/python manage.py dev $(ARGS)

test: $(STAMP)  ## the whole test suite (embedded PostgreSQL unless DATABASE_URL is set)
	$(BIN)/python -m pytest $(ARGS)

bench: $(STAMP)  ## every benchmark in bench/, printing tables of figures
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; echo; done

lint: $(STAMP)  ## ruff, and the apps' dependency direction (import-linter contracts in pyproject.toml)
	$(BIN)/pip install --quiet ruff==0.17.5
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/pip install --quiet ruff==0.17.5
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# The two commands the README names: `make demo` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/salesops demo

test: $(STAMP) sf-tooling
	$(BIN)/ruff check .
	$(BIN)/pytest

# Salesforce's source-deploy-retrieve for the metadata conversion test (tests/test_sf_metadata.py):
# `npm ci` in sf/ when its node_modules is missing or older than the lock file.
.PHONY: sf-tooling
sf-tooling:
	@if [ ! -f sf/node_modules/.sf-tooling ] || [ sf/package-lock.json -nt sf/node_modules/.sf-tooling ]; then \
		cd sf && npm ci --no-audit --no-fund && touch node_modules/.sf-tooling; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) data .dagster_home

# Two commands matter: `make demo` and `make test`. Both create or reuse .venv and install
# what they need (pip for Python, npm for Azurite), so they work on a fresh machine.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
AZURITE := node_modules/.bin/azurite-blob

.PHONY: demo test lint format bench ui install clean

demo: $(INSTALLED)
	$(PY) scripts/demo.py

test: $(INSTALLED) $(AZURITE)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

install: $(INSTALLED) $(AZURITE)

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall when the dependencies change. constraints.txt pins the versions we test with; every
# optional integration (extra) is installed, as demo and test use them all.
$(INSTALLED): $(PY) pyproject.toml constraints.txt
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[adla,databricks,test]" -c constraints.txt
	touch $@

$(AZURITE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(INSTALLED)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(INSTALLED)
	$(PY) bench/parse.py

# The Airflow UI on http://localhost:8080 with this repo's dags/ (login printed by Airflow).
ui: $(INSTALLED)
	AIRFLOW_HOME=$(CURDIR)/.airflow AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags \
	AIRFLOW__CORE__LOAD_EXAMPLES=False $(VENV)/bin/airflow standalone

clean:
	rm -rf .airflow .demo .pytest_cache .ruff_cache

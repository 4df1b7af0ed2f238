# Two commands matter: `make demo` and `make test`. Both create or reuse .venv and install
# what they need (pip for Python, npm for Azurite), so they work on a fresh machine.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
AZURITE := node_modules/.bin/azurite-blob

.PHONY: demo test test-unit unit lint format bench ui airflow reuse python data install clean

# The local Airflow (`.airflow/`, this repo's dags/, this venv first on PATH) of every target below.
LOCAL := $(PY) scripts/local_airflow.py
PORT ?= 8080

demo: $(INSTALLED)
	$(LOCAL) python scripts/demo.py

test: $(INSTALLED) $(AZURITE)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

# The fast lane (under a minute): tests/unit, which mirrors the package, without the cases that
# need a service (Azurite) or a DAG run. `make unit` is the same lane.
test-unit unit: $(INSTALLED) $(AZURITE)
	$(PY) -m pytest tests/unit -m "not integration and not deployment and not browser"

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

# The Airflow UI on http://localhost:$(PORT) with this repo's dags/; user admin, password in
# .airflow/simple_auth_manager_passwords.json.generated. `make ui PORT=8081` for another port.
ui: $(INSTALLED)
	$(LOCAL) --port $(PORT) airflow standalone

# The CLIs against make ui's home: make airflow ARGS="dags list", make reuse ARGS="list".
airflow: $(INSTALLED)
	@$(LOCAL) airflow $(ARGS)

reuse: $(INSTALLED)
	@$(LOCAL) python -m airflow_provider_mlpipe reuse $(ARGS)

# A Python script (e.g. one using the client) with make ui's settings: make python ARGS=client.py
python: $(INSTALLED)
	@$(LOCAL) python $(ARGS)

# The example's input data on make ui's default datastore (make demo does it too).
data: $(INSTALLED)
	$(LOCAL) python dags/compare_models/prepare_data.py

clean:
	rm -rf .airflow .demo .pytest_cache .ruff_cache

# Kho — the two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW_CONFIG := $(CURDIR)/airflow.cfg
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Debian packages Kho needs at run time: libmagic (identification), conversion tools for normalisation.
DEBIAN_PACKAGES := libmagic1 ffmpeg ghostscript imagemagick libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui

.PHONY: install system-deps demo test bench lint typecheck airflow-standalone clean fixtures

install: system-deps $(VENV)/.installed

system-deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "Kho needs Debian packages:$$missing (sudo apt-get install -y$$missing)"; exit 1; fi; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[airflow,dev]'
	touch $@

$(AIRFLOW_HOME)/airflow.db: $(VENV)/.installed airflow.cfg
	mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate >/dev/null
	touch $@

# Ingest every sample SIP through the real Airflow `ingest` DAG into a fresh var/demo.
demo: install $(AIRFLOW_HOME)/airflow.db
	KHO_HOME=$(CURDIR)/var/demo KHO_DUPLICATES=new-version $(BIN)/python -m preservation.demo fixtures/sips

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

# Benchmarks side by side with their baselines (bench/README.md); results in bench/results/*.json.
bench: install
	$(BIN)/python -m bench all

lint:
	$(BIN)/ruff check .
	$(BIN)/mypy

# The Airflow UI and scheduler on http://localhost:8080, watching var/ingest/ (KHO_HOME=var).
airflow-standalone: install $(AIRFLOW_HOME)/airflow.db
	KHO_HOME=$${KHO_HOME:-$(CURDIR)/var} $(BIN)/airflow standalone

fixtures:
	$(BIN)/python fixtures/generate.py && $(BIN)/python fixtures/generate_eark.py && $(BIN)/python fixtures/generate_tt05.py

clean:
	rm -rf var .airflow .pytest_cache .mypy_cache .ruff_cache

# Kho — the two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
# the reference validators (OCFL, E-ARK) in a virtual environment of their own: tests/reference/requirements.txt
REF_VENV := .venv-ref
BIN := $(VENV)/bin
export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW_CONFIG := $(CURDIR)/airflow.cfg
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Debian packages Kho needs at run time: libmagic (identification), conversion tools for normalisation.
DEBIAN_PACKAGES := libmagic1 ffmpeg ghostscript icc-profiles-free imagemagick libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui tesseract-ocr tesseract-ocr-vie unpaper poppler-utils
# What the tests need besides: a real S3 server (Ceph RADOS Gateway, a throw-away one-node cluster), ClamAV, and
# Debian's chromium for the reading room's browser tests (Playwright drives it; never `playwright install`).
TEST_DEBIAN_PACKAGES := radosgw ceph-mon ceph-osd clamav fonts-dejavu-core chromium

.PHONY: install system-deps demo test bench fuzz lint typecheck airflow-standalone cluster cluster-down clean fixtures

install: system-deps $(VENV)/.installed $(REF_VENV)/.installed

system-deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "Kho needs Debian packages:$$missing (sudo apt-get install -y$$missing)"; exit 1; fi; \
	fi
	@missing=""; for p in $(TEST_DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "The tests use Debian packages:$$missing (sudo apt-get install -y --no-install-recommends$$missing); their tests are skipped"; fi; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[airflow,dev]'
	touch $@

$(REF_VENV)/.installed: tests/reference/requirements.txt
	$(PYTHON) -m venv $(REF_VENV)
	$(REF_VENV)/bin/pip install -q -r tests/reference/requirements.txt
	touch $@

# Ingest every sample SIP through the real Airflow `ingest` DAG into a fresh var/demo, with an Airflow
# home of its own (.airflow-demo): a running `make airflow-standalone` never sees the demo's runs.
demo: install
	AIRFLOW_HOME=$(CURDIR)/.airflow-demo KHO_HOME=$(CURDIR)/var/demo KHO_DUPLICATES=new-version \
	  $(BIN)/python -m preservation.demo fixtures/sips

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

# Benchmarks side by side with their baselines (bench/README.md); results in bench/results/*.json.
bench: install
	$(BIN)/python -m bench all

# Every fuzz target for 10 minutes (make test runs each for seconds); crashes land in tests/fuzz/crashes/.
fuzz: install
	$(BIN)/python -m tests.fuzz all --seconds 600

# lint-imports: the layer contract of DESIGN.md ([tool.importlinter] in pyproject.toml)
lint:
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Airflow on this machine: API server + UI on http://127.0.0.1:8080, scheduler (LocalExecutor), DAG
# processor, watching $(KHO_HOME)/ingest (KHO_HOME=var by default). Prints the admin password; Ctrl-C stops.
airflow-standalone: install
	KHO_HOME=$${KHO_HOME:-$(CURDIR)/var} $(BIN)/python -m preservation.deploy.standalone

# Airflow with the CeleryExecutor on this machine's PostgreSQL and Redis, KHO_WORKERS (2) Celery workers;
# writes $(KHO_HOME)/cluster.env for the kho CLI. `make cluster-down` stops it.
# Its own AIRFLOW_HOME (.airflow-cluster): secrets, password file and task logs never mix with standalone's.
cluster: install
	AIRFLOW_HOME=$(CURDIR)/.airflow-cluster KHO_HOME=$${KHO_HOME:-$(CURDIR)/var} \
	  $(BIN)/python -m preservation.deploy.cluster up

cluster-down:
	AIRFLOW_HOME=$(CURDIR)/.airflow-cluster KHO_HOME=$${KHO_HOME:-$(CURDIR)/var} \
	  $(BIN)/python -m preservation.deploy.cluster down

fixtures:
	$(BIN)/python fixtures/generate.py && $(BIN)/python fixtures/generate_eark.py && $(BIN)/python fixtures/generate_tt05.py \
	  && $(BIN)/python fixtures/generate_scans.py

clean:
	rm -rf var .airflow .airflow-demo .airflow-cluster .pytest_cache .mypy_cache .ruff_cache

# One command each: `make run` serves the assistant, `make test` runs every test.
# Both set up .venv first (idempotent: redone only when pyproject.toml changes).

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-done
HOST ?= 127.0.0.1
PORT ?= 7860

export ANONYMIZED_TELEMETRY := False
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup run ingest test test-fast lint settings-doc browser postgres ocr strace deploy-check clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: this version comes as a CPU wheel; a looser pin pulls a CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test,llm]"
	touch $(STAMP)

# Scans, photos and .doc files need Debian packages (31 MB, skipped when present). Optional
# at run time: where they cannot be installed (no root), the rest still runs and ingest
# reports such files as failed, saying what to install.
run: setup
	-bash scripts/install-ocr.sh
	$(VENV)/bin/qa-assistant serve --ingest --host $(HOST) --port $(PORT)

ingest: setup
	-bash scripts/install-ocr.sh
	$(VENV)/bin/qa-assistant ingest

# The deployment of docs/DEPLOY.md on loopback: chroma run, two replicas, load, a SIGKILL.
deploy-check: setup
	$(VENV)/bin/qa-assistant deploy-check

browser:
	bash scripts/install-browser.sh

postgres:
	bash scripts/install-postgres.sh

ocr:
	bash scripts/install-ocr.sh

strace:
	bash scripts/install-strace.sh

test: setup browser postgres ocr strace
	$(PY) -m pytest -q -p no:cacheprovider

test-fast: setup
	$(PY) -m pytest -q -m "not integration and not browser and not slow and not postgres"

lint: setup
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests
	$(VENV)/bin/mypy

# docs/SETTINGS.md is rendered from settings.py; a test fails when it is out of date.
settings-doc: setup
	$(PY) -m qa_assistant.tuning.settings_doc > docs/SETTINGS.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-output out

# Shortcuts; the README's Quick start needs only Python, not make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install install-dev run test test-fast serve bench standin

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt

install-dev: $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt

run: install  ## development server on 127.0.0.1:5000
	$(BIN)/python run.py

test: install-dev  ## the whole suite with coverage
	$(BIN)/python -m pytest

test-fast: install-dev  ## the fast loop: no browser, no services, nothing slow, no coverage, on every core
	$(BIN)/python -m pytest -m "not browser and not services and not slow" --no-cov -q -n auto

serve: install  ## production: migrate once, then gunicorn with gevent workers (gunicorn.conf.py)
	FLASK_ENV=$${FLASK_ENV:-production} $(BIN)/flask --app wsgi db upgrade
	FLASK_ENV=$${FLASK_ENV:-production} $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

bench: install-dev  ## the benchmark table (docs/benchmark.md; bench/results/latest.md)
	$(BIN)/python -m bench.run

standin: install-dev  ## a local DeepSeek stand-in on 127.0.0.1:8099
	$(BIN)/python -m tests.deepseek_standin --port 8099

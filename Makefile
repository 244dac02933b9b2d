# medbroker — the two commands of the README are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STATIC_VENDOR := medbroker/static/vendor
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install static messages demo serve test lint format pytest clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the project's dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

# Front-end packages come from the npm registry (package.json + lock) and are copied into the static
# files here, never committed: the closed learning room has no internet, so nothing loads from a CDN.
$(STATIC_VENDOR)/.copied: node_modules/.package-lock.json
	rm -rf $(STATIC_VENDOR)
	mkdir -p $(STATIC_VENDOR)/krds $(STATIC_VENDOR)/htmx $(STATIC_VENDOR)/chartjs
	cp -r node_modules/krds-uiux/resources/css node_modules/krds-uiux/resources/fonts \
	      node_modules/krds-uiux/resources/img node_modules/krds-uiux/resources/js $(STATIC_VENDOR)/krds/
	# krds-uiux 1.1.0's component.css points at ../../img/img/…: give it that path too.
	cp -r node_modules/krds-uiux/resources/img $(STATIC_VENDOR)/krds/img/img
	cp node_modules/htmx.org/dist/htmx.min.js $(STATIC_VENDOR)/htmx/
	cp node_modules/chart.js/dist/chart.umd.min.js $(STATIC_VENDOR)/chartjs/
	touch $@

# Translation catalogues are compiled here (GNU gettext's msgfmt), not committed.
MO_FILES := $(patsubst %.po,%.mo,$(wildcard medbroker/locale/*/LC_MESSAGES/*.po))
medbroker/locale/%.mo: medbroker/locale/%.po
	msgfmt --check-format -o $@ $<

install: $(VENV)/.installed $(STATIC_VENDOR)/.copied $(MO_FILES)
static: $(STATIC_VENDOR)/.copied
messages: $(MO_FILES)

HUB_PORT ?= 8001

demo: install
	$(BIN)/medbroker migrate --no-input
	$(BIN)/medbroker demo
	@# The workspace hub (JupyterHub, http://$(HOST):$(HUB_PORT)) runs beside the platform and ends with it.
	MEDBROKER_HUB_URL=http://$(HOST):$(HUB_PORT) $(BIN)/medbroker hub --platform-url http://$(HOST):$(PORT) & hub=$$!; \
	  trap 'kill $$hub 2>/dev/null; wait $$hub' EXIT INT TERM; \
	  MEDBROKER_HUB_URL=http://$(HOST):$(HUB_PORT) $(BIN)/medbroker runserver $(HOST):$(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy medbroker config
	@# Every English entry translated and none left fuzzy (a fuzzy entry is silently not used).
	@for po in medbroker/locale/*/LC_MESSAGES/*.po; do \
	  test -z "$$(msgattrib --untranslated --no-obsolete $$po)" || { echo "untranslated entries in $$po"; exit 1; }; \
	  test -z "$$(msgattrib --only-fuzzy --no-obsolete $$po)" || { echo "fuzzy entries in $$po"; exit 1; }; \
	done

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

pytest: install
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint pytest

clean:
	rm -rf $(VENV) node_modules $(STATIC_VENDOR) var test-artifacts

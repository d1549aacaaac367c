# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
# With DATABASE_URL / REDIS_URL unset they use the embedded PostgreSQL and Redis
# (config/embedded.py); set them to use real servers.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
EMBEDDED := $(PY) -m config.embedded --
export DJANGO_SETTINGS_MODULE ?= config.settings.dev

.PHONY: run test lint format bench calendar migrations messages stop clean fuzz-live

$(VENV)/.installed-run: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed-run

## run: install, start embedded services if needed, migrate, load demo data, start web + worker + beat
run: $(VENV)/.installed-run
	mkdir -p .data  # beat keeps its schedule there, with or without the embedded servers
	$(EMBEDDED) sh -c '\
	  $(PY) manage.py compiletranslations && \
	  $(PY) manage.py ensure_database && \
	  $(PY) manage.py migrate --noinput && \
	  $(PY) manage.py load_demo && \
	  rm -rf .data/metrics && mkdir -p .data/metrics && \
	  PROMETHEUS_MULTIPROC_DIR="$${PROMETHEUS_MULTIPROC_DIR:-$(CURDIR)/.data/metrics}" \
	  PATH="$(CURDIR)/$(VENV)/bin:$$PATH" exec $(VENV)/bin/honcho start -f Procfile --port "$${PORT:-8000}"'

## test: install dev requirements, lint, and run the whole suite
test: $(VENV)/.installed-dev lint
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py compiletranslations
	DJANGO_SETTINGS_MODULE=config.settings.test $(EMBEDDED) $(VENV)/bin/pytest $(PYTEST_ARGS)

## fuzz-live: schemathesis against a live server, 30 examples per operation (not in `make test`)
fuzz-live: $(VENV)/.installed-dev
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py compiletranslations
	DJANGO_SETTINGS_MODULE=config.settings.test API_FUZZ_LIVE=1 $(EMBEDDED) \
	  $(VENV)/bin/pytest tests/test_api_fuzz.py -k live_server $(PYTEST_ARGS)

## lint: ruff, and the import contracts between the layers (pyproject.toml, docs/architecture.md)
lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## bench: long benchmarks (not part of the tests); prints ratios against baselines
bench: $(VENV)/.installed-dev
	DJANGO_SETTINGS_MODULE=config.settings.test $(EMBEDDED) $(PY) -m bench

## calendar: the date-sensitive tests at each instant of tests/clock.py (pytest --at)
CALENDAR_TESTS ?= tests/backoffice tests/dashboard tests/returns tests/satisfaction \
	tests/test_demo.py tests/fulfillment/test_demo.py tests/preferences/test_demo.py \
	tests/woocommerce/test_demo.py tests/carriers/test_demo.py tests/portal/test_demo.py
calendar: $(VENV)/.installed-dev
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py compiletranslations
	DJANGO_SETTINGS_MODULE=config.settings.test $(EMBEDDED) sh -c '\
	  failed=""; \
	  for at in $$($(PY) -c "from tests.clock import INSTANTS; print(*INSTANTS)"); do \
	    echo "== $$at"; \
	    $(VENV)/bin/pytest -q --at $$at -m "not scenario" \
	      $(CALENDAR_TESTS) $(PYTEST_ARGS) || failed="$$failed $$at"; \
	  done; \
	  if [ -n "$$failed" ]; then echo "failed at:$$failed"; exit 1; fi; echo "every instant passed"'

migrations: $(VENV)/.installed-dev
	$(EMBEDDED) $(PY) manage.py makemigrations

## messages: refresh locale/fr from the source (needs GNU gettext's xgettext)
messages: $(VENV)/.installed-dev
	$(PY) manage.py makemessages --locale fr --no-obsolete --ignore '.venv/*' --ignore '.data/*'

## stop: stop the embedded PostgreSQL and Redis
stop:
	$(PY) -m config.embedded stop

clean: stop
	rm -rf .data $(VENV)

# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: run test install install-dev lint migrate lock bench clean static-vendor

$(VENV)/.installed: requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	touch $@

$(VENV)/.installed-dev: requirements-dev.lock $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.lock
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py createcachetable
	$(BIN)/python manage.py compiletranslations

# The gate scanner's browser libraries, from npm (package-lock.json), served as static files.
GATE_VENDOR := bookings/static/gate/vendor
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

$(GATE_VENDOR)/.copied: node_modules/.package-lock.json
	mkdir -p $(GATE_VENDOR)
	cp node_modules/jsqr/dist/jsQR.js $(GATE_VENDOR)/jsQR.js
	cp node_modules/@noble/ed25519/index.js $(GATE_VENDOR)/noble-ed25519.js
	touch $@

static-vendor: $(GATE_VENDOR)/.copied

## Install, migrate, load the demo data, start web + worker + beat; Ctrl-C stops them all.
run: migrate static-vendor
	$(BIN)/python manage.py load_demo
	$(BIN)/honcho start -f Procfile.dev

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run

## The whole suite: lint, migrations in step with models, translations complete, tests.
test: lint static-vendor
	$(BIN)/python manage.py compiletranslations
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Benchmarks (PostgreSQL and Redis on 127.0.0.1): ratios against a baseline of the same run.
bench: install-dev static-vendor
	$(BIN)/python -m tests.bench.broadcast
	$(BIN)/python -m tests.bench.bookings
	$(BIN)/python -m tests.bench.floor

## Re-pin the lock files after changing pyproject.toml.
lock: install-dev
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --quiet --generate-hashes -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --quiet --extra dev --generate-hashes -o requirements-dev.lock

clean:
	rm -rf var .pytest_cache .ruff_cache

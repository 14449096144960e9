# opskit: `make demo` runs the demo with no services; `make test` runs everything.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
SERVICES := $(PY) tools/services.py run --
DJ42_VENV ?= .venv-dj42
BENCH_VENV ?= .venv-bench

.PHONY: help venv demo packaging test test-unit lint types pytest pytest-sqlite test-django42 rehearsal bench clean

help:
	@echo "make demo    run the demo blog at http://127.0.0.1:8000 (SQLite, no services; PORT=8001 for another port)"
	@echo "make test    lint, types and the whole test suite on real Redis and PostgreSQL"
	@echo "make test-unit  the tests that need no server (SQLite, local memory; not part of make test)"
	@echo "make bench   benchmarks against the anchor packages (make bench SUITE=core)"

$(VENV)/.stamp: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10) and "opskit needs Python >= 3.10" or 0)'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -U pip
	$(PIP) uninstall -y opskit 2>/dev/null || true  # the distribution's name before django-opskit
	$(PIP) install -e '.[test,demo]'
	touch $@

venv: $(VENV)/.stamp

# The demo's own venv: opskit (editable) and what the `demo-sqlite` extra
# lists, nothing else (no test toolchain, no Redis, Sentry or PostgreSQL
# client).  It borrows this Python's pip (`pip --python`, pip >= 22.3)
# rather than bootstrapping one, and builds opskit without an isolated
# build env: ~13 s of CPU from a fresh clone with pip's cache warm.
DEMO_VENV ?= .venv-demo
DEMO_PY := $(DEMO_VENV)/bin/python
PORT ?= 8000
$(DEMO_VENV)/.stamp: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10) and "opskit needs Python >= 3.10" or 0)'
	@test -x $(DEMO_PY) || $(PYTHON) -m venv --without-pip $(DEMO_VENV); \
	if $(PYTHON) -m pip --python $(DEMO_PY) --version >/dev/null 2>&1; then \
	  pip="$(PYTHON) -m pip --python $(DEMO_PY)"; \
	else \
	  $(DEMO_PY) -m pip --version >/dev/null 2>&1 || $(DEMO_PY) -m ensurepip -q; \
	  pip="$(DEMO_PY) -m pip"; \
	fi; \
	set -x; \
	$$pip --disable-pip-version-check -q install 'setuptools>=77' && \
	$$pip --disable-pip-version-check -q install --no-build-isolation -e '.[demo-sqlite]'
	touch $@

# runserver shows the system checks once; migrate and seed skip them.
demo: $(DEMO_VENV)/.stamp
	cd demo_project && ../$(DEMO_PY) manage.py migrate --noinput -v 0 --skip-checks
	cd demo_project && ../$(DEMO_PY) manage.py seed_blog --posts 300 --if-empty --skip-checks
	@echo "opskit demo: http://127.0.0.1:$(PORT)/  (JSON request logs below; Ctrl-C stops)"
	cd demo_project && ../$(DEMO_PY) manage.py runserver 127.0.0.1:$(PORT) --noreload

lint: venv
	$(VENV)/bin/ruff check opskit tests tools bench demo_project
	$(VENV)/bin/ruff format --check opskit tests tools bench demo_project

types: venv
	$(VENV)/bin/mypy

pytest: venv
	$(SERVICES) env OPSKIT_TEST_HIREDIS=1 $(PY) -m pytest -p no:randomly -m "not rehearsal"

# The database-dependent tests again with SQLite as the default alias.
pytest-sqlite: venv
	$(SERVICES) env OPSKIT_TEST_DB=sqlite $(PY) -m pytest -m "django_db and not rehearsal" -q

# Everything that needs no server: SQLite and local memory only (no Redis,
# no PostgreSQL); the summary says how many tests it left for `make test`.
test-unit: venv
	env OPSKIT_TEST_UNIT=1 OPSKIT_TEST_DB=sqlite DJANGO_SETTINGS_MODULE=tests.settings_unit \
	  OPSKIT_TEST_REDIS_URL=redis://127.0.0.1:9/15 \
	  OPSKIT_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:9/postgres \
	  $(PY) -m pytest -q -p no:randomly --ds=tests.settings_unit

# Without hiredis: the pure-Python Redis reply parser is tested here, hiredis in the main run.
$(DJ42_VENV)/.stamp: pyproject.toml
	test -x $(DJ42_VENV)/bin/python || $(PYTHON) -m venv $(DJ42_VENV)
	$(DJ42_VENV)/bin/python -m pip --disable-pip-version-check -q install -U pip
	$(DJ42_VENV)/bin/python -m pip --disable-pip-version-check -q uninstall -y opskit 2>/dev/null || true
	$(DJ42_VENV)/bin/python -m pip --disable-pip-version-check -q install -e '.[test]' 'django>=4.2,<5.0'
	$(DJ42_VENV)/bin/python -m pip --disable-pip-version-check -q uninstall -y hiredis
	touch $@

# Django 4.2 LTS: the unit suite (not the rehearsal) on the older LTS.
test-django42: $(DJ42_VENV)/.stamp
	$(SERVICES) env OPSKIT_TEST_HIREDIS=0 $(DJ42_VENV)/bin/python -m pytest -q -m "not rehearsal"

# Each capability adds its own targets to `make test` here, one line each.
TEST_TARGETS := lint types pytest pytest-sqlite test-django42
# -- metrics (issue 4): promtool --
TEST_TARGETS += promtool
pytest pytest-sqlite test-django42: promtool-install
.PHONY: promtool promtool-install
# promtool (Debian package `prometheus`) lints the exposition; tests run it too.
promtool-install:
	@command -v promtool >/dev/null 2>&1 || { \
	  echo "installing promtool (Debian package prometheus)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends prometheus; }
	@promtool --version | head -1
promtool: venv promtool-install
	env -u PROMETHEUS_MULTIPROC_DIR $(PY) -m tests.metrics.exposition > $(VENV)/opskit-metrics.prom
	promtool check metrics < $(VENV)/opskit-metrics.prom
	@echo "promtool: $$(grep -c '^# TYPE' $(VENV)/opskit-metrics.prom) metric families OK"
# -- ratelimit (issue 14): private Redis Cluster and Sentinel groups --
# tests/support/redis_topology.py starts them with redis-server (Cluster mode
# and `--sentinel` are built in) and redis-cli (`--cluster create`).
pytest pytest-sqlite test-django42 rehearsal: redis-install
.PHONY: redis-install
redis-install:
	@command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 || { \
	  echo "installing redis-server and redis-cli (Debian package redis-server)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends redis-server; }
	@redis-server --version | cut -d' ' -f1-3
# -- demo (issue 9) --
# The Dockerfile replayed without Docker: a fresh venv, its pip install steps
# (non-editable, so packaging mistakes show), its CMD under gunicorn, /livez,
# the seeded API and its HEALTHCHECK.  15 s with pip's cache warm, under a
# minute cold.  (pytest replays the start steps alone, with --reuse-venv.)
TEST_TARGETS += dockerfile-smoke
.PHONY: dockerfile-smoke
dockerfile-smoke: venv
	$(PY) tools/dockerfile_smoke.py
# -- docs (issue 11) --
# The strict docs build and the promtool checks of docs/ops/ (alert rules and
# their unit tests, the scrape config).  promtool comes from Debian's
# `prometheus` package; the tests in tests/docs/ need it too.
TEST_TARGETS += docs
.PHONY: docs docs-promtool
docs-promtool:
	@command -v promtool >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing promtool (Debian package prometheus)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	  else \
	    echo "promtool is missing: install Debian's 'prometheus' package (apt-get install prometheus) or put promtool on PATH" >&2; exit 1; \
	  fi; }
	@promtool --version 2>&1 | head -1
pytest test-django42: docs-promtool
docs: venv docs-promtool
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site
	promtool check rules docs/ops/alerts.yml
	cd docs/ops && promtool test rules alerts.test.yml
# -- rehearsal (issue 10) --
TEST_TARGETS += rehearsal
# -- packaging (issue 15) --
# The sdist and wheel (python -m build, twine check), the wheel installed in
# a fresh venv, a `startproject` set up by the README's quickstart blocks, a
# page, the probes, /metrics and a JSON request line; misconfiguration under
# runserver and gunicorn.  ~60-90 s with pip's cache warm; run once (the
# tests are not collected without OPSKIT_PACKAGING_TEST=1).
TEST_TARGETS += packaging
packaging: venv
	env OPSKIT_PACKAGING_TEST=1 $(PY) -m pytest -p no:randomly -q tests/packaging

test: $(TEST_TARGETS)

# The production rehearsal (issue 10): the demo under gunicorn (4 workers) on
# a temporary PostgreSQL database and a private redis-server, with load,
# faults, hostile input and a soak, all on loopback, ~3-4 minutes. Writes
# docs/rehearsal.md and docs/rehearsal.json, also when an assertion fails.
# The soak drives wrk when it is installed, else the Python client.
rehearsal: venv
	@command -v wrk >/dev/null 2>&1 || { test "$$(id -u)" = 0 && command -v apt-get >/dev/null 2>&1 \
		&& DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } \
		|| echo "rehearsal: wrk is not installed; the soak uses the Python client"
	@command -v haproxy >/dev/null 2>&1 || { test "$$(id -u)" = 0 && command -v apt-get >/dev/null 2>&1 \
		&& DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy; } \
		|| { echo "rehearsal: scenario 7c needs haproxy (Debian package haproxy)" >&2; exit 1; }
	$(SERVICES) env OPSKIT_REHEARSAL_COMMAND="make rehearsal" $(PY) -m pytest -p no:randomly -m rehearsal -q tests/rehearsal

$(BENCH_VENV)/.stamp: pyproject.toml bench/requirements.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip --disable-pip-version-check -q install -U pip
	$(BENCH_VENV)/bin/python -m pip --disable-pip-version-check -q install -e '.[test]' -r bench/requirements.txt
	touch $@

SUITE ?=
bench: $(BENCH_VENV)/.stamp
	@command -v valgrind >/dev/null 2>&1 || { test "$$(id -u)" = 0 && command -v apt-get >/dev/null 2>&1 \
		&& DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind; } \
		|| echo "bench: valgrind is not installed; the instructions suite will say so"
	@command -v wrk >/dev/null 2>&1 || { test "$$(id -u)" = 0 && command -v apt-get >/dev/null 2>&1 \
		&& DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } \
		|| echo "bench: wrk is not installed; the e2e and health suites will say so"
	$(SERVICES) $(BENCH_VENV)/bin/python -m bench $(SUITE)

clean:
	rm -rf $(VENV) $(DJ42_VENV) $(BENCH_VENV) $(DEMO_VENV) build dist *.egg-info

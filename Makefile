# Council: `make run` brings up the site on the bundled models; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The tests run against real Postgres and Redis; these are the local defaults.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/council
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: run install test test-fast test-slow worker bench bench-pipeline bench-app migrate

# constraints.txt holds what only this kind of machine needs (the CPU torch build on disk).
$(VENV)/installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	@echo "Installing Council (llama-cpp-python builds llama.cpp from source the first time: about 6 minutes on 2 cores)"
	$(VENV)/bin/pip install -c constraints.txt -e '.[test]'
	touch $@

install: $(VENV)/installed

migrate: install
	$(PY) manage.py ensure_database
	$(PY) manage.py migrate --noinput

run: migrate
	@echo
	@echo "  Council is starting on http://127.0.0.1:8000"
	@echo "  Sign up there: the first account becomes the administrator (admin at /admin/)."
	@echo
	$(VENV)/bin/daphne -b 127.0.0.1 -p 8000 council.asgi:application

worker: install
	$(VENV)/bin/celery -A council worker -Q cpu --pool threads --concurrency 2 -l INFO

test: install
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest $(PYTEST_ARGS)

test-fast: install
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: install
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest -m slow $(PYTEST_ARGS)

bench: install
	$(PY) -m inference bench

# The latency the web stack adds to streamed tokens, on the local Postgres and Redis.
bench-pipeline: install
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) manage.py ensure_database
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) manage.py migrate --noinput -v0
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) manage.py bench_pipeline

# FAST through the whole product against raw llama.cpp, and columns sharing the cores:
# the embedded default and Postgres + Redis + a Celery worker. ARGS=--quick for a short run.
bench-app: install
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) manage.py bench_app $(ARGS)

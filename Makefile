# The README's two commands: `make demo` and `make test`. Each installs what it needs,
# idempotently (stamps under .stamps/ are redone when their inputs change).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := .stamps

.PHONY: demo test lint types unit bench install clean

install: $(STAMPS)/venv

$(STAMPS)/venv: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/node: fixtures/package.json fixtures/package-lock.json
	cd fixtures && npm ci --no-audit --no-fund --loglevel=error
	@mkdir -p $(STAMPS) && touch $@

# Playwright cannot download its browsers here: the plugin launches Debian's Chromium instead.
$(STAMPS)/chromium:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	@mkdir -p $(STAMPS) && touch $@

# The main job: the guide's validation procedure against the demo shop, in headless Chromium,
# and every broken variant caught by its check; prints what each test captured.
demo: $(STAMPS)/venv $(STAMPS)/node $(STAMPS)/chromium
	$(PY) -m pytest examples -n 2 --dist loadfile -q --analytics-summary

lint: $(STAMPS)/venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

types: $(STAMPS)/venv
	$(PY) -m mypy pytest_hybrid_analytics

unit: $(STAMPS)/venv $(STAMPS)/node $(STAMPS)/chromium
	$(PY) -m pytest --cov --cov-report=term:skip-covered

test: lint types unit

bench: $(STAMPS)/venv
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) $(STAMPS) .pytest_cache .mypy_cache .ruff_cache .coverage

# The README's two commands: `make demo` and `make test`. Each installs what it needs,
# idempotently (stamps under .stamps/ are redone when their inputs change).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := .stamps

.PHONY: demo test lint types unit bench install clean matrix mutate

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

# In a local zone other than UTC (UTC+05:45), since users' CI machines are not all UTC: a POSIX
# TZ string, which needs no tzdata (an unknown zone name would silently mean UTC);
# tests/test_promises.py fails if the run is in UTC after all.
# Then the decoding tests again with the `fast` extra's decoders (msgspec, ISA-L), which the
# venv itself does not have, as a plain install does not.
unit: $(STAMPS)/venv $(STAMPS)/node $(STAMPS)/chromium $(STAMPS)/fast
	TZ=NPT-5:45 HYBRID_ANALYTICS_EXPECT_TZ=1 $(PY) -m pytest --cov --cov-report=term:skip-covered
	PYTHONPATH=$(FAST) HYBRID_ANALYTICS_EXPECT_FAST=1 $(PY) -m pytest -q -p no:cacheprovider \
	  $(DECODING_TESTS)

# The `fast` extra in a folder of its own (PYTHONPATH=.fast), pinned.
FAST := .fast
DECODING_TESTS := tests/test_wire.py tests/test_ingest.py tests/test_real_payloads.py \
  tests/test_events.py tests/test_fuzz.py tests/test_lz64.py tests/test_collector_robust.py \
  tests/test_promises.py tests/test_mutants_decoding.py tests/test_versions_payloads.py
$(STAMPS)/fast: pyproject.toml constraints.txt | $(STAMPS)/venv
	rm -rf $(FAST)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -c constraints.txt \
	  --target $(FAST) msgspec isal
	@mkdir -p $(STAMPS) && touch $@

test: lint types unit

# The SDK version matrix (README, 'Supported SDK versions'): each posthog-python major in its
# own folder, pinned with everything it installs (fixtures/sdk-matrix/posthog-<major>.txt);
# the posthog-js and posthog-node versions are npm aliases in fixtures/package.json. `unit`
# runs the matrix's tests (tests/test_versions_*.py) with the rest; `make matrix` runs only them.
MATRIX := .matrix
MATRIX_PYTHON := 3 4 5 6 7

$(STAMPS)/matrix: $(wildcard fixtures/sdk-matrix/posthog-*.txt) | $(STAMPS)/venv
	for major in $(MATRIX_PYTHON); do \
	  rm -rf $(MATRIX)/posthog-$$major && \
	  $(PY) -m pip install --quiet --disable-pip-version-check --no-deps \
	    --target $(MATRIX)/posthog-$$major -r fixtures/sdk-matrix/posthog-$$major.txt || exit 1; \
	done
	@mkdir -p $(STAMPS) && touch $@

unit: $(STAMPS)/matrix

matrix: $(STAMPS)/venv $(STAMPS)/node $(STAMPS)/chromium $(STAMPS)/matrix
	$(PY) -m pytest -p no:cacheprovider tests/test_versions_server.py tests/test_versions_browser.py tests/test_versions_report.py

# Every figure with its goal (README, 'Speed'); the browser sections need posthog-js and Chromium.
bench: $(STAMPS)/venv $(STAMPS)/node $(STAMPS)/chromium $(STAMPS)/fast
	PYTHONPATH=$(FAST) $(PY) -m benchmarks

# Mutation testing of the pure core (slow, so not part of `test`): mutmut mutates the modules
# listed in pyproject.toml ([tool.mutmut]) and runs the fast tests that reach each mutant; then
# `python -m mutation` prints the score per module, less mutation/equivalent.txt. The whole log
# is in mutants/run.log; `mutmut show ID` prints one mutant.
$(STAMPS)/mutate: $(STAMPS)/venv pyproject.toml constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test,mutate]'
	@mkdir -p $(STAMPS) && touch $@

# Run with the `fast` extra importable, so the msgspec and ISA-L branches of the decoding are
# mutated too; tests/test_mutants_decoding.py decodes with both (stdlib_decoders()).
mutate: $(STAMPS)/mutate $(STAMPS)/fast
	rm -rf mutants && mkdir mutants
	PYTHONPATH=$(abspath $(FAST)) $(VENV)/bin/mutmut run --max-children $$(nproc) \
	  >mutants/run.log 2>&1 \
	  || { tail -n 40 mutants/run.log; exit 1; }
	$(PY) -m mutation

clean:
	rm -rf $(VENV) $(STAMPS) .pytest_cache .mypy_cache .ruff_cache .coverage mutants $(FAST) $(MATRIX)

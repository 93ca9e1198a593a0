# Relay: the two commands are `make demo` and `make test`. Everything else is a helper.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium

.PHONY: demo test test-fast test-browser browser ui serve lint format clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' 2>/dev/null \
		|| { echo "Relay needs Python 3.11 (found: $(PYTHON)); set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade --quiet pip
	# torch first and alone: the CPU wheel; any other spec can pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/relay demo

test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/pytest -n 2 --dist loadscope --durations=15

test-fast: $(STAMP)
	$(BIN)/pytest -n 2 --dist loadscope -m "not slow"

test-browser: $(STAMP) browser
	$(BIN)/pytest -m browser

# tests/browser drives Debian's Chromium through Playwright (no browser download). As root (CI is)
# it is installed when missing; otherwise install it yourself: those tests skip without it, except
# under CI=true, where they fail.
browser:
	@test -x $(CHROMIUM) || if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
			|| echo "could not install chromium: tests/browser will fail under CI=true"; \
	else echo "tests/browser needs Debian's Chromium: sudo apt-get install -y chromium"; fi

ui: $(STAMP)
	$(BIN)/relay ui

serve: $(STAMP)
	$(BIN)/relay serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf var .pytest_cache .ruff_cache

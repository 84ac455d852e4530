# The two commands of the quick start:
#   make run    installs, migrates, loads demo data, runs web + Celery worker + beat
#   make test   installs and runs the whole test suite
# Both create ./.venv on first use; nothing needs to be installed by hand.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
WEB_PORT ?= 8000

.PHONY: run test browser install lint format load load-quick clean

$(STAMP): pyproject.toml
	rm -f $(VENV)/.installed-*
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	DEBUG=1 $(BIN)/python manage.py migrate --no-input
	DEBUG=1 $(BIN)/python manage.py demo_seed
	@echo
	@echo "  Infusion tracker: http://127.0.0.1:$(WEB_PORT)/   (admin: http://127.0.0.1:$(WEB_PORT)/admin/)"
	@echo
	DEBUG=1 WEB_PORT=$(WEB_PORT) PATH="$(BIN):$$PATH" $(BIN)/honcho start

# The browser tests drive Debian's Chromium (never a downloaded browser); install it
# from Debian's packages when missing (CI runs as root).
browser:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

test: $(STAMP) browser
	$(BIN)/pytest $(PYTEST_ARGS)

# The peak-hour yardstick (README, Performance; tests/load/run.py): this machine's
# PostgreSQL and Redis, databases of its own (infusion_load, infusion_load_small).
# `make load`: the 1,000-clinic network, clinics stepped up to the knee, the reminder
# burst, and the same profile on both databases. `make load-quick`: 20 clinics on the
# 10,000-session database, under 3 minutes. Never part of `make test` or CI.
load: $(STAMP)
	$(BIN)/python -m tests.load.run --compare $(LOAD_ARGS)

load-quick: $(STAMP)
	$(BIN)/python -m tests.load.run --quick $(LOAD_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) data

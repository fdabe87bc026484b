# Two commands: `make run` (set up + serve on the embedded defaults), `make test` (set up + lint
# + the whole suite). Everything either needs is installed by the targets below.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
APT_UPDATED := .local/.apt-updated
# Local sandboxes run as this unprivileged account when the dashboard runs as root (empty
# DASHBOARD_SANDBOX_USER: as the dashboard's own user). sandboxes/isolation.py.
SANDBOX_USER := $(if $(filter undefined,$(origin DASHBOARD_SANDBOX_USER)),sandbox-dashboard,$(DASHBOARD_SANDBOX_USER))

.PHONY: run test test-scale setup lint format node-deps chromium test-deps sandbox-user clean

run: setup node-deps chromium
	$(PY) manage.py seed --url http://$(HOST):$(PORT)
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py reap
	@echo "Serving the dashboard on http://$(HOST):$(PORT) (Ctrl-C to stop)"
	$(VENV)/bin/daphne -b $(HOST) -p $(PORT) config.asgi:application

test: setup node-deps chromium test-deps lint
	$(VENV)/bin/pytest

# The scale-out set-up for real (tests/scale/): PostgreSQL and Redis (Debian's, installed if
# missing, on their own data directories and loopback ports), two daphnes, two workers.
test-scale: setup node-deps
	scripts/test-scale

setup: $(VENV)/.installed sandbox-user
	$(PY) manage.py migrate --noinput -v0

# A system account without a home or a shell; only root can run processes as another user,
# so it is made (and used) when `make` runs as root.
sandbox-user:
	@if [ "$$(id -u)" -eq 0 ] && [ -n "$(SANDBOX_USER)" ] && ! id -u "$(SANDBOX_USER)" >/dev/null 2>&1; then \
	  echo "Creating the system user $(SANDBOX_USER): local sandboxes run as it"; \
	  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
	    --user-group "$(SANDBOX_USER)"; \
	fi

$(VENV)/.installed: pyproject.toml
	@python=$$(scripts/find-python) || exit 1; \
	  echo "Using $$python ($$($$python --version))"; \
	  [ -x $(PY) ] || $$python -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=25.1"
	$(PY) -m pip install --quiet --group test
	touch $@

# Previews run `npm install` and a Vite dev server inside local sandboxes; the code review's
# backend lane probes the API it starts there with curl.
node-deps:
	@if ! command -v npm >/dev/null 2>&1; then \
	  echo "Installing Node.js and npm (Debian) for previews"; \
	  $(call apt_install,nodejs npm); \
	fi
	@if ! command -v curl >/dev/null 2>&1; then \
	  echo "Installing curl (Debian) for the review lanes' API probes"; \
	  $(call apt_install,curl); \
	fi

# Screenshots of previews (and the browser tests) drive Debian's chromium; a Playwright
# browser download is impossible here.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "Installing Debian's chromium for preview screenshots"; \
	  $(call apt_install,chromium); \
	fi

test-deps: chromium

define apt_install
	if [ "$$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi; \
	  mkdir -p .local; \
	  [ -f $(APT_UPDATED) ] || { $$SUDO apt-get update -qq && touch $(APT_UPDATED); }; \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(1) >/dev/null
endef

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache

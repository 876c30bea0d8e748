# Two commands matter (see README): `make run` and `make test`.
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV_PY := .venv/bin/python
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(shell $(PYTHON) -c 'import sys; print(sys.executable)')

.PHONY: run test install install-dev lint format chromium test-idps clean
.PHONY: messages compilemessages check-messages

# uv lives in its own tiny virtualenv so that `uv sync` may manage .venv freely.
$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

install: $(UV)
	$(UV) sync --frozen --inexact --no-dev

install-dev: $(UV)
	$(UV) sync --frozen

PORT ?= 8000
# The GPU simulator `make run` starts beside the console (docs/gpu_provider.md); its endpoints
# and jobs are kept next to the SQLite database, so they survive a restart.
GPU_SIM_PORT ?= 8911
GPU_SIM_STATE ?= db.sqlite3.gpu-simulator.json

run: install  ## SQLite, eager Celery, demo data, the GPU simulator, http://127.0.0.1:$(PORT)
	$(VENV_PY) manage.py migrate --noinput
	@export GPU_SIMULATOR_PORT=$(GPU_SIM_PORT); \
	$(VENV_PY) manage.py gpu_simulator --port $(GPU_SIM_PORT) --state-file $(GPU_SIM_STATE) \
	  --auto-endpoints & \
	sim=$$!; trap 'kill $$sim 2>/dev/null; wait $$sim 2>/dev/null' EXIT; trap 'exit 130' INT TERM; \
	{ $(VENV_PY) manage.py gpu_simulator --port $(GPU_SIM_PORT) --wait 30 || \
	  echo "No GPU simulator on port $(GPU_SIM_PORT): GPU jobs will fail (try GPU_SIM_PORT=...)." >&2; }; \
	$(VENV_PY) manage.py load_demo --port $(PORT) && \
	$(VENV_PY) manage.py runserver $(RUNSERVER_ARGS) 127.0.0.1:$(PORT)

test: install-dev chromium test-idps  ## the whole suite (DATABASE_URL/REDIS_URL select PostgreSQL/Redis)
	$(VENV_PY) -m pytest $(PYTEST_ARGS)

chromium:
	@bash scripts/ensure-chromium

test-idps:  ## the SAML and OIDC identity providers the SSO tests run on loopback (npm ci)
	@bash scripts/ensure-test-idps

lint: install-dev  ## ruff, the import contracts (pyproject.toml), no missing migration
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports
	$(VENV_PY) manage.py makemigrations --check --dry-run

# Translations (docs/i18n.md). The compiled .mo files are committed, so `make run` and
# `make test` need no GNU gettext; `make messages` (a developer's step) re-extracts the
# marked strings with Django's makemessages (xgettext) and recompiles with Babel.
MAKEMESSAGES_IGNORE := --ignore=.venv --ignore=.tools --ignore=tests --ignore=bench \
	--ignore=staticfiles --ignore=artifacts --ignore='*/node_modules/*'

messages: install-dev  ## regenerate locale/*/LC_MESSAGES/django.po from the sources, then compile
	$(VENV_PY) manage.py makemessages --all --no-obsolete --add-location=file $(MAKEMESSAGES_IGNORE)
	$(VENV_PY) manage.py catalogue compile
	$(VENV_PY) manage.py catalogue check || true

compilemessages: install-dev  ## locale/*/LC_MESSAGES/django.mo from the .po files (Babel, no gettext)
	$(VENV_PY) manage.py catalogue compile

check-messages: install-dev  ## which messages are missing, untranslated or fuzzy
	$(VENV_PY) manage.py catalogue check

format: install-dev
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

clean:
	rm -rf .venv .tools staticfiles .pytest_cache tests/sso/idp/node_modules

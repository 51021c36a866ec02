# Two commands matter: `make run` and `make test`. Both install what they need first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck format bench browsers media wrk messages clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Chromium for the browser tests, from Debian's packages (never a browser download).
browsers:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "Chromium is not installed: browser tests will be skipped (sudo apt-get install chromium)."; \
	  fi; \
	fi

# Janus (the media server of group sessions) and coturn (the TURN relay), from Debian. Nothing
# starts them here: bin/janus-run does, with the project's config (deploy/janus/).
media:
	@missing=""; command -v janus >/dev/null || missing="janus"; \
	command -v turnserver >/dev/null || missing="$$missing coturn"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "Not installed: $$(echo $$missing). Group-session and TURN tests will be skipped, and make run starts no media server (sudo apt-get install janus coturn)."; \
	  fi; \
	fi

# wrk, the HTTP load generator of bench/bench_http.py and bench_contention.py, from Debian.
wrk:
	@if ! command -v wrk >/dev/null; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	  else \
	    echo "wrk is not installed: the HTTP benchmarks will be skipped (sudo apt-get install wrk)."; \
	  fi; \
	fi

run: install media
	$(BIN)/python manage.py migrate --noinput -v0
	$(BIN)/python manage.py seed_demo
	bin/run-dev

test: install browsers media
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install wrk
	@for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

# Regenerate the message catalogues after changing marked strings (needs gettext).
messages: install
	$(BIN)/python manage.py makemessages -l es --ignore '.venv/*' --ignore 'staticfiles/*'
	$(BIN)/python manage.py compilemessages --ignore '.venv/*'

clean:
	rm -rf $(VENV) .data staticfiles

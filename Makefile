# tsunagu — the two set-up commands are `make run` and `make test`.
VENV      ?= .venv
PYTHON    ?= python3
PY        := $(VENV)/bin/python
TSUNAGU   := $(VENV)/bin/tsunagu
STAMP     := $(VENV)/.installed
TOKENS    := src/tsunagu/web/static/vendor/tokens.css
HOST      ?= 127.0.0.1
PORT      ?= 8000

.PHONY: install assets browser wrk run test bench lint format messages lock clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# The project with its test and dev extras, into the virtual environment whose python is $(1),
# within the pins of $(2) (none: the newest releases pyproject.toml allows).
# pycanon/anjana go in with --no-deps: their exact pins of typer and typing_extensions
# conflict with pydantic (their own dependencies are in the test extra).
define install_into
	$(1) -m pip install -q --upgrade pip
	$(1) -m pip install -q $(2) -e ".[test,dev]"
	$(1) -m pip install -q $(2) --no-deps "pycanon==1.3.5" "anjana==1.2.3"
endef

# Installs are pinned to constraints.txt, the releases the suite last passed with, so a new
# release upstream cannot change a clean clone's build; `make lock` moves the pins forward.
$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(call install_into,$(PY),-c constraints.txt)
	touch $@

# Re-pin: install the newest allowed releases into a scratch environment and freeze it.
# Then run `make test` (and `make bench`) before committing the new constraints.txt.
LOCK_VENV := build/lock-venv
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(call install_into,$(LOCK_VENV)/bin/python,)
	{ echo "# Pinned releases for \`make install\` (pip -c): written by \`make lock\`, do not edit by hand."; \
	  $(LOCK_VENV)/bin/python -m pip freeze --all --exclude pip --exclude-editable; } > constraints.txt
	rm -rf $(LOCK_VENV)

install: $(STAMP) assets

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

$(TOKENS): node_modules/.package-lock.json
	mkdir -p $(dir $@)
	cp node_modules/@digital-go-jp/design-tokens/dist/tokens.css $@

assets: $(TOKENS)

# Headless Chromium for the browser tests comes from Debian, never downloaded by a test tool.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: run 'sudo apt-get install chromium'" >&2; exit 1; fi; }

# wrk drives the HTTP benchmarks: a C client, so the client's CPU does not eat the server's cores.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null; \
	  else echo "wrk missing (sudo apt-get install wrk): HTTP benchmarks use the slower Python client" >&2; fi; }

run: install
	$(TSUNAGU) db upgrade
	$(TSUNAGU) demo seed
	@echo "tsunagu: http://$(HOST):$(PORT)/  (worker running in the background; Ctrl-C stops both)"
	@$(TSUNAGU) worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  $(TSUNAGU) serve --host $(HOST) --port $(PORT)

# Tests run in parallel, one process per core (each has its own databases and servers).
PYTEST_ARGS ?= -n auto

test: install browser
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install wrk
	$(PY) -m bench.run $(BENCH_ARGS)

lint: install
	$(VENV)/bin/ruff check src tests bench tools
	$(VENV)/bin/ruff format --check src tests bench tools
	$(VENV)/bin/mypy

# Re-extract translatable strings and merge them into the ja/en catalogs (then translate ja).
# core + web form the `messages` domain; every other module has a domain (and .po) of its own.
BABEL        := $(VENV)/bin/pybabel
LOCALES      := src/tsunagu/locales
EXTRACT_OPTS := -F babel.cfg --add-location=file --sort-by-file --project=tsunagu
MODULES      := $(filter-out core web locales migrations packs __pycache__,$(notdir $(patsubst %/,%,$(wildcard src/tsunagu/*/))))

messages: install
	mkdir -p build
	$(BABEL) extract $(EXTRACT_OPTS) -o build/messages.pot src/tsunagu/core src/tsunagu/web
	$(BABEL) update -D messages -i build/messages.pot -d $(LOCALES) --no-fuzzy-matching --ignore-obsolete
	@for module in $(MODULES); do \
	  $(BABEL) -q extract $(EXTRACT_OPTS) -o build/$$module.pot src/tsunagu/$$module || exit 1; \
	  grep -q '^msgid "[^"]' build/$$module.pot || continue; \
	  for lang in ja en; do \
	    [ -f $(LOCALES)/$$lang/LC_MESSAGES/$$module.po ] || \
	      $(BABEL) init -D $$module -l $$lang -i build/$$module.pot -d $(LOCALES) || exit 1; \
	  done; \
	  $(BABEL) update -D $$module -i build/$$module.pot -d $(LOCALES) --no-fuzzy-matching --ignore-obsolete || exit 1; \
	done

format: install
	$(VENV)/bin/ruff check --fix src tests bench tools
	$(VENV)/bin/ruff format src tests bench tools

clean:
	rm -rf $(VENV) node_modules $(dir $(TOKENS)) .pytest_cache .mypy_cache .ruff_cache

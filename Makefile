# Everything a fresh machine needs is installed by these targets into .venv.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint docs web bench bench-attach bench-history bench-notify \
	bench-api bench-plans bench-fanout bench-cli bench-audit bench-import bench-search \
	bench-replica bench-mobile bench-policy clean

EXAMPLE_PLUGIN := examples/storage-plugin-example
EXAMPLE_SOURCES := $(wildcard $(EXAMPLE_PLUGIN)/pyproject.toml $(EXAMPLE_PLUGIN)/src/*/*.py)

$(STAMP): pyproject.toml $(EXAMPLE_SOURCES) scripts/system-packages.sh
	# Chromium (browser tests) and ClamAV's daemon (antivirus tests), from Debian.
	bash scripts/system-packages.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	# Installed as an integrator would: the tests find it through its entry point.
	$(BIN)/python -m pip install -q --force-reinstall --no-deps ./$(EXAMPLE_PLUGIN)
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/grc demo

lint: $(STAMP)
	$(BIN)/ruff check src tests examples benchmarks
	$(BIN)/ruff format --check src tests examples benchmarks
	# Strict type check of src/ (configuration and remaining debt: pyproject.toml).
	$(BIN)/mypy

docs: $(STAMP)
	$(BIN)/mkdocs build --strict --quiet --site-dir build/site

test: lint docs
	$(BIN)/python -m pytest

# The mobile web app, rebuilt from web/ into src/grc_api/web/static (committed; needs Node.js).
web:
	cd web && npm ci --no-audit --no-fund && npm run build

# Peak memory of attaching a 1 MB and a 200 MB file (issue #3).
bench-attach: $(STAMP)
	$(BIN)/python benchmarks/attach_memory.py

# Histories and search at 200k and 1M exchanges, SQLite and PostgreSQL (long).
bench-history: $(STAMP)
	$(BIN)/python benchmarks/history_search.py

# Quick search at 200k and 1M exchanges, both databases, against the same SQL by hand.
bench-search: $(STAMP)
	$(BIN)/python benchmarks/search_scale.py --db both --sizes 200000,1000000 --repeat 60

# Fan-out per event and e-mail throughput (issue #6).
bench-notify: $(STAMP)
	$(BIN)/python benchmarks/notifications.py --db sqlite
	$(BIN)/python benchmarks/notifications.py --db postgresql

# The HTTP API against a bare Starlette floor at 1, 10 and 50 clients (PostgreSQL).
bench-api: $(STAMP)
	$(BIN)/python benchmarks/api.py

# PostgreSQL plan stability: 50 runs on one connection per plan setting.
bench-plans: $(STAMP)
	$(BIN)/python benchmarks/plan_stability.py

# Fan-out per event with 100, 1,000 and 10,000 rules, both databases.
bench-fanout: $(STAMP)
	$(BIN)/python benchmarks/fanout_rules.py --db sqlite
	$(BIN)/python benchmarks/fanout_rules.py --db postgresql

# Command-line start-up (grc --help, grc exchange list).
bench-cli: $(STAMP)
	$(BIN)/python benchmarks/cli_startup.py

# Audit trail pages for an ordinary reader.
bench-audit: $(STAMP)
	$(BIN)/python benchmarks/audit_trail.py

# grc import of 100,000 exchanges from a CSV file, both databases (rows/s).
bench-import: $(STAMP)
	$(BIN)/python benchmarks/import.py --db sqlite
	$(BIN)/python benchmarks/import.py --db postgresql

# Read throughput on a streaming replica against its primary (a throw-away pair of clusters).
bench-replica: $(STAMP)
	$(BIN)/python benchmarks/replica.py --exchanges 100000 --seconds 5

# The mobile web app: cold load on a throttled network, size, offline history, outbox sync.
bench-mobile: $(STAMP)
	$(BIN)/python benchmarks/mobile.py

# Throughput and peak memory of the attachment policy on large genuine files.
bench-policy: $(STAMP)
	$(BIN)/python benchmarks/attachment_policy.py

# Every benchmark, one after the other (long: the history datasets take a while to build).
bench: bench-cli bench-plans bench-fanout bench-notify bench-api bench-audit bench-attach \
	bench-import bench-history bench-search bench-replica bench-mobile bench-policy

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis

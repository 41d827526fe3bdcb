# The two commands of the README: `make bench` and `make test`. Both create .venv and
# install the project into it when needed (again only when pyproject.toml changes).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: bench test install bench-seed bench-overhead db-stop clean

bench: $(STAMP)
	$(VENV)/bin/bench all

test: $(STAMP)
	$(PY) -m pytest

install: $(STAMP)

# The seeder's throughput next to the server's COPY limit (prints figures).
bench-seed: $(STAMP)
	$(VENV)/bin/bench seed --benchmark --scale small

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "bench needs Python >= 3.11; set PYTHON=python3.11")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# The latency runner's throughput next to pgbench -S (prints the ratio).
bench-overhead: $(STAMP)
	$(VENV)/bin/bench run overhead

db-stop: $(STAMP)
	$(VENV)/bin/bench db stop

clean:
	-$(VENV)/bin/bench db stop 2>/dev/null
	rm -rf $(VENV) .bench

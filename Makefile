# The two commands of the README: `make bench` and `make test`. Both create .venv and
# install the project into it when needed (again only when pyproject.toml changes).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: bench test test-fast install bench-seed bench-overhead bench-micro db-stop clean

bench: $(STAMP)
	$(VENV)/bin/bench all

# Every test. `-n 2` (pytest-xdist, one throwaway server per worker) passes too, but on a
# 2-core machine it measured no faster: the server and the tests already share both cores.
test: $(STAMP)
	$(PY) -m pytest

# The inner loop: leaves out the long end-to-end tests (`e2e`: a whole `bench all`, CLI
# seeds killed and resumed, `seed --benchmark`, the embedding calibration at the small
# scale) and the fault-injection suite (`faults`: signals, stopped seeds, bad input and
# DSNs, foreign objects, unwritable outputs). CI runs `make test`, which runs them all.
test-fast: $(STAMP)
	$(PY) -m pytest -m "not e2e and not faults"

install: $(STAMP)

# The seeder's throughput next to the server's COPY limit (prints figures).
bench-seed: $(STAMP)
	$(VENV)/bin/bench seed --benchmark --scale small

# The harness's own hot paths (benchmarks/: COPY encoding, embeddings, HDR recording, report
# rendering) with pytest-benchmark: saved under .benchmarks/, compared with the last saved
# run; fails when a mean got more than 25% slower (the first run has nothing to compare with).
bench-micro: $(STAMP)
	$(PY) -m pytest benchmarks -p no:cacheprovider --benchmark-only --benchmark-autosave \
		--benchmark-storage=.benchmarks $$(ls .benchmarks/*/*.json >/dev/null 2>&1 && \
		echo --benchmark-compare --benchmark-compare-fail=mean:25%)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "bench needs Python >= 3.11; set PYTHON=python3.11")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# Capacity planning: every variant seeded and measured at tiny, 10K, 30K, small and medium
# (1M documents), growth fits validated on medium held out, projections to full. Replaces
# the seeded variants (the harness's only). BENCH_CAPACITY_ARGS adds options (--resume).
.PHONY: bench-capacity
bench-capacity: $(STAMP)
	$(VENV)/bin/bench capacity --sizes tiny,10K,30K,small,medium $(BENCH_CAPACITY_ARGS)

# The latency runner's throughput next to pgbench -S (prints the ratio).
bench-overhead: $(STAMP)
	$(VENV)/bin/bench run overhead

db-stop: $(STAMP)
	$(VENV)/bin/bench db stop

clean:
	-$(VENV)/bin/bench db stop 2>/dev/null
	rm -rf $(VENV) .bench

"""The harness's own hot paths as pytest-benchmark micro-benchmarks (`make bench-micro`).
Not part of `make test` (its testpaths are tests/); tests/test_micro_benchmarks.py runs
them once with --benchmark-disable to check they execute."""

"""Statistics, verdicts against bench/judge/targets.toml, and the run's results.json."""

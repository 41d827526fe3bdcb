"""A locustfile holding only the step-load shape, added by `bench run load` on the master:
`locust -f bench/loadtest/locustfile.py,bench/loadtest/stepfile.py --master ...`. Without it
(e.g. `bench run load --ui`) Locust's own user count and spawn rate controls apply."""

from bench.loadtest.shape import StepLoadShape  # noqa: F401  (Locust finds it here)

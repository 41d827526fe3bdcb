"""Locust users generated from the scenario catalog: `locust -f bench/loadtest/locustfile.py`.

Four personas (viewer, editor, searcher, admin; bench/loadtest/personas.py) become user
classes Viewer, Editor, Searcher, Admin; each runs the catalog's scenarios with its own
weights, as one seeded user, under RLS on RLS variants (explicit filters on baseline).
Every request fires Locust's request event: type = variant, name = scenario.

    BENCH_DSN=postgresql://... locust -f bench/loadtest/locustfile.py --bench-variant hardened
    # step load + results.json: use `bench run load` (it adds bench/loadtest/stepfile.py)

Options: `--bench-*` flags or BENCH_* variables (bench/loadtest/options.py; `locust -f
bench/loadtest/locustfile.py --help` lists them). Distributed: the master and each worker
load this same file; each worker needs BENCH_DSN reaching the server from its machine.
"""

import locust.runners
from locust import events

from bench.loadtest import client, options

locust.runners.WORKER_REPORT_INTERVAL = 1.0  # workers report every second: steps are seconds long

events.init_command_line_parser.add_listener(options.add_locust_arguments)
events.init.add_listener(client.on_init)

globals().update(client.user_classes())

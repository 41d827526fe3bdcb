"""A locustfile for the load generator's own ceiling (`bench run load --max-rate`).

`PointQuery` users send a trivial point query (one project by primary key, autocommit,
no identity) with no think time, through exactly the path scenario requests take:
the process's pool, perf_counter timing, the HDR recorder and Locust's request event.
Its rate is the most requests per second a worker process can generate; when it is far
above a variant's throughput at a step, the load generator was not the limit there.
"""

from __future__ import annotations

import locust.runners
import numpy as np
import psycopg
from locust import User, constant, events, task
from locust.runners import MasterRunner

from bench.loadtest import client, options

locust.runners.WORKER_REPORT_INTERVAL = 1.0
IDS = 5000
NAME = "point_query"


@events.init.add_listener
def _on_init(environment, **_kw):
    if isinstance(environment.runner, MasterRunner):
        return
    runtime = client.Runtime.start(environment, preload=False)
    client.serve_master(environment, runtime)
    environment.events.quitting.add_listener(lambda **_k: runtime.close())


events.init_command_line_parser.add_listener(options.add_locust_arguments)


class PointQuery(User):
    wait_time = constant(0)

    def on_start(self):
        self.runtime = client.Runtime.instance
        variant = options.from_locust(self.environment.parsed_options)["variant"]
        self.sql = f'SELECT id, name FROM "{variant}".projects WHERE id = %s'
        with psycopg.connect(self.runtime.dsn, autocommit=True) as conn:
            self.ids = [r[0] for r in conn.execute(f'SELECT id FROM "{variant}".projects LIMIT {IDS}')]
        self.rng = np.random.default_rng()
        self.variant = variant

    @task
    def point(self):
        key = self.ids[int(self.rng.integers(len(self.ids)))]

        def work(conn):
            cur = conn.execute(self.sql, (key,))
            return [c.name for c in cur.description], cur.fetchall()

        _cols, rows, exc, waited, served, total = self.runtime.timed(work)
        self.runtime.record(self.variant, NAME, total, waited, served, "ok" if exc is None else "error", exc, None,
                             len(rows))

"""Locust load testing of the schema variants: `bench run load` and `bench/loadtest/locustfile.py`.

    options.py   one definition per option (Locust argument, BENCH_* variable, click flag)
    personas.py  viewer / editor / searcher / admin: task weights over the scenario catalog
    client.py    per worker process: psycopg pool, identities, timed requests, Locust events
    tenancy.py   the cross-tenant check of every response (what it covers, what it does not)
    steps.py     step plan, SLO evaluation, capacity and the `concurrency` verdict (pure)
    shape.py     the LoadTestShape (master side): steps, per-step recording, server numbers
    locust.py    master and workers as processes, watched and ended; the `load` section
    benchmark.py `bench run load`: options, --ui, --max-rate, the tables
    maxrate.py   a locustfile for the client-side maximum rate benchmark (`--max-rate`)

Needs: a seeded database (`bench seed`), locust, psycopg 3 (>= 3.1.14, cooperative under
gevent), psycopg_pool, hdrhistogram; pg_stat_statements is used when the server has it.
"""

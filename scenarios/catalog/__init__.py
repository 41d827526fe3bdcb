"""The scenario catalog: one module per scenario (see scenarios/base.py).

WRITE_BILL names the write scenarios that price the review's write path (issue 18: vector
index maintenance, partition routing, encryption and audit, FK and cascade rules). The
latency runner measures them like every scenario, but they are reported beside the review's
query claims (query_speedup, avg_latency), as the write cost next to the read gain, not
judged by them: the claim "60-80% faster queries" is about the review's read-side changes.
The three older writes (insert_capability, archive_capability, update_project) stay in the
claims, as they always were. The Locust personas leave the write bill out of the load mix
(bench/loadtest/personas.py), so the load test sends what it always sent.
"""

WRITE_BILL = frozenset({
    "insert_document", "insert_documents_batch", "insert_activity", "insert_mcp_integration",
    "insert_dashboard", "delete_template", "delete_user",
})

# Requests per batch (per scenario, variant and round) at most, for scenarios whose single
# request is heavy: the latency runner sends min(--requests, this). At the small scale on a
# contended 2-CPU machine (10, 20 and 60 requests per round) these three took 50 of the 63 s
# the write bill's batches took: one batch insert request writes 100 rows (p50 1.6 s on
# hardened: HNSW inserts), a template deletion on hardened updates and audits every dashboard
# on it (0.32 s), a user deletion on baseline scans unindexed FK columns (0.10 s). Their
# effects are many times the noise, so fewer requests still decide them.
# The four slowest reads on baseline (no index for their filter: 30-106 ms a request at
# the small scale) took 66% of the latency phase's request time in a make bench run of
# 2026-12-04 (108 of 165 s; documents_by_kb alone 38), each batch deciding a change of +97% to
# +100% against hardened, or a mean far from the 100 ms limit but for documents_by_kb; their
# rounds and runs, where the variance is, stay as they are.
MAX_REQUESTS = {"insert_documents_batch": 10, "delete_template": 10, "delete_user": 20,
                "documents_by_kb": 30, "monthly_activity": 30, "my_recent_activity": 30, "capability_search": 30}

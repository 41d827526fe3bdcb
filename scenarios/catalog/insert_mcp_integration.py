import json
import uuid

from bench.core import crypto
from scenarios.base import Query, Scenario


def params(pop, rng):
    project_id, _owner, org_id = pop.pick(pop.owned_projects, rng)
    admin = pop.pick([u for u, o in pop.org_admins if o == org_id], rng)  # hardened: org owners/admins only
    integration_id = uuid.UUID(bytes=rng.bytes(16), version=4)
    secret = json.dumps({"type": "bearer", "token": f"sk-bench-{int(rng.integers(10**12)):012d}"})
    return {"user_id": admin, "org_id": org_id, "project_id": project_id, "integration_id": integration_id,
            "name": f"Benchmark MCP server {int(rng.integers(1_000_000))}", "url": "https://mcp.example.com/sse",
            "secret": secret,
            # hardened's client encrypts before sending (AES-GCM, the row id as associated data), as the
            # seeder does: client-side work, done here before the request's clock starts
            "ciphertext": crypto.encrypt(secret.encode(), integration_id.bytes, deterministic=True)}


COLUMNS = "id, organization_id, project_id, name, url"
ARGS = ("integration_id", "org_id", "project_id", "name", "url")
# baseline and review store the secret in the plaintext jsonb column (the review adds
# authentication_encrypted but never fills it; its encrypt_sensitive_data() exists only where
# pgcrypto does, not on the embedded server), and review's audit trigger copies it into
# audit_log; hardened stores ciphertext only and its audit trigger redacts it.
SCENARIO = Scenario(
    name="insert_mcp_integration",
    kind="write",
    description="An org admin registers an MCP server with its secret (plaintext vs client-side AES-GCM; audit)",
    queries={"*": Query(f"INSERT INTO mcp_integrations ({COLUMNS}, authentication) VALUES ($1, $2, $3, $4, $5, "
                        "$6::jsonb) RETURNING id", (*ARGS, "secret")),
             "hardened": Query(f"INSERT INTO mcp_integrations ({COLUMNS}, authentication_ciphertext) VALUES ($1, $2, "
                               "$3, $4, $5, $6) RETURNING id", (*ARGS, "ciphertext"))},
    params=params,
)

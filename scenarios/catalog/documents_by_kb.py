from scenarios.base import Query, Scenario


def params(pop, rng):
    kb_id, org_id, doc_type, language = pop.pick(pop.kb_filters, rng)
    return {"user_id": pop.user_of(org_id, rng), "org_id": org_id, "kb_id": kb_id, "type": doc_type,
            "language": language}


COLUMNS = "SELECT id, title, created_at FROM documents WHERE knowledge_base_id = $1 AND document_type = $2 AND language = $3"
SCENARIO = Scenario(
    name="documents_by_kb",
    kind="read",
    description="Documents of a knowledge base by type and language, newest first",
    queries={
        "baseline": Query(COLUMNS + " AND organization_id = $4 ORDER BY created_at DESC LIMIT 50",
                          ("kb_id", "type", "language", "org_id")),
        "rls": Query(COLUMNS + " ORDER BY created_at DESC LIMIT 50", ("kb_id", "type", "language")),
    },
    params=params,
)

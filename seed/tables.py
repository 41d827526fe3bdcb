"""The logical dataset: one generator per table, registered in TABLES.

A generator gets the context and a range [lo, hi) of *driver* rows (its own rows, or
for derived tables the parent rows: project_members per project) and returns columns
(name -> column, in the forms seed.copy_binary encodes: numpy arrays for ids, times,
numbers and vectors, lists for text and JSON). Everything it draws comes from an RNG
seeded with (seed, table, chunk), or from per-row hashes (seed.ids.unit_floats) where another table must agree with it,
so a chunk's content never depends on which worker made it or in which order.
Columns a variant's table lacks are not loaded into it (e.g. `deleted_at` into baseline,
`authentication` into hardened, which gets only `authentication_ciphertext`).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from bench.core import crypto as secrets
from seed.copy_binary import Masked
from seed.ids import unit_floats, uuid_bytes
from seed.plan import Plan, owner_of
from seed.pools import Pools

Columns = dict[str, object]


class VectorModel(Protocol):
    """What the seeder asks of a source of vectors (seed/embeddings.py, seed/vectors.py)."""

    def document_vectors(self, rows: np.ndarray, kb: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...

    def query_vectors(self, kb: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...


@dataclass
class Context:
    seed: int
    plan: Plan
    pools: Pools
    vectors: VectorModel  # draws the embeddings: seed/vectors.py embedding_model
    anchor: dt.datetime  # "now" of the dataset: every timestamp lies before it
    key: bytes  # encryption key for the hardened ciphertext

    def rng(self, table: str, chunk: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, _code(table), chunk])

    def ids(self, table: str, index) -> np.ndarray:
        """(n, 16) uint8: the UUIDs of rows `index` of `table`."""
        return uuid_bytes(self.seed, table, index)

    def times(self, age_days: np.ndarray) -> np.ndarray:
        """datetime64[us] (UTC): timestamps `age_days` before the anchor, to the microsecond."""
        micros = np.round(np.asarray(age_days) * 86_400e6).astype(np.int64)
        anchor = np.datetime64(self.anchor.astimezone(dt.timezone.utc).replace(tzinfo=None), "us")
        return anchor - micros.astype("timedelta64[us]")

    def age(self, stream: str, index, span_days: float, skew: float = 1.3) -> np.ndarray:
        """Per-row ages in days, more rows recent than old (growth), fixed per row."""
        return span_days * unit_floats(self.seed, stream, index) ** skew


@dataclass(frozen=True)
class TableSpec:
    name: str
    driver: str  # whose rows define the chunks (itself for a primary table)
    chunk: int  # driver rows per chunk
    make: Callable[[Context, int, int], Columns]


TABLES: dict[str, TableSpec] = {}


def table(name: str, chunk: int, driver: str | None = None):
    def register(make):
        TABLES[name] = TableSpec(name, driver or name, chunk, make)
        return make

    return register


def _code(table: str) -> int:
    return sum((i + 1) * ord(c) for i, c in enumerate(table))


def pick(values: list, probs: list[float], u: np.ndarray) -> list:
    """Categorical choice by inverse CDF of uniform draws `u`."""
    edges = np.cumsum(probs) / sum(probs)
    return [values[i] for i in np.minimum(np.searchsorted(edges, u, side="right"), len(values) - 1)]


def org_by_weight(ctx: Context, stream: str, index: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(ctx.plan.org_weight) / ctx.plan.org_weight.sum()
    return np.minimum(np.searchsorted(cdf, unit_floats(ctx.seed, stream, index)), len(cdf) - 1)


def slugify(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


# ---- tenants and people -------------------------------------------------------------
@table("organizations", chunk=10_000)
def organizations(ctx: Context, lo: int, hi: int) -> Columns:
    i = np.arange(lo, hi)
    rng = ctx.rng("organizations", lo)
    names = Pools.pick(ctx.pools.companies, rng, len(i))
    rank = np.argsort(np.argsort(-ctx.plan.org_weight))[i] / max(1, len(ctx.plan.org_weight))
    plans = ["enterprise" if r < 0.05 else "pro" if r < 0.3 else "free" for r in rank]
    created = ctx.age("org_created", i, 1100, skew=1.0) + 30
    return {
        "id": ctx.ids("organizations", i),
        "name": names,
        "slug": [f"{slugify(n)}-{k}" for n, k in zip(names, i)],
        "plan": plans,
        "settings": [{"region": r} for r in Pools.pick(["us-east-1", "eu-west-1", "ap-southeast-1"], rng, len(i))],
        "created_at": ctx.times(created),
        "updated_at": ctx.times(created * rng.random(len(i))),
    }


@table("users", chunk=20_000)
def users(ctx: Context, lo: int, hi: int) -> Columns:
    i = np.arange(lo, hi)
    rng = ctx.rng("users", lo)
    org = ctx.plan.user_org(i)
    position = i - ctx.plan.users[org]
    first = Pools.pick(ctx.pools.first_names, rng, len(i))
    last = Pools.pick(ctx.pools.last_names, rng, len(i))
    domains = Pools.pick(ctx.pools.domains, rng, len(i))
    created = ctx.age("user_created", i, 1000)
    return {
        "id": ctx.ids("users", i),
        "organization_id": ctx.ids("organizations", org),
        "email": [f"{f}.{l}.{k}@{d}".lower() for f, l, k, d in zip(first, last, i, domains)],
        "full_name": [f"{f} {l}" for f, l in zip(first, last)],
        "role": ["owner" if p == 0 else "admin" if p < 3 else "member" for p in position],
        "preferences": [{"theme": t} for t in Pools.pick(["light", "dark", "system"], rng, len(i))],
        "created_at": ctx.times(created),
        "updated_at": ctx.times(created * rng.random(len(i))),
    }


# ---- projects and what hangs off them ---------------------------------------------------
PROJECT_STATUS = (["active", "draft", "archived"], [0.75, 0.17, 0.08])


def project_age(ctx: Context, p: np.ndarray) -> np.ndarray:
    return ctx.age("project_created", p, 730)


@table("projects", chunk=20_000)
def projects(ctx: Context, lo: int, hi: int) -> Columns:
    i = np.arange(lo, hi)
    rng = ctx.rng("projects", lo)
    status = pick(*PROJECT_STATUS, rng.random(len(i)))
    created = project_age(ctx, i)
    updated_at = ctx.times(created * rng.random(len(i)))
    words = ctx.pools.words
    return {
        "id": ctx.ids("projects", i),
        "organization_id": ctx.ids("organizations", ctx.plan.project_org(i)),
        "owner_id": ctx.ids("users", ctx.plan.project_owner(i)),
        "name": [f"{a.title()} {b.title()}" for a, b in zip(Pools.pick(words, rng, len(i)), Pools.pick(words, rng, len(i)))],
        "description": ctx.pools.text(rng, rng.integers(1, 4, len(i))),
        "status": status,
        "settings": [f'{{"visibility": "{v}"}}' for v in Pools.pick(["private", "internal", "public"], rng, len(i))],
        "created_at": ctx.times(created),
        "updated_at": updated_at,
        # soft delete: archived projects were deleted at their last update
        "deleted_at": Masked(updated_at, np.array(status) != "archived"),
    }


MEMBER_ROLES = (["admin", "editor", "viewer"], [0.1, 0.4, 0.5])


@table("project_members", chunk=20_000, driver="projects")
def project_members(ctx: Context, lo: int, hi: int) -> Columns:
    plan = ctx.plan
    first, last = plan.members[lo], plan.members[hi]
    rows = np.arange(first, last)
    project = owner_of(plan.members, rows)
    position = rows - plan.members[project]
    rng = ctx.rng("project_members", lo)
    roles = pick(*MEMBER_ROLES, rng.random(len(rows)))
    return {
        "id": ctx.ids("project_members", rows),
        "project_id": ctx.ids("projects", project),
        "user_id": ctx.ids("users", plan.project_member_user(project, position)),
        "role": ["owner" if p == 0 else r for p, r in zip(position, roles)],
        "created_at": ctx.times(project_age(ctx, project) * (1 - 0.5 * (position > 0) * rng.random(len(rows)))),
    }


@table("dashboard_templates", chunk=10_000)
def dashboard_templates(ctx: Context, lo: int, hi: int) -> Columns:
    i = np.arange(lo, hi)
    rng = ctx.rng("dashboard_templates", lo)
    is_global = unit_floats(ctx.seed, "template_global", i) < 0.3
    orgs = ctx.ids("organizations", org_by_weight(ctx, "template_org", i))
    created = ctx.age("template_created", i, 900)
    return {
        "id": ctx.ids("dashboard_templates", i),
        "organization_id": Masked(orgs, is_global),
        "name": [f"{t} template" for t in Pools.pick(ctx.pools.titles, rng, len(i))],
        "description": ctx.pools.text(rng, rng.integers(1, 3, len(i))),
        "layout": [{"columns": int(c)} for c in rng.integers(1, 5, len(i))],
        "created_at": ctx.times(created),
        "updated_at": ctx.times(created * rng.random(len(i))),
    }


SOURCE_TYPES = (["csv", "sql", "api", "upload"], [0.4, 0.25, 0.2, 0.15])


@table("datasets", chunk=20_000)
def datasets(ctx: Context, lo: int, hi: int) -> Columns:
    i = np.arange(lo, hi)
    rng = ctx.rng("datasets", lo)
    project = owner_of(ctx.plan.datasets, i)
    created = project_age(ctx, project) * rng.random(len(i))
    return {
        "id": ctx.ids("datasets", i),
        "organization_id": ctx.ids("organizations", ctx.plan.project_org(project)),
        "project_id": ctx.ids("projects", project),
        "name": [f"{w}_{k}" for w, k in zip(Pools.pick(ctx.pools.words, rng, len(i)), i)],
        "description": ctx.pools.text(rng, rng.integers(0, 3, len(i))),
        "source_type": pick(*SOURCE_TYPES, rng.random(len(i))),
        "config": [f'{{"refresh": "{r}"}}' for r in Pools.pick(["hourly", "daily", "manual"], rng, len(i))],
        "row_count": rng.lognormal(9, 2, len(i)).astype(np.int64),
        "created_at": ctx.times(created),
        "updated_at": ctx.times(created * rng.random(len(i))),
    }


def dashboard_sources(ctx: Context, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row index, dashboard, dataset) of the data sources of dashboards [lo, hi)."""
    plan = ctx.plan
    rows = np.arange(plan.sources[lo], plan.sources[hi])
    dashboard = owner_of(plan.sources, rows)
    position = rows - plan.sources[dashboard]
    project = plan.dashboard_project(dashboard)
    size = plan.datasets[project + 1] - plan.datasets[project]
    start = np.floor(unit_floats(ctx.seed, "dashboard_first_source", dashboard) * np.maximum(size, 1)).astype(np.int64)
    return rows, dashboard, plan.datasets[project] + (start + position) % np.maximum(size, 1)


@table("dashboards", chunk=20_000)
def dashboards(ctx: Context, lo: int, hi: int) -> Columns:
    i = np.arange(lo, hi)
    plan = ctx.plan
    rng = ctx.rng("dashboards", lo)
    project = plan.dashboard_project(i)
    members = plan.members[project + 1] - plan.members[project]
    owner_position = np.floor(unit_floats(ctx.seed, "dashboard_owner", i) * members).astype(np.int64)
    template_u = unit_floats(ctx.seed, "dashboard_template", i)
    template = np.floor(template_u * 2 * max(1, plan.counts["dashboard_templates"])).astype(np.int64)
    template_ids = ctx.ids("dashboard_templates", np.minimum(template, plan.counts["dashboard_templates"] - 1))
    _rows, source_dash, source_set = dashboard_sources(ctx, lo, hi)
    source_ids = ctx.ids("datasets", source_set)
    sources: list[list] = [[] for _ in i]
    for d, s in zip(source_dash, source_ids):
        sources[d - lo].append(s)
    created = project_age(ctx, project) * rng.random(len(i))
    return {
        "id": ctx.ids("dashboards", i),
        "organization_id": ctx.ids("organizations", plan.project_org(project)),
        "project_id": ctx.ids("projects", project),
        "owner_id": ctx.ids("users", plan.project_member_user(project, owner_position)),
        # half use a template (the soft reference; always one that exists)
        "template_id": Masked(template_ids, template >= plan.counts["dashboard_templates"]),
        "name": [f"{t} dashboard" for t in Pools.pick(ctx.pools.titles, rng, len(i))],
        "description": ctx.pools.text(rng, rng.integers(0, 3, len(i))),
        "layout": [f'{{"widgets": {w}}}' for w in rng.integers(1, 12, len(i))],
        "data_sources": sources,
        "created_at": ctx.times(created),
        "updated_at": ctx.times(created * rng.random(len(i))),
    }


@table("dashboard_data_sources", chunk=20_000, driver="dashboards")
def dashboard_data_sources(ctx: Context, lo: int, hi: int) -> Columns:
    rows, dashboard, dataset = dashboard_sources(ctx, lo, hi)
    return {"dashboard_id": ctx.ids("dashboards", dashboard), "dataset_id": ctx.ids("datasets", dataset),
            "created_at": ctx.times(ctx.age("source_linked", rows, 365))}


# ---- marketplace ------------------------------------------------------------------------
CATEGORIES = ["analytics", "automation", "data-integration", "nlp", "vision", "security", "devops",
              "marketing", "finance", "support", "sales", "productivity"]
CATEGORY_WEIGHTS = [1 / (k + 1) ** 0.9 for k in range(len(CATEGORIES))]
CAPABILITY_STATUS = (["published", "draft", "archived"], [0.6, 0.3, 0.1])
APPROVAL = {
    "published": (["approved", "pending", "rejected"], [0.85, 0.10, 0.05]),
    "draft": (["pending", "approved", "rejected"], [0.7, 0.2, 0.1]),
    "archived": (["approved", "rejected"], [0.5, 0.5]),
}
SUFFIXES = ["Agent", "Connector", "Tool", "Workflow", "Template", "Plugin"]


@table("capabilities", chunk=20_000)
def capabilities(ctx: Context, lo: int, hi: int) -> Columns:
    i = np.arange(lo, hi)
    rng = ctx.rng("capabilities", lo)
    org = owner_of(ctx.plan.capabilities, i)
    status = pick(*CAPABILITY_STATUS, rng.random(len(i)))
    u = rng.random(len(i))
    approval = [pick(*APPROVAL[s], np.array([x]))[0] for s, x in zip(status, u)]
    featured = np.array([s == "published" and a == "approved" and f < 0.05
                         for s, a, f in zip(status, approval, rng.random(len(i)))], dtype=bool)
    created = ctx.age("capability_created", i, 700)
    updated_at = ctx.times(created * rng.random(len(i)))
    words = ctx.pools.words
    return {
        "id": ctx.ids("capabilities", i),
        "organization_id": ctx.ids("organizations", org),
        "owner_id": ctx.ids("users", ctx.plan.org_user(org, "capability_owner", i)),
        "name": [f"{a.title()} {b.title()} {s}" for a, b, s in
                 zip(Pools.pick(words, rng, len(i)), Pools.pick(words, rng, len(i)), Pools.pick(SUFFIXES, rng, len(i)))],
        "description": ctx.pools.text(rng, rng.integers(2, 7, len(i))),
        "category": pick(CATEGORIES, CATEGORY_WEIGHTS, rng.random(len(i))),
        "status": status,
        "approval_status": approval,
        "featured": featured,
        "metrics": [{"rating": round(float(r), 1), "downloads": int(d)}
                    for r, d in zip(1 + 4 * rng.beta(5, 2, len(i)), rng.lognormal(5, 1.5, len(i)))],
        "version": rng.integers(1, 6, len(i)),
        "created_at": ctx.times(created),
        "updated_at": updated_at,
        "deleted_at": Masked(updated_at, np.array(status) != "archived"),
    }


# ---- knowledge and vectors -----------------------------------------------------------
@table("knowledge_bases", chunk=10_000)
def knowledge_bases(ctx: Context, lo: int, hi: int) -> Columns:
    i = np.arange(lo, hi)
    plan = ctx.plan
    rng = ctx.rng("knowledge_bases", lo)
    org = plan.kb_org(i)
    n_proj = plan.projects[org + 1] - plan.projects[org]
    has_project = (unit_floats(ctx.seed, "kb_has_project", i) < 0.7) & (n_proj > 0)
    project = plan.projects[org] + np.floor(unit_floats(ctx.seed, "kb_project", i) * np.maximum(n_proj, 1)).astype(np.int64)
    project_ids = ctx.ids("projects", np.where(has_project, project, 0))
    created = ctx.age("kb_created", i, 700)
    return {
        "id": ctx.ids("knowledge_bases", i),
        "organization_id": ctx.ids("organizations", org),
        "project_id": Masked(project_ids, ~has_project),
        "name": [f"{t} knowledge" for t in Pools.pick(ctx.pools.titles, rng, len(i))],
        "description": ctx.pools.text(rng, rng.integers(1, 3, len(i))),
        "settings": [{"chunking": c} for c in Pools.pick(["paragraph", "sentence", "fixed"], rng, len(i))],
        "created_at": ctx.times(created),
        "updated_at": ctx.times(created * rng.random(len(i))),
    }


DOCUMENT_TYPES = (["text", "markdown", "pdf", "html", "code"], [0.35, 0.25, 0.20, 0.12, 0.08])
LANGUAGES = (["en", "de", "fr", "es", "ja", "pt"], [0.70, 0.08, 0.07, 0.07, 0.04, 0.04])


@table("documents", chunk=5_000)
def documents(ctx: Context, lo: int, hi: int) -> Columns:
    i = np.arange(lo, hi)
    plan = ctx.plan
    rng = ctx.rng("documents", lo)
    kb = owner_of(plan.documents, i)
    paragraphs = np.clip(np.round(rng.lognormal(1.0, 0.8, len(i))), 1, 40).astype(np.int64)
    created = ctx.age("kb_created", kb, 700) * rng.random(len(i))
    return {
        "id": ctx.ids("documents", i),
        "organization_id": ctx.ids("organizations", plan.kb_org(kb)),
        "knowledge_base_id": ctx.ids("knowledge_bases", kb),
        "title": Pools.pick(ctx.pools.titles, rng, len(i)),
        "content": ctx.pools.text(rng, paragraphs, ctx.pools.paragraphs),
        "document_type": pick(*DOCUMENT_TYPES, rng.random(len(i))),
        "language": pick(*LANGUAGES, rng.random(len(i))),
        "metadata": [f'{{"pages": {p}}}' for p in paragraphs],
        "embedding_vector": ctx.vectors.document_vectors(i, kb, rng),
        "created_at": ctx.times(created),
        "updated_at": ctx.times(created * rng.random(len(i))),
    }


# ---- secrets and activity -------------------------------------------------------------
@table("mcp_integrations", chunk=10_000)
def mcp_integrations(ctx: Context, lo: int, hi: int) -> Columns:
    i = np.arange(lo, hi)
    plan = ctx.plan
    rng = ctx.rng("mcp_integrations", lo)
    org = owner_of(plan.mcp_integrations, i)
    n_proj = plan.projects[org + 1] - plan.projects[org]
    project = plan.projects[org] + np.floor(rng.random(len(i)) * np.maximum(n_proj, 1)).astype(np.int64)
    project_ids = ctx.ids("projects", project)
    words = Pools.pick(ctx.pools.words, rng, len(i))
    tokens = [f"sk_live_{rng.bytes(16).hex()}" for _ in i]
    auth = [{"type": "bearer", "token": t} for t in tokens]
    ids = ctx.ids("mcp_integrations", i)
    created = ctx.age("mcp_created", i, 400)
    return {
        "id": ids,
        "organization_id": ctx.ids("organizations", org),
        "project_id": Masked(project_ids, n_proj == 0),
        "name": [f"{w.title()} MCP" for w in words],
        "url": [f"https://mcp.{d}/{w}" for d, w in zip(Pools.pick(ctx.pools.domains, rng, len(i)), words)],
        "authentication": auth,
        "authentication_ciphertext": [
            secrets.encrypt(json.dumps(a).encode(), u.tobytes(), deterministic=True, secret=ctx.key) for a, u in zip(auth, ids)
        ],
        "is_active": rng.random(len(i)) < 0.85,
        "created_at": ctx.times(created),
        "updated_at": ctx.times(created * rng.random(len(i))),
    }


ACTIONS = (["view_project", "view_dashboard", "search", "edit_dashboard", "run_capability", "upload_document",
            "login", "invite_member", "update_settings"], [0.30, 0.20, 0.15, 0.10, 0.08, 0.07, 0.07, 0.02, 0.01])


@table("user_activity_log", chunk=50_000)
def user_activity_log(ctx: Context, lo: int, hi: int) -> Columns:
    i = np.arange(lo, hi)
    rng = ctx.rng("user_activity_log", lo)
    user = owner_of(ctx.plan.activity, i)
    # a year of activity, denser recently (a growing product): ~20% in the last 30 days
    age = 365 * rng.random(len(i)) ** 1.6
    return {
        "id": ctx.ids("user_activity_log", i),
        "user_id": ctx.ids("users", user),
        "organization_id": ctx.ids("organizations", ctx.plan.user_org(user)),
        "action": pick(*ACTIONS, rng.random(len(i))),
        "metadata": [f'{{"ip": "10.{a}.{b}.{c}"}}' for a, b, c in rng.integers(0, 256, (len(i), 3)).tolist()],
        "timestamp": ctx.times(age),
    }


def query_vectors(ctx: Context, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The held-out query set: (knowledge base ids, organization ids, vectors)."""
    rng = np.random.default_rng([ctx.seed, _code("query_vectors")])
    n_docs = ctx.plan.counts["documents"]
    kb = owner_of(ctx.plan.documents, rng.integers(0, n_docs, n))  # busy KBs are asked more
    vectors = ctx.vectors.query_vectors(kb, rng)
    return ctx.ids("knowledge_bases", kb), ctx.ids("organizations", ctx.plan.kb_org(kb)), vectors


__all__ = ["TABLES", "Context", "TableSpec", "query_vectors", "uuid_bytes"]

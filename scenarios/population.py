"""Who and what the scenarios ask about: ids sampled from the seeded data.

Loaded once per run, as the server's superuser, from one variant (they hold the same
logical rows). Scenario parameter generators draw from it with a seeded RNG, always
pairing an actor with data of the actor's own tenant, so that a request returns the
same rows on every variant (RLS or explicit filter).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from bench.core.errors import BenchError


@dataclass
class Population:
    anchor: dt.datetime
    users: list[tuple]  # (user_id, org_id, org_role)
    users_by_org: dict
    memberships: list[tuple]  # (user_id, org_id, project_id, role)
    owned_projects: list[tuple]  # (project_id, owner_id, org_id)
    kb_filters: list[tuple]  # (kb_id, org_id, document_type, language) that have documents
    categories: list[str]
    search_terms: list[str]
    draft_capabilities: list[tuple]  # (capability_id, org_id, owner_id)
    audited_records: list[tuple]  # (project_id, org_id)
    query_vectors: list[tuple]  # (kb_id, org_id, vector)
    # for the write bill (scenarios that insert or delete; see scenarios/catalog/__init__.py)
    org_admins: list[tuple] = field(default_factory=list)  # (user_id, org_id) of owners and admins
    dashboard_editors: list[tuple] = field(default_factory=list)  # (user_id, org_id, project_id, dataset_ids)
    templates: list[tuple] = field(default_factory=list)  # (template_id, org_id or None: global)
    used_templates: list[tuple] = field(default_factory=list)  # (template_id, org_id): an org's, used by dashboards
    departing_users: list[tuple] = field(default_factory=list)  # (user_id, org_id): own a project, no dashboard

    def pick(self, items: list, rng: np.random.Generator):
        if not items:
            raise BenchError("the seeded data has nothing for this scenario; seed a larger scale")
        return items[int(rng.integers(len(items)))]

    def user_of(self, org_id, rng: np.random.Generator):
        return self.pick(self.users_by_org[org_id], rng)

    def of_organization(self, org_id) -> Population:
        """The same population with every actor and item drawn from one tenant only (the
        capacity sweep's largest tenant). Global templates (org None) stay."""
        def mine(items: list[tuple], at: int, keep_global: bool = False) -> list[tuple]:
            return [t for t in items if t[at] == org_id or (keep_global and t[at] is None)]

        return dataclasses.replace(
            self, users=mine(self.users, 1), users_by_org={org_id: self.users_by_org.get(org_id, [])},
            memberships=mine(self.memberships, 1), owned_projects=mine(self.owned_projects, 2),
            kb_filters=mine(self.kb_filters, 1), draft_capabilities=mine(self.draft_capabilities, 1),
            audited_records=mine(self.audited_records, 1), query_vectors=mine(self.query_vectors, 1),
            org_admins=mine(self.org_admins, 1), dashboard_editors=mine(self.dashboard_editors, 1),
            templates=mine(self.templates, 1, keep_global=True), used_templates=mine(self.used_templates, 1),
            departing_users=mine(self.departing_users, 1))


def load(conn: psycopg.Connection, variant: str) -> Population:
    register_vector(conn)
    anchor = conn.execute("SELECT config->>'anchor' FROM bench_meta.seed_run WHERE id = 1").fetchone()
    if not anchor:
        raise BenchError("the database holds no seeded data; run `bench seed` first")
    q = lambda sql: conn.execute(sql.replace("{v}", f'"{variant}"')).fetchall()
    users = q("SELECT id, organization_id, role FROM {v}.users ORDER BY id")
    by_org = defaultdict(list)
    for user_id, org_id, _role in users:
        by_org[org_id].append(user_id)
    return Population(
        anchor=dt.datetime.fromisoformat(anchor[0]).replace(tzinfo=dt.timezone.utc),
        users=users,
        users_by_org=dict(by_org),
        memberships=q("SELECT m.user_id, p.organization_id, m.project_id, m.role FROM {v}.project_members m "
                      "JOIN {v}.projects p ON p.id = m.project_id ORDER BY m.id"),
        owned_projects=q("SELECT id, owner_id, organization_id FROM {v}.projects "
                         "WHERE owner_id IS NOT NULL AND status <> 'archived' ORDER BY id"),
        kb_filters=q("SELECT knowledge_base_id, organization_id, document_type, language FROM {v}.documents "
                     "GROUP BY 1, 2, 3, 4 ORDER BY 1, 3, 4"),
        categories=[r[0] for r in q("SELECT DISTINCT category FROM {v}.capabilities ORDER BY 1")],
        search_terms=[r[0] for r in q(
            "SELECT DISTINCT lower(split_part(name, ' ', 1)) FROM {v}.capabilities ORDER BY 1 LIMIT 500")],
        draft_capabilities=q("SELECT id, organization_id, owner_id FROM {v}.capabilities "
                             "WHERE status = 'draft' AND owner_id IS NOT NULL ORDER BY id"),
        audited_records=q("SELECT id, organization_id FROM {v}.projects ORDER BY id LIMIT 2000"),
        query_vectors=[(kb, org, np.asarray(vec.to_numpy() if hasattr(vec, "to_numpy") else vec, dtype=np.float32))
                       for kb, org, vec in conn.execute(
                           "SELECT knowledge_base_id, organization_id, embedding FROM bench_meta.query_vectors "
                           "ORDER BY id").fetchall()],
        **_write_bill(q),
    )


def _write_bill(q) -> dict:
    """Who and what the write-bill scenarios act on; users' org roles as baseline records them."""
    return {
        "org_admins": q("SELECT id, organization_id FROM {v}.users WHERE role IN ('owner', 'admin') ORDER BY id"),
        # project editors and up, with the datasets of their project (a dashboard's data sources)
        "dashboard_editors": [(u, o, p, list(ds)) for u, o, p, ds in q(
            "SELECT m.user_id, p.organization_id, m.project_id, array_agg(d.id ORDER BY d.id) "
            "FROM {v}.project_members m JOIN {v}.projects p ON p.id = m.project_id "
            "JOIN {v}.datasets d ON d.project_id = m.project_id "
            "WHERE m.role IN ('owner', 'admin', 'editor') GROUP BY m.id, 1, 2, 3 ORDER BY m.id")],
        "templates": q("SELECT id, organization_id FROM {v}.dashboard_templates ORDER BY id"),
        "used_templates": q("SELECT t.id, t.organization_id FROM {v}.dashboard_templates t "
                            "WHERE t.organization_id IS NOT NULL "
                            "AND EXISTS (SELECT 1 FROM {v}.dashboards d WHERE d.template_id = t.id) ORDER BY t.id"),
        # deleting them SET NULLs an audited row (their project) and no FK refuses it on baseline
        # (baseline's dashboards.owner_id is NO ACTION: owners of a dashboard are left out)
        "departing_users": q("SELECT u.id, u.organization_id FROM {v}.users u "
                             "WHERE EXISTS (SELECT 1 FROM {v}.projects p WHERE p.owner_id = u.id) "
                             "AND NOT EXISTS (SELECT 1 FROM {v}.dashboards d WHERE d.owner_id = u.id) ORDER BY u.id"),
    }

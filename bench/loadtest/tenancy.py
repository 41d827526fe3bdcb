"""The tenant check: a simulated user must never receive a row of another organisation.

What is checked. For each scenario below, the response's `id` column names rows of one
table (OWNED_ROWS). After every successful request, every returned id is looked up as
the server's superuser (who bypasses RLS) in that table of the variant under test; a row
whose `organization_id` is not the requesting user's organisation is a cross-tenant row,
unless the table declares it visible to every signed-in user (`public`): the
marketplace, i.e. capabilities that are published, approved and not deleted, exactly
what hardened's capabilities_select policy lets through. Such a request counts as a
failure in Locust (request event with a CrossTenantRows exception) and, separately, as a
security failure of that scenario and variant in results.json, with sample ids.

What is not checked (and why):
- Scenarios whose rows carry no id (aggregates, activity and audit lists:
  capability_stats, monthly_activity, my_recent_activity, audit_lookup) and
  archive_capability on variants whose function returns a boolean: nothing identifies
  the row's owner. They are counted as "unchecked" requests, never as clean.
- Columns other than `id`: a row of the user's own tenant that embeds another
  tenant's data (a join, a JSON field) is not detected.
- Rows the user should not see *within* their organisation (project membership,
  editor-only dashboards): this is a tenant check, not an authorisation audit; the
  security instrument (`bench run security`) attacks those paths.
- Ownership is cached per process: a row's organisation and publication are read once
  (on first sight, in one batched query per response) and assumed not to change during
  the run. True of today's catalog (no scenario moves a row between tenants or changes
  a published item); a scenario that does must set `cache=False` here.
- Ids that no longer exist when looked up (deleted meanwhile) are counted "unverified".
The superuser lookups run on one connection per worker process, outside the request
pool and after the request's time was taken: they never count in the response time.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

MAX_CACHED = 2_000_000  # ownership entries per (process); beyond this, look up without caching
MAX_SAMPLES = 5


@dataclass(frozen=True)
class Owned:
    table: str
    public: str = "false"  # SQL over the table's columns: rows every signed-in user may see
    cache: bool = True


# A capability published in the marketplace is visible to every tenant by design.
MARKETPLACE = "status = 'published' AND approval_status = 'approved'{deleted}"

# scenario name -> the table its `id` column comes from (see the module docstring)
OWNED_ROWS = {
    "archive_capability": Owned("capabilities", MARKETPLACE),
    "capability_search": Owned("capabilities", MARKETPLACE),
    "documents_by_kb": Owned("documents"),
    "editable_dashboards": Owned("dashboards"),
    "insert_capability": Owned("capabilities", MARKETPLACE),
    "marketplace_browse": Owned("capabilities", MARKETPLACE),
    "my_projects": Owned("projects"),
    "projects_by_status": Owned("projects"),
    "similar_documents": Owned("documents"),
    "update_project": Owned("projects"),
}
# Cross-tenant rows measured and understood: reported as findings of that variant (never
# hidden), but not a failure of the run. Any other cross-tenant row fails `bench run load`.
KNOWN_LEAKS = {
    ("capability_search", "baseline"): "the app's search filters on status only: published items of other "
                                       "organisations still pending or rejected by moderation are returned",
    ("capability_search", "review"): "as baseline (the review keeps the app's search and adds no policy to "
                                     "capabilities): unmoderated items of other organisations are returned",
}
UNCHECKED = {
    "audit_lookup": "returns operations and times of one record, no row id",
    "capability_stats": "an aggregate per category",
    "monthly_activity": "an aggregate per month",
    "my_recent_activity": "returns actions and times, no row id",
}


class CrossTenantRows(Exception):
    """A response held rows of another organisation: a security failure."""

    def __init__(self, table: str, ids: list, user_org):
        self.table, self.ids, self.user_org = table, ids, user_org
        shown = ", ".join(str(i) for i in ids[:3]) + (" ..." if len(ids) > 3 else "")
        super().__init__(f"{len(ids)} row(s) of another organisation in {table}: {shown}")


@dataclass
class Verdict:
    checked: bool
    rows: int = 0  # rows verified
    foreign: list | None = None  # ids of other tenants
    unverified: int = 0


class TenantChecker:
    """Per process: verifies returned ids against a superuser-side ownership cache."""

    def __init__(self, dsn: str):
        self.dsn = dsn
        self._conn: psycopg.Connection | None = None
        self._cache: dict[tuple[str, str], dict] = {}
        self._public: dict[tuple[str, str], str] = {}
        self.size = 0

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.dsn, autocommit=True, application_name="bench-load-tenancy")
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def _public_sql(self, variant: str, owned: Owned) -> str:
        key = (variant, owned.table)
        if key not in self._public:
            has_deleted = self._connection().execute(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
                "AND column_name = 'deleted_at'", (variant, owned.table)).fetchone()
            self._public[key] = owned.public.format(deleted=" AND deleted_at IS NULL" if has_deleted else "")
        return self._public[key]

    def check(self, variant: str, scenario: str, columns: list[str] | None, rows: list, user_org) -> Verdict:
        owned = OWNED_ROWS.get(scenario)
        if owned is None or not columns or "id" not in columns:
            return Verdict(checked=False)
        at = columns.index("id")
        ids = [r[at] for r in rows if r[at] is not None]
        if not ids:
            return Verdict(checked=True)
        cache = self._cache.setdefault((variant, owned.table), {})
        missing = [i for i in dict.fromkeys(ids) if i not in cache] if owned.cache else list(dict.fromkeys(ids))
        found = {}
        if missing:
            sql = (f'SELECT id, organization_id, ({self._public_sql(variant, owned)}) FROM "{variant}".{owned.table} '
                   "WHERE id = ANY(%s)")
            found = {i: (org, bool(public)) for i, org, public in self._connection().execute(sql, (missing,))}
            if owned.cache and self.size < MAX_CACHED:
                cache.update(found)
                self.size += len(found)
        foreign, unverified = [], 0
        for i in ids:
            entry = cache.get(i) or found.get(i)
            if entry is None:
                unverified += 1
            elif entry[0] != user_org and not entry[1]:
                foreign.append(i)
        return Verdict(checked=True, rows=len(ids), foreign=foreign, unverified=unverified)

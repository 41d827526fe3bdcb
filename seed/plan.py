"""Who owns what: the skewed allocation of rows to tenants and parents.

Rows of a table are laid out in contiguous ranges per parent (users of organisation 0,
then of organisation 1, ...), with range sizes drawn once from the seed. So any worker
can answer "which organisation owns project 123456" with one searchsorted, and every
child row points at a parent that exists, in every variant, whatever the chunking.
Skew is deliberate: organisation sizes follow a Zipf law (a few huge tenants, a long
tail of small ones), knowledge base and per-user activity sizes are log-normal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from seed.ids import unit_floats

ZIPF_EXPONENT = 1.05
MAX_MEMBERS = 8


def allocate(total: int, weights: np.ndarray, minimum: int = 0) -> np.ndarray:
    """Split `total` into len(weights) integer parts proportional to weights (largest
    remainder), each at least `minimum` when total allows. Sums exactly to total."""
    n = len(weights)
    floor_each = minimum if total >= minimum * n else 0
    rest = total - floor_each * n
    share = weights / weights.sum() * rest
    parts = np.floor(share).astype(np.int64)
    remainder = rest - int(parts.sum())
    if remainder:
        order = np.argsort(-(share - parts), kind="stable")[:remainder]
        parts[order] += 1
    return parts + floor_each


def starts(counts: np.ndarray) -> np.ndarray:
    """Range starts with a final end: rows of parent k are starts[k]:starts[k+1]."""
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def owner_of(starts_: np.ndarray, index: np.ndarray) -> np.ndarray:
    return np.searchsorted(starts_, index, side="right") - 1


@dataclass
class Plan:
    seed: int
    counts: dict[str, int]
    org_weight: np.ndarray = field(init=False)
    users: np.ndarray = field(init=False)  # starts per organisation
    projects: np.ndarray = field(init=False)
    capabilities: np.ndarray = field(init=False)
    knowledge_bases: np.ndarray = field(init=False)
    mcp_integrations: np.ndarray = field(init=False)
    documents: np.ndarray = field(init=False)  # starts per knowledge base
    datasets: np.ndarray = field(init=False)  # starts per project
    dashboards: np.ndarray = field(init=False)
    members: np.ndarray = field(init=False)  # project_members starts per project
    sources: np.ndarray = field(init=False)  # dashboard_data_sources starts per dashboard
    activity: np.ndarray = field(init=False)  # user_activity_log starts per user

    def __post_init__(self) -> None:
        rng = np.random.default_rng([self.seed, 7])
        n_org = self.counts["organizations"]
        ranks = rng.permutation(n_org) + 1.0
        self.org_weight = 1.0 / ranks**ZIPF_EXPONENT
        per_org = lambda table, minimum=0: starts(allocate(self.counts[table], self.org_weight, minimum))
        self.users = per_org("users", minimum=1)
        self.projects = per_org("projects")
        self.capabilities = per_org("capabilities")
        self.knowledge_bases = per_org("knowledge_bases")
        self.mcp_integrations = per_org("mcp_integrations")
        n_kb, n_proj, n_users = (self.counts[t] for t in ("knowledge_bases", "projects", "users"))
        self.documents = starts(allocate(self.counts["documents"], rng.lognormal(0, 1.0, n_kb)))
        project_weight = rng.lognormal(0, 0.8, n_proj)
        self.datasets = starts(allocate(self.counts["datasets"], project_weight))
        self.dashboards = starts(allocate(self.counts["dashboards"], project_weight))
        self.members = starts(self._members_per_project())
        self.sources = starts(self._sources_per_dashboard())
        self.activity = starts(allocate(self.counts["user_activity_log"], rng.lognormal(0, 1.2, n_users)))

    # ---- derived counts ----------------------------------------------------------
    def _members_per_project(self) -> np.ndarray:
        n_proj = self.counts["projects"]
        if n_proj == 0:
            return np.zeros(0, dtype=np.int64)
        u = unit_floats(self.seed, "members_per_project", np.arange(n_proj))
        wanted = 1 + np.floor(-np.log1p(-u) * 2.0).astype(np.int64)  # geometric-ish, mean ~3
        org_size = np.diff(self.users)[self.project_org(np.arange(n_proj))]
        return np.minimum(np.minimum(wanted, MAX_MEMBERS), org_size)

    def _sources_per_dashboard(self) -> np.ndarray:
        n_dash = self.counts["dashboards"]
        u = unit_floats(self.seed, "sources_per_dashboard", np.arange(n_dash))
        available = np.diff(self.datasets)[self.dashboard_project(np.arange(n_dash))]
        return np.minimum(np.floor(u * 4).astype(np.int64), available)

    def total(self, table: str) -> int:
        derived = {"project_members": self.members, "dashboard_data_sources": self.sources}
        return int(derived[table][-1]) if table in derived else self.counts[table]

    # ---- ownership lookups (vectorised) -------------------------------------------
    def project_org(self, p: np.ndarray) -> np.ndarray:
        return owner_of(self.projects, p)

    def dashboard_project(self, d: np.ndarray) -> np.ndarray:
        return owner_of(self.dashboards, d)

    def user_org(self, u: np.ndarray) -> np.ndarray:
        return owner_of(self.users, u)

    def kb_org(self, k: np.ndarray) -> np.ndarray:
        return owner_of(self.knowledge_bases, k)

    def org_user(self, org: np.ndarray, stream: str, index: np.ndarray, offset: np.ndarray | None = None) -> np.ndarray:
        """A user of `org` chosen per row by a hash of (stream, index), or at `offset`."""
        size = self.users[org + 1] - self.users[org]
        if offset is None:
            offset = np.floor(unit_floats(self.seed, stream, index) * size).astype(np.int64)
        return self.users[org] + offset % size

    def project_owner(self, p: np.ndarray) -> np.ndarray:
        return self.org_user(self.project_org(p), "project_owner", p)

    def project_member_user(self, p: np.ndarray, position: np.ndarray) -> np.ndarray:
        """Member `position` of project p: 0 is the owner, then distinct users of the org."""
        org = self.project_org(p)
        owner_offset = self.project_owner(p) - self.users[org]
        return self.org_user(org, "", p, offset=owner_offset + position)

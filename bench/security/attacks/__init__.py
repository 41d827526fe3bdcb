"""Attacks on a live schema variant: the measuring instrument of the review's security claim.

Each attack is one short function registered with `@attack(id, description, defect)`; the
defect is the review's mistake it probes (numbers refer to the statement table in
schema/README.md). `run_all(conn, variant)` runs every attack against one variant and
returns one `Finding` per attack: `succeeded` is True when the attack worked (a leak, an
escalation, a plaintext secret) or, for kind "functional", when the defect showed.
"not applicable" findings (the variant lacks the object) have `applicable=False`.

The package:
- `base.py`: the framework: `Finding`, `@attack` and the registry `ATTACKS`, the actors,
  how an attack runs (as an API user, in a transaction that is rolled back), `run_all`.
- `scan.py`: the text scanner that looks for the seeded bearer tokens in any table.
- one module per attack family, listed in FAMILIES in the order the attacks run.
Adding an attack is one decorated function in the family file it belongs to; a new family
is one file here and its name in FAMILIES. Everything other code uses is imported from this
package (`from bench.security import attacks`), never from its modules.

What it needs:
- `conn`: a psycopg connection to a database holding the variant with the seeded data
  loaded and its post-data built, as a role that bypasses RLS and may SET ROLE to anon /
  authenticated / service_role (the harness's superuser, like `postgres` on Supabase).
  That role only *picks the actors* (users of two organisations A and B, a viewer, ...)
  and observes outcomes; every attack action runs as an API user through
  `bench.core.identity.as_user`, never as the superuser or the owner, which bypass RLS.
- Every attack runs inside a transaction that is rolled back (`sandbox`), so the database
  is unchanged afterwards, whatever the attack did.
- The storage scan looks for the seeded bearer tokens: read from the plaintext column
  where there is one, otherwise decrypted with BENCH_ENCRYPTION_KEY (the seed's key);
  it always also looks for the token prefix `sk_live_`.

Baseline has no RLS by design (its app filters tenants in SQL as service_role); its
user-level attacks run as the API roles Supabase grants (anon / authenticated), to show
what such a schema exposes through the API, and their evidence says so ("[no RLS] ...").
"""

from __future__ import annotations

import importlib
import pkgutil

from bench.security.attacks.base import (
    ATTACKS, REFUSALS, Actors, Attack, Attempt, Finding, NotApplicable, Target, attack, attempt, pick_actors,
    request, run, run_all, sandbox, table)
from bench.security.attacks.scan import TOKEN_PREFIX, VECTOR_TYPES, find_text, known_tokens, minimal_needles

FRAMEWORK = ("base", "scan")
# The order the attacks run in (and are reported in): importing a family registers its attacks.
FAMILIES = ("tenancy", "escalation", "functions", "audit", "storage", "functional")


def _register_families() -> None:
    """Import every family in FAMILIES order; a module of this package that is neither
    framework nor listed is an error, so a new family's attacks cannot be silently left out."""
    present = {m.name for m in pkgutil.iter_modules(__path__)} - set(FRAMEWORK)
    if present != set(FAMILIES):
        raise ImportError(f"bench/security/attacks/: family modules {sorted(present)} "
                          f"differ from FAMILIES {sorted(FAMILIES)}")
    for family in FAMILIES:
        importlib.import_module(f"{__name__}.{family}")


_register_families()

__all__ = ["ATTACKS", "FAMILIES", "REFUSALS", "TOKEN_PREFIX", "VECTOR_TYPES", "Actors", "Attack", "Attempt",
           "Finding", "NotApplicable", "Target", "attack", "attempt", "find_text", "known_tokens",
           "minimal_needles", "pick_actors", "request", "run", "run_all", "sandbox", "table"]

"""Secrets at rest: the integrations' bearer tokens stored as plain text anywhere in the schema
(an inspection as the superuser, not an API user's attack)."""

from __future__ import annotations

from bench.security.attacks.base import Target, attack, summary
from bench.security.attacks.scan import TOKEN_PREFIX, find_text, known_tokens


@attack("storage.plaintext_secret", "the integrations' bearer tokens, as plain text, in any table",
        "#5-6 plaintext authentication kept; #22 audit copies it", kind="storage")
def plaintext_secret(t: Target) -> tuple[bool, str]:
    tokens = known_tokens(t.conn, t.variant.name)
    found = find_text(t.conn, t.variant.name, tokens + [TOKEN_PREFIX])
    if found:
        return True, f"plain text tokens in {summary(found)} rows"
    return False, f"none of {len(tokens)} known tokens (nor '{TOKEN_PREFIX}') in any table"

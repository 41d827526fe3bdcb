"""Field encryption for secrets the app must read back (mcp_integrations.authentication).

The embedded server has no pgcrypto, so the hardened schema stores AES-256-GCM ciphertext
made by the client (the `cryptography` package). Blob layout: version byte 0x01, 12-byte
nonce, ciphertext with its 16-byte tag. The row id is the associated data, so a
ciphertext copied onto another row does not decrypt.

Key: BENCH_ENCRYPTION_KEY (base64 of 32 bytes), never a file in the repository. Without
it a throwaway key is made for the process (benchmarks never decrypt; tests set one).
Nonces: random for application writes; the seeder passes `deterministic=True` so a seed
is reproducible: the nonce is then an HMAC of the row id under the key, unique per row.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bench.core.errors import BenchError

KEY_ENV = "BENCH_ENCRYPTION_KEY"
VERSION = b"\x01"
NONCE_BYTES = 12


@lru_cache(maxsize=1)
def key() -> bytes:
    raw = os.environ.get(KEY_ENV)
    if not raw:
        return AESGCM.generate_key(bit_length=256)
    try:
        decoded = base64.b64decode(raw, validate=True)
    except ValueError:
        raise BenchError(f"{KEY_ENV} must be base64 of 32 bytes (e.g. `openssl rand -base64 32`)") from None
    if len(decoded) != 32:
        raise BenchError(f"{KEY_ENV} must decode to 32 bytes, got {len(decoded)}")
    return decoded


def key_is_ephemeral() -> bool:
    return not os.environ.get(KEY_ENV)


def encrypt(plaintext: bytes, row_id: bytes, *, deterministic: bool = False, secret: bytes | None = None) -> bytes:
    secret = secret or key()
    if deterministic:
        nonce = hmac.new(secret, b"nonce:" + row_id, hashlib.sha256).digest()[:NONCE_BYTES]
    else:
        nonce = os.urandom(NONCE_BYTES)
    return VERSION + nonce + AESGCM(secret).encrypt(nonce, plaintext, row_id)


def decrypt(blob: bytes, row_id: bytes, *, secret: bytes | None = None) -> bytes:
    if not blob or blob[:1] != VERSION:
        raise ValueError("not a version-1 ciphertext")
    nonce, body = blob[1:1 + NONCE_BYTES], blob[1 + NONCE_BYTES:]
    return AESGCM(secret or key()).decrypt(nonce, body, row_id)

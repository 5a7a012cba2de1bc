"""CVAT's webhook signature: ``X-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the secret>``
(verified on every recorded delivery). Always over the bytes as received, never a re-serialization."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_secret() -> str:
    return secrets.token_hex(32)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """Whether the header is the body's signature with this secret (constant-time comparison)."""
    return bool(header) and hmac.compare_digest(sign(secret, body), header.strip())

"""Masking credentials wherever text may be shown (logs, API answers, errors relayed from other servers):
the password of ``scheme://user:password@host`` URLs, bearer tokens, and any configured secret value."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/:@]*:)(?P<password>[^\s/@]*)@")
_BEARER = re.compile(r"(?i)(?P<head>bearer\s+)[A-Za-z0-9._~+/=-]+")
MIN_SECRET_LENGTH = 3  # shorter "secrets" would mask ordinary words


def mask_url(url: str) -> str:
    """The URL with the password of its ``user:password@`` part masked."""
    return _URL_PASSWORD.sub(lambda match: f"{match['head']}{MASK}@", url)


def mask_secrets(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with URL passwords, bearer tokens and every given secret (longest first) replaced by
    ``***`` (for text from elsewhere: another server's error may quote the request it was sent)."""
    text = _BEARER.sub(lambda match: f"{match['head']}{MASK}", mask_url(text))
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text

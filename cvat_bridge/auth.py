"""The API token (from the settings, or generated once and kept in the data dir), and the download tokens
derived from it."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from sqlalchemy import select

from cvat_bridge.db import Database, Model, as_utc
from cvat_bridge.settings import Settings


def ensure_api_token(settings: Settings, token_file: Path) -> tuple[str, bool]:
    """The token the API accepts, and whether it was generated just now (then it is written to token_file)."""
    if settings.api_token is not None:
        return settings.api_token.get_secret_value(), False
    if token_file.exists():
        return token_file.read_text().strip(), False
    token = secrets.token_urlsafe(32)
    # Written whole under a private name, then linked into place: a process starting at the same moment
    # finds either no file or the whole token, never a half-written one.
    draft = token_file.with_name(f".{token_file.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    try:
        os.link(draft, token_file)
    except FileExistsError:  # another process of this service won the race
        return token_file.read_text().strip(), False
    finally:
        draft.unlink()
    return token, True


def token_matches(presented: str, expected: str) -> bool:
    return secrets.compare_digest(presented.encode(), expected.encode())


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value (None: no bearer token)."""
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def token_refusal(authorization: str | None, api_token: str) -> str | None:
    """Why a request with this ``Authorization`` header is refused (None: it carries the API token)."""
    presented = bearer_token(authorization)
    if presented is None:
        return "missing API token: send 'Authorization: Bearer <token>'"
    return None if token_matches(presented, api_token) else "wrong API token"


def function_download_token(api_token: str, model_id: int, created_at: dt.datetime) -> str:
    """A token that downloads one model's function zip and nothing else (an HMAC of the model's id and
    creation time under the API token): what a Nuclio build is given, so the dashboard, which shows build
    specs, never holds the API token. It dies with its model (another model never has the same id and
    creation time); changing the API token retires every download token."""
    return _scoped_token(api_token, "function-zip", model_id, created_at)


def thumbnail_token(api_token: str, collection_id: int, created_at: dt.datetime) -> str:
    """A token that reads one collection's thumbnails and nothing else, for the pages' ``<img>`` URLs (an
    image request cannot carry the bearer header); it dies with its collection, like a download token."""
    return _scoped_token(api_token, "thumbnails", collection_id, created_at)


def _scoped_token(api_token: str, scope: str, row_id: int, created_at: dt.datetime) -> str:
    """An HMAC under the API token of a scope, a row's id and its creation time."""
    created = as_utc(created_at).strftime("%Y-%m-%dT%H:%M:%S.%f")
    message = f"{scope}:{row_id}:{created}".encode()
    return hmac.new(api_token.encode(), message, hashlib.sha256).hexdigest()


def model_download_token(db: Database, api_token: str, model_id: int) -> str | None:
    """The download token of the model with this id (None: there is no such model)."""
    with db.session() as session:
        created_at = session.scalar(select(Model.created_at).where(Model.id == model_id))
    return None if created_at is None else function_download_token(api_token, model_id, created_at)

"""The API token (from the settings, or generated once and kept in the data dir), and the download tokens
derived from it."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cvat_bridge.settings import Settings


def ensure_api_token(settings: Settings, token_file: Path) -> tuple[str, bool]:
    """The token the API accepts, and whether it was generated just now (then it is written to token_file)."""
    if settings.api_token is not None:
        return settings.api_token.get_secret_value(), False
    if token_file.exists():
        return token_file.read_text().strip(), False
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process of this service won the race
        return token_file.read_text().strip(), False
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token, True


def token_matches(presented: str, expected: str) -> bool:
    return secrets.compare_digest(presented.encode(), expected.encode())


def function_download_token(api_token: str, model_id: int) -> str:
    """A token that downloads one model's function zip and nothing else (an HMAC of the model id under the
    API token): what a Nuclio build is given, so the dashboard, which shows build specs, never holds the API
    token. Changing the API token retires every download token."""
    return hmac.new(api_token.encode(), f"function-zip:{model_id}".encode(), hashlib.sha256).hexdigest()

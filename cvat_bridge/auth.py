"""The API token: from the settings, or generated once and kept in the data dir."""

from __future__ import annotations

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

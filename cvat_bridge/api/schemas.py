"""Types shared by the answers of several routers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, PlainSerializer

from cvat_bridge.db import iso_utc

# Every time in every answer: UTC, to the microsecond, with its offset: "2026-12-01T02:47:32.123456+00:00"
# (the database hands back aware times: db.UtcDateTime).
Timestamp = Annotated[AwareDatetime, PlainSerializer(iso_utc, return_type=str)]

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


def file_answer(media_type: str, description: str) -> dict[int | str, dict]:
    """The OpenAPI ``responses`` of a route that answers a file."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {200: {"description": description, "content": {media_type: binary}}}

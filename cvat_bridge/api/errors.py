"""One HTTP status per kind of domain error (``cvat_bridge.errors``): routes raise, never map.

Starlette picks the handler of the first class in an error's MRO that has one, so a subclass answers with
its own kind's status (e.g. ``CvatNotFound(NotFound, CvatError)``: 404). Anything else is a bug: 500.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from cvat_bridge.errors import (
    BadRequest,
    Conflict,
    DomainError,
    Invalid,
    NotFound,
    TooLarge,
    Unavailable,
    UpstreamError,
)

STATUS_OF_KIND: dict[type[DomainError], int] = {
    NotFound: 404,
    Conflict: 409,
    Invalid: 422,
    BadRequest: 400,
    TooLarge: 413,
    Unavailable: 503,
    UpstreamError: 502,
}


class ErrorAnswer(BaseModel):
    detail: str  # what is wrong, and what to change


# Documented on every /api route (FastAPI adds the 422 of a body or parameter that does not validate).
ERROR_ANSWERS: dict[int | str, dict] = {
    "4XX": {"model": ErrorAnswer, "description": "refused: `detail` says why"},
    "5XX": {"model": ErrorAnswer, "description": "a part is down (503), CVAT or Nuclio failed (502)"},
}


def add_error_handlers(app: FastAPI) -> None:
    """Register one handler per kind: ``{"detail": message}`` with the kind's status."""
    for kind, status in STATUS_OF_KIND.items():
        app.add_exception_handler(kind, _answer_with(status))


def _answer_with(status: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handler(_request: Request, exc: Exception) -> JSONResponse:
        retry_after = getattr(exc, "retry_after_seconds", None)
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)

    return handler

"""The gate in front of every route: the API token and a body size limit, checked before the route reads a
byte of the body (a pure ASGI middleware: a route dependency runs only after FastAPI has parsed the body).

Every /api route needs the API token unless it is declared ``open`` (health, and the function zip download,
which checks its own token). Every route has a body limit: ``MAX_JSON_BYTES`` unless it declares its own
(uploads). The declared Content-Length is checked up front, and the bytes are counted as they arrive, so a
chunked body is stopped as soon as it passes the limit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cvat_bridge.auth import token_refusal
from cvat_bridge.limits import MAX_JSON_BYTES
from cvat_bridge.settings import Settings

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


@dataclass(frozen=True)
class Policy:
    """What the gate asks of a route's requests."""

    open: bool = False  # True: no API token asked here (the route needs none, or checks its own)
    body_limit: Callable[[Settings], int] = lambda _settings: MAX_JSON_BYTES


DEFAULT_POLICY = Policy()


def gate(*, open: bool = False, body_limit: Callable[[Settings], int] | None = None) -> Callable:
    """Declare a route's policy (put it under the route decorator)."""
    policy = Policy(open=open, body_limit=body_limit or DEFAULT_POLICY.body_limit)

    def declare(endpoint: Endpoint) -> Endpoint:
        endpoint.__gate_policy__ = policy  # type: ignore[attr-defined]
        return endpoint

    return declare


class BodyTooLarge(HTTPException):
    """The body passed its route's limit while it was read (raised from ``receive``, answered 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"the request body is larger than this route's limit of {limit} bytes",
            {"Connection": "close"},
        )


@dataclass(frozen=True)
class DeclaredRoute:
    """A route that declared its policy: where it is, and the policy."""

    pattern: re.Pattern[str]
    methods: frozenset[str]
    policy: Policy


def declared_routes(prefix: str, routers: Iterable[APIRouter]) -> list[DeclaredRoute]:
    """The routes of these routers (mounted under ``prefix``) that declared a policy with ``gate``."""
    return [
        DeclaredRoute(
            compile_path(prefix + route.path)[0], frozenset(route.methods), route.endpoint.__gate_policy__
        )
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and hasattr(route.endpoint, "__gate_policy__")
    ]


class ApiGate:
    """ASGI middleware: refuse a request without the API token (401) or with a body past its route's limit
    (413) before the body is read."""

    def __init__(self, app: ASGIApp, routes: Sequence[DeclaredRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        app = scope["app"]
        policy = self._policy(scope["method"], scope["path"])
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        path = scope["path"]
        if (path == "/api" or path.startswith("/api/")) and not policy.open:
            refusal = token_refusal(headers.get("authorization"), app.state.api_token)
            if refusal is not None:
                await _refuse(send, 401, refusal, {"WWW-Authenticate": "Bearer"})
                return
        limit = policy.body_limit(app.state.services.settings)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(send, 413, BodyTooLarge(limit).detail)
            return
        await self._counted(scope, receive, send, limit)

    def _policy(self, method: str, path: str) -> Policy:
        """The declared policy of the route this request goes to (else the default)."""
        for route in self.routes:
            if method in route.methods and route.pattern.match(path):
                return route.policy
        return DEFAULT_POLICY

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge as exc:  # raised where no exception handler answered it
            if started:
                raise
            await _refuse(send, 413, exc.detail)


async def _refuse(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    """Answer without reading the body, and close the connection (its body is not waited for)."""
    body = json.dumps({"detail": detail}).encode()
    extra = {"content-type": "application/json", "content-length": str(len(body)), "connection": "close"}
    extra.update({key.lower(): value for key, value in (headers or {}).items()})
    raw = [(key.encode("latin-1"), value.encode("latin-1")) for key, value in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})

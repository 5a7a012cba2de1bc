"""/api/health (liveness: the process answers) and /api/health/ready (readiness: the database, the queue
and the data dir work); both open, without the token, for orchestrators and load balancers."""

from __future__ import annotations

import tempfile
from typing import Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from cvat_bridge import __version__
from cvat_bridge.api.deps import services
from cvat_bridge.api.gate import gate
from cvat_bridge.masking import mask_url
from cvat_bridge.services import Services

router = APIRouter(tags=["health"])
PROBE_TIMEOUT_SECONDS = 3.0


class Liveness(BaseModel):
    status: Literal["ok"]
    version: str


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str]  # {"database" | "queue" | "data_dir": "ok" or what is wrong}
    detail: str | None = None  # which parts are down


@router.get("/health")
@gate(open=True)
async def health() -> Liveness:
    """Liveness: cheap, touches nothing."""
    return Liveness(status="ok", version=__version__)


@router.get(
    "/health/ready",
    response_model=Readiness,
    response_model_exclude_none=True,
    responses={503: {"model": Readiness, "description": "a part is down; `checks` says which"}},
)
@gate(open=True)
def ready(svc: Services = Depends(services)) -> JSONResponse:
    """Readiness: 200 when the database, the queue and the data dir work; 503 naming what is down."""
    checks = {"database": _database(svc), "queue": _queue(svc), "data_dir": _data_dir(svc)}
    down = [name for name, result in checks.items() if result != "ok"]
    detail = "down: " + ", ".join(f"{name} ({checks[name]})" for name in down) if down else None
    body = Readiness(status="not_ready" if down else "ready", checks=checks, detail=detail)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=503 if down else 200)


def _database(svc: Services) -> str:
    try:
        with svc.db.connection() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means the database is not usable
        return f"unreachable: {type(exc).__name__}"
    return "ok"


def _queue(svc: Services) -> str:
    url = svc.settings.redis_url
    if not url:
        return "ok"  # the embedded queue lives in this process
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        with Redis.from_url(
            url, socket_timeout=PROBE_TIMEOUT_SECONDS, socket_connect_timeout=PROBE_TIMEOUT_SECONDS
        ) as redis:
            redis.ping()
    except RedisError as exc:
        return f"Redis at {mask_url(url)} unreachable: {type(exc).__name__}"
    return "ok"


def _data_dir(svc: Services) -> str:
    try:
        with tempfile.TemporaryFile(dir=svc.storage.staging_dir) as probe:
            probe.write(b"ready?")
            probe.flush()
    except OSError as exc:
        return f"not writable: {exc.strerror or exc}"
    return "ok"

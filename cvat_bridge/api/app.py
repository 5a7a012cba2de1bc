"""The app factory: API routers behind the token, the pages, and the job machinery's start and stop."""

from __future__ import annotations

import importlib
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from cvat_bridge import __version__
from cvat_bridge.api.deps import require_token
from cvat_bridge.api.functions import download_router
from cvat_bridge.auth import ensure_api_token
from cvat_bridge.jobs.queue import QueueUnavailable, reap_lost_jobs_forever, recover_jobs
from cvat_bridge.services import Services, get_services, set_services
from cvat_bridge.storage import is_disk_full

# Each module defines `router`; all of them sit under /api and need the token (the function zip download
# also takes its model's download token: api.functions.download_router).
API_ROUTERS = (
    "cvat_bridge.api.collections",
    "cvat_bridge.api.architectures",
    "cvat_bridge.api.models",
    "cvat_bridge.api.predict",
    "cvat_bridge.api.jobs",
    "cvat_bridge.api.cvat",
    "cvat_bridge.api.functions",
)


def create_app(services: Services | None = None) -> FastAPI:
    services = services or get_services()
    set_services(services)
    token, created = ensure_api_token(services.settings, services.storage.token_file)
    if created:
        print(f"cvat-bridge: generated an API token; it is in {services.storage.token_file}", flush=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.storage.sweep_staging(services.settings.staging_max_age_seconds)
        recover_jobs(services)
        stop = threading.Event()
        reaper = threading.Thread(target=reap_lost_jobs_forever, args=(services, stop), daemon=True)
        reaper.start()
        yield
        stop.set()
        services.jobs.close()

    app = FastAPI(title="cvat-bridge", version=__version__, lifespan=lifespan)
    app.state.services = services
    app.state.api_token = token

    @app.exception_handler(QueueUnavailable)
    async def queue_unavailable(_request: Request, exc: QueueUnavailable) -> JSONResponse:
        """Every route that starts a job: the job was recorded failed, the client may try again later."""
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "30"})

    @app.exception_handler(OSError)
    @app.exception_handler(OperationalError)
    async def disk_full(_request: Request, exc: Exception) -> JSONResponse:
        """A full data dir (files or database) is 507 with a clear message; other errors stay 500s."""
        if not is_disk_full(exc):
            raise exc
        detail = f"no space left on the device of the data dir ({services.storage.root}); nothing was saved"
        return JSONResponse({"detail": detail}, status_code=507)

    @app.get("/api/health", tags=["health"])
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    for module_name in API_ROUTERS:
        router = importlib.import_module(module_name).router
        app.include_router(router, prefix="/api", dependencies=[Depends(require_token)])
    app.include_router(download_router, prefix="/api")  # its own check: the API token or a download token

    from cvat_bridge.web.pages import mount_pages

    mount_pages(app)
    return app

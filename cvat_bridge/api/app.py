"""The app factory: API routers behind the token, the pages, and the job machinery's start and stop."""

from __future__ import annotations

import importlib
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from sqlalchemy.exc import OperationalError

from cvat_bridge import __version__
from cvat_bridge.api.errors import ERROR_ANSWERS, add_error_handlers
from cvat_bridge.api.functions import download_router
from cvat_bridge.api.gate import ApiGate, declared_routes
from cvat_bridge.auth import ensure_api_token
from cvat_bridge.jobs.queue import reap_lost_jobs_forever, recover_jobs
from cvat_bridge.services import Services, get_services, set_services
from cvat_bridge.storage import is_disk_full
from cvat_bridge.web.headers import SecurityHeaders

# Each module defines `router`; all of them sit under /api, behind the token (api.gate.ApiGate), except the
# routes declared open: health, the function zip download (it also takes its model's download token), and
# CVAT's webhook deliveries to the loops (checked by their signature with the loop's secret).
# The thumbnails (api/images.py) are open too: they take their collection's thumbnail token or the API token.
API_ROUTERS = (
    "cvat_bridge.api.health",
    "cvat_bridge.api.collections",
    "cvat_bridge.api.architectures",
    "cvat_bridge.api.models",
    "cvat_bridge.api.predict",
    "cvat_bridge.api.jobs",
    "cvat_bridge.api.cvat",
    "cvat_bridge.api.functions",
    "cvat_bridge.api.images",
    "cvat_bridge.api.loops",
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

    # /docs and /redoc with Swagger UI and ReDoc served from the package (no CDN: they work offline).
    app = FastAPIOffline(title="cvat-bridge", version=__version__, lifespan=lifespan)
    app.state.services = services
    app.state.api_token = token

    add_error_handlers(app)

    @app.exception_handler(OSError)
    @app.exception_handler(OperationalError)
    async def disk_full(_request: Request, exc: Exception) -> JSONResponse:
        """A full data dir (files or database) is 507 with a clear message; other errors stay 500s."""
        if not is_disk_full(exc):
            raise exc
        detail = f"no space left on the device of the data dir ({services.storage.root}); nothing was saved"
        return JSONResponse({"detail": detail}, status_code=507)

    routers = [importlib.import_module(module_name).router for module_name in API_ROUTERS] + [download_router]
    for router in routers:
        app.include_router(router, prefix="/api", responses=ERROR_ANSWERS)
    app.add_middleware(ApiGate, routes=declared_routes("/api", routers))
    app.add_middleware(SecurityHeaders)

    from cvat_bridge.web.pages import mount_pages

    mount_pages(app)
    return app

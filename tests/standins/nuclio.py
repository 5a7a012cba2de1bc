"""A Nuclio dashboard stand-in: the REST calls cvat-bridge deploys with and CVAT lists and invokes with.

It answers as the dashboard does (``tests/data/cvat-recordings/flows/08b_*``, Nuclio's REST API): ``POST
/api/functions`` accepts a configuration (202) and "builds" it in the background, which here means what a
real build must do first: download the ``archive`` code entry with its headers and find ``function.yaml``
and the handler module in it. The function is then loaded with nuclio-sdk, so ``POST
/api/function_invocations`` runs the real handler. ``GET /api/functions`` lists the functions of the
project named in ``x-nuclio-project-name`` and the namespace of ``x-nuclio-function-namespace`` (default
``nuclio``, where functions without a namespace go) as a name -> function object.

    with NuclioStandin() as nuclio:
        nuclio.fail_builds = "docker build failed"   # the next builds end in state "error"
        nuclio.posted                                 # every configuration POSTed or PUT, as sent
"""

from __future__ import annotations

import copy
import importlib.util
import io
import json
import sys
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Any

import httpx
import nuclio_sdk
import nuclio_sdk.test
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.standins import ThreadedServer

PROJECT_LABEL = "nuclio.io/project-name"
DEFAULT_NAMESPACE = "nuclio"  # the dashboard's default namespace, which CVAT lists by default


class NuclioStandin:
    def __init__(self) -> None:
        self.functions: dict[str, dict[str, Any]] = {}  # name -> configuration with status
        self.posted: list[dict[str, Any]] = []  # every configuration POSTed or PUT
        self.deleted: list[str] = []
        self.fail_builds: str | None = None  # set: builds end in state "error" with this message
        self.build_seconds = 0.3  # how long a build stays in state "building"
        self.echo_refusals = False  # set: configurations are refused 400, quoting their spec.build
        self._handlers: dict[str, Any] = {}  # name -> loaded handler function
        self._workdir = tempfile.TemporaryDirectory(prefix="nuclio-standin-")
        self._lock = threading.Lock()
        self.app = self._make_app()
        self._server: ThreadedServer | None = None

    def __enter__(self) -> NuclioStandin:
        self._server = ThreadedServer(self.app).__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.__exit__(*exc_info)
        self._workdir.cleanup()

    @property
    def url(self) -> str:
        return self._server.url

    def reset(self) -> None:
        with self._lock:
            self.functions.clear()
            self.posted.clear()
            self.deleted.clear()
            self._handlers.clear()
        self.fail_builds = None
        self.echo_refusals = False

    def invoke(self, name: str, body: dict[str, Any]) -> nuclio_sdk.Response:
        """Call a deployed function's handler as the dashboard would for CVAT."""
        event = nuclio_sdk.Event(body=body, content_type="application/json", path="/", method="POST")
        return self._handlers[name](event)

    # ---- the app -------------------------------------------------------------------------------------
    def _make_app(self) -> FastAPI:
        app = FastAPI()
        standin = self

        @app.get("/api/functions")
        def list_functions(request: Request) -> JSONResponse:
            project = request.headers.get("x-nuclio-project-name")
            namespace = request.headers.get("x-nuclio-function-namespace", DEFAULT_NAMESPACE)
            with standin._lock:
                return JSONResponse(
                    {
                        name: function
                        for name, function in standin.functions.items()
                        if function["metadata"]["namespace"] == namespace
                        and project in (None, function["metadata"].get("labels", {}).get(PROJECT_LABEL))
                    }
                )

        @app.get("/api/functions/{name}")
        def get_function(name: str) -> JSONResponse:
            with standin._lock:
                if name not in standin.functions:
                    return JSONResponse({"error": f"function {name} not found"}, 404)
                return JSONResponse(standin.functions[name])

        @app.post("/api/functions")
        async def create_function(request: Request) -> Response:
            config = await request.json()
            if config.get("metadata", {}).get("name") in standin.functions:
                return JSONResponse({"error": "function already exists"}, 409)
            return standin._accept(config)

        @app.put("/api/functions/{name}")
        async def update_function(name: str, request: Request) -> Response:
            config = await request.json()
            if name not in standin.functions or config.get("metadata", {}).get("name") != name:
                return JSONResponse({"error": f"function {name} not found"}, 404)
            return standin._accept(config)

        @app.delete("/api/functions")
        async def delete_function(request: Request) -> Response:
            name = (await request.json()).get("metadata", {}).get("name")
            with standin._lock:
                if standin.functions.pop(name, None) is None:
                    return JSONResponse({"error": f"function {name} not found"}, 404)
                standin._handlers.pop(name, None)
                standin.deleted.append(name)
            return Response(status_code=204)

        @app.post("/api/function_invocations")
        async def invoke(request: Request) -> Response:
            name = request.headers.get("x-nuclio-function-name", "")
            if name not in standin._handlers:
                return JSONResponse({"error": f"function {name} is not ready"}, 404)
            answer = standin.invoke(name, await request.json())
            return Response(answer.body, answer.status_code, media_type=answer.content_type)

        return app

    def _accept(self, config: dict[str, Any]) -> Response:
        if self.echo_refusals:
            build = (config.get("spec") or {}).get("build")
            return JSONResponse({"error": "invalid build", "received": build}, 400)
        problem = _invalid(config)
        if problem:
            return JSONResponse({"error": problem}, 400)
        name = config["metadata"]["name"]
        function = copy.deepcopy(config)
        function["metadata"].setdefault("namespace", DEFAULT_NAMESPACE)  # as the dashboard enriches it
        function["status"] = {"state": "building"}
        with self._lock:
            self.posted.append(copy.deepcopy(config))
            self.functions[name] = function
            self._handlers.pop(name, None)
        threading.Thread(target=self._build, args=(name, function), daemon=True).start()
        return Response(status_code=202)

    def _build(self, name: str, function: dict[str, Any]) -> None:
        threading.Event().wait(self.build_seconds)
        try:
            if self.fail_builds:
                raise RuntimeError(self.fail_builds)
            handler = self._download_and_load(name, function["spec"]["build"])
            status = {"state": "ready", "httpPort": 32768 + len(self.posted)}
        except Exception as exc:  # noqa: BLE001 - a failed build is a function state, as in Nuclio
            handler, status = None, {"state": "error", "message": f"Failed to build: {exc}"}
        with self._lock:
            if self.functions.get(name) is function:
                function["status"] = status
                if handler is not None:
                    self._handlers[name] = handler

    def _download_and_load(self, name: str, build: dict[str, Any]) -> Any:
        if build.get("codeEntryType") != "archive" or not build.get("path", "").endswith(".zip"):
            raise RuntimeError("this stand-in builds zip archive code entries only")
        headers = build.get("codeEntryAttributes", {}).get("headers", {})
        answer = httpx.get(build["path"], headers=headers, timeout=120)
        answer.raise_for_status()
        folder = Path(self._workdir.name) / f"{name}-{len(self.posted)}"
        with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
            archive.extractall(folder)
        # As Nuclio does: the function is in the archive's `workDir` (a path inside it), else at its root.
        folder = folder / build.get("codeEntryAttributes", {}).get("workDir", "").strip("/")
        if not (folder / "function.yaml").is_file():
            raise RuntimeError("the archive has no function.yaml")
        module_name, _, entry = build.get("handler", "main:handler").partition(":")
        return load_handler(folder, module_name, entry or "handler", unique=f"nuclio_standin_{name}")


def load_handler(folder: Path, module: str = "main", entry: str = "handler", unique: str = "") -> Any:
    """Import ``folder/<module>.py`` under a unique module name and return a callable event -> Response
    that runs its ``init_context`` once (through nuclio-sdk's test platform)."""
    spec = importlib.util.spec_from_file_location(unique or f"function_{id(folder)}", folder / f"{module}.py")
    loaded = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(folder))  # the handler imports its own helpers from the folder
    try:
        sys.modules[spec.name] = loaded
        spec.loader.exec_module(loaded)
    finally:
        sys.path.remove(str(folder))
    platform = nuclio_sdk.test.Platform()
    handler = getattr(loaded, entry)
    return lambda event: platform.call_handler(handler, event)


def _invalid(config: dict[str, Any]) -> str | None:
    """What the dashboard would refuse (or CVAT choke on) in a configuration."""
    metadata = config.get("metadata") or {}
    if not metadata.get("name"):
        return "function must have a name"
    annotations = metadata.get("annotations") or {}
    if any(not isinstance(value, str) for value in annotations.values()):
        return "json: cannot unmarshal number into Go struct field Meta.metadata.annotations of type string"
    if "description" not in (config.get("spec") or {}):
        return "spec.description is missing (CVAT's function list would break)"
    try:
        json.loads(annotations.get("spec", "[]"))
    except ValueError as exc:
        return f"metadata.annotations.spec is not JSON: {exc}"
    return None

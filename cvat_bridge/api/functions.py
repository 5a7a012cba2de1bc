"""/api/models/{id}/function (the Nuclio function folder as a zip) and /api/models/{id}/deployment
(deploy to the Nuclio dashboard CVAT uses, its state, and removal)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict
from starlette.background import BackgroundTask

from cvat_bridge.api.deps import ModelId, require_token_or_download_token, services
from cvat_bridge.api.gate import gate
from cvat_bridge.api.schemas import JobStatus, Timestamp, file_answer
from cvat_bridge.errors import BadRequest
from cvat_bridge.functions.deploy import deployment_state, remove_deployment, start_deployment
from cvat_bridge.functions.render import (
    VARIANTS,
    load_source,
    render_function,
    variant_function_name,
    zip_folder,
)
from cvat_bridge.model_lookup import get_model
from cvat_bridge.services import Services

router = APIRouter(tags=["functions"])
# The function zip is also what a Nuclio build downloads, with the model's download token instead of the API
# token: the route is open at the gate, and this router's dependency checks either token.
download_router = APIRouter(tags=["functions"], dependencies=[Depends(require_token_or_download_token)])


class DeployRequest(BaseModel):
    variant: str = "cpu"  # "cpu": ONNX Runtime (function.yaml); "gpu": torch on CUDA (function-gpu.yaml)


class DeployJob(BaseModel):
    """The latest deploy job of the model."""

    id: str
    status: JobStatus
    progress: dict[str, Any]  # "step": submitting | building, "nuclio_state"
    error: str | None


class DeploymentOut(BaseModel):
    """The model's Nuclio function: its state, and whether the bridge can deploy at all."""

    model_config = ConfigDict(extra="forbid")  # built from deployment_state(): new keys are declared here

    model_id: int
    function_name: str | None
    function_folder: str | None  # the folder in the CPU function's zip (for `nuctl deploy --path`)
    state: Literal["not_deployed", "deploying", "ready", "error", "removed"]
    message: str | None
    in_cvat: bool | None  # whether CVAT lists the function (null: not asked, or CVAT not configured)
    updated_at: Timestamp | None
    nuclio_configured: bool
    public_url_configured: bool
    job: DeployJob | None


_ZIP_ANSWER = file_answer("application/zip", "the function folder as a zip (one top folder, named as it)")


@download_router.get("/models/{model_id}/function", response_class=FileResponse, responses=_ZIP_ANSWER)
@gate(open=True)  # its own check: the API token or the model's download token
def download_function(
    model_id: ModelId, variant: str = "cpu", svc: Services = Depends(services)
) -> FileResponse:
    """The model's Nuclio function folder as a zip (one top folder), for `nuctl deploy --path` (see
    serverless/README.md). ``variant``: "cpu" (ONNX Runtime) or "gpu" (adds torch and its weights)."""
    if variant not in VARIANTS:
        raise BadRequest(f"variant must be one of {', '.join(VARIANTS)}, not {variant!r}")
    source = load_source(svc, model_id)
    work = svc.storage.new_staging_dir("function-")
    try:
        name = variant_function_name(source, variant)
        folder = render_function(source, work / name, svc.settings.inference_threads, variant)
        archive = zip_folder(folder, work / f"{name}.zip")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return FileResponse(
        archive,
        media_type="application/zip",
        filename=archive.name,
        background=BackgroundTask(shutil.rmtree, Path(work), ignore_errors=True),
    )


# What a Nuclio build downloads (Nuclio wants the .zip suffix): render.ZIPS.
@download_router.get("/models/{model_id}/function.zip", include_in_schema=False)
@gate(open=True)
def download_cpu_function(model_id: ModelId, svc: Services = Depends(services)) -> FileResponse:
    return download_function(model_id, "cpu", svc)


@download_router.get("/models/{model_id}/function-gpu.zip", include_in_schema=False)
@gate(open=True)
def download_gpu_function(model_id: ModelId, svc: Services = Depends(services)) -> FileResponse:
    return download_function(model_id, "gpu", svc)


@router.get("/models/{model_id}/deployment")
def read_deployment(model_id: ModelId, svc: Services = Depends(services)) -> DeploymentOut:
    """The deployment's state (an untrained model's too: ``not_deployed``)."""
    get_model(svc, model_id)
    return DeploymentOut.model_validate(deployment_state(svc, model_id))


@router.post("/models/{model_id}/deployment", status_code=202)
def deploy(
    model_id: ModelId, body: DeployRequest | None = None, svc: Services = Depends(services)
) -> DeploymentOut:
    """Deploy the model into Nuclio project `cvat` (a background job); poll GET for the state. Nuclio
    downloads the function zip from CVAT_BRIDGE_PUBLIC_URL (409 when it is not set)."""
    return DeploymentOut.model_validate(start_deployment(svc, model_id, (body or DeployRequest()).variant))


@router.delete("/models/{model_id}/deployment")
def undeploy(model_id: ModelId, svc: Services = Depends(services)) -> DeploymentOut:
    """Remove the model's function from Nuclio (and so from CVAT's list); 404 when it is not deployed."""
    load_source(svc, model_id)
    return DeploymentOut.model_validate(remove_deployment(svc, model_id))

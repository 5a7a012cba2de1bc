"""/api/models: start trainings, follow them, read results, download artifacts, cancel, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel

from cvat_bridge.api.deps import Id, ModelId, scalar_fields, services
from cvat_bridge.api.schemas import JobStatus, Timestamp, file_answer
from cvat_bridge.db import Model
from cvat_bridge.jobs.store import job_progress
from cvat_bridge.model_lookup import get_model
from cvat_bridge.services import Services
from cvat_bridge.storage import Storage
from cvat_bridge.training import (
    cancel_training,
    delete_model,
    list_models,
    resume_training,
    start_training,
    training_warnings,
)
from trainer.artifacts import ARTIFACTS
from trainer.config import TrainSettings

router = APIRouter(tags=["models"])


class TrainRequest(TrainSettings):
    """A training: the model's name, the collection, the architecture, and any settings."""

    name: str
    collection_id: Id
    architecture: str


class ModelFields(BaseModel):
    """What every answer about a model holds; status, progress and error are its training job's."""

    id: int
    name: str
    version: int
    architecture: str
    collection_id: int | None  # null once the collection is deleted
    status: JobStatus
    progress: dict[str, Any]  # "phase", "epoch", "epochs", "loss", "val_accuracy", ...
    metrics: dict[str, Any]  # see ARCHITECTURE.md, metrics.json
    classes: list[str]
    settings: dict[str, Any]  # the TrainSettings it trains with
    error: str | None
    job_id: str
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None


class ModelSummary(ModelFields):
    """A model in a list: its metrics and progress without their lists and tables (history, per-class
    figures, confusion matrices: GET /api/models/{id} has them), plus why it may not be useful."""

    warnings: list[str]  # metrics.warnings, so a list can flag the model


class ModelOut(ModelFields):
    """A model with its full metrics and progress, and the artifact files it has (downloadable by name)."""

    artifacts: list[str]


class CreatedModel(ModelOut):
    """A queued training, and what the user should know before it runs (it runs all the same)."""

    warnings: list[str]


def _fields(model: Model) -> dict[str, Any]:
    job = model.job
    return {
        "id": model.id,
        "name": model.name,
        "version": model.version,
        "architecture": model.architecture,
        "collection_id": model.collection_id,
        "status": job.status,
        "progress": job_progress(job),
        "metrics": model.metrics,
        "classes": list(model.classes),
        "settings": model.settings,
        "error": job.error,
        "job_id": job.id,
        "created_at": model.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


def model_summary(model: Model) -> ModelSummary:
    data = _fields(model)
    data["warnings"] = list((model.metrics or {}).get("warnings") or [])
    data["metrics"], data["progress"] = scalar_fields(data["metrics"]), scalar_fields(data["progress"])
    return ModelSummary.model_validate(data)


def model_out(model: Model, storage: Storage) -> ModelOut:
    folder = storage.model_dir(model.id)
    artifacts = [name for name in ARTIFACTS if (folder / name).is_file()]
    return ModelOut.model_validate({**_fields(model), "artifacts": artifacts})


@router.post("/models", status_code=202)
def create_model(request: TrainRequest, svc: Services = Depends(services)) -> CreatedModel:
    """Queue a training; the model is `queued` until a worker takes it."""
    model = start_training(
        svc,
        name=request.name,
        collection_id=request.collection_id,
        architecture=request.architecture,
        settings=request.model_dump(include=set(TrainSettings.model_fields)),
    )
    out = model_out(get_model(svc, model.id), svc.storage)
    return CreatedModel(**out.model_dump(), warnings=training_warnings(model))


@router.get("/models")
def read_models(svc: Services = Depends(services)) -> list[ModelSummary]:
    """Every model, newest first, as summaries."""
    return [model_summary(model) for model in list_models(svc)]


@router.get("/models/{model_id}")
def read_model(model_id: ModelId, svc: Services = Depends(services)) -> ModelOut:
    return model_out(get_model(svc, model_id), svc.storage)


@router.post("/models/{model_id}/cancel")
def cancel_model(model_id: ModelId, svc: Services = Depends(services)) -> ModelOut:
    return model_out(cancel_training(svc, model_id), svc.storage)


@router.post("/models/{model_id}/resume", status_code=202)
def resume_model(model_id: ModelId, svc: Services = Depends(services)) -> ModelOut:
    """Continue a cancelled or failed training from its last checkpoint (the same model version); 409 when it
    is queued, running or succeeded, or stopped before its first epoch ended."""
    return model_out(resume_training(svc, model_id), svc.storage)


@router.delete("/models/{model_id}", status_code=204, response_class=Response)
def remove_model(model_id: ModelId, svc: Services = Depends(services)) -> None:
    """Delete a model's rows and files; 409 while it trains or is deployed."""
    delete_model(svc, model_id)


_FILE_ANSWER = file_answer(
    "application/octet-stream", "the file (its media type: application/json, image/png or octet-stream)"
)


@router.get("/models/{model_id}/artifacts/{name}", response_class=FileResponse, responses=_FILE_ANSWER)
def download_artifact(model_id: ModelId, name: str, svc: Services = Depends(services)) -> FileResponse:
    """One artifact file by its name (model.onnx, weights.pt, metrics.json, ...); no other paths."""
    get_model(svc, model_id)
    if name not in ARTIFACTS:
        raise HTTPException(404, f"unknown artifact {name!r}; artifacts: {', '.join(ARTIFACTS)}")
    path = svc.storage.model_dir(model_id) / name
    if not path.is_file():
        raise HTTPException(404, f"model {model_id} has no {name} (yet)")
    return FileResponse(path, media_type=ARTIFACTS[name], filename=f"model-{model_id}-{name}")

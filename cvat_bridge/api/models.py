"""/api/models: start trainings, follow them, read results, download artifacts, cancel, delete."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Response
from fastapi.responses import FileResponse

from cvat_bridge.api.deps import Id, ModelId, scalar_fields, services
from cvat_bridge.db import Model
from cvat_bridge.jobs.store import job_progress
from cvat_bridge.services import Services
from cvat_bridge.storage import Storage
from cvat_bridge.training import (
    ModelBusy,
    ModelNotFound,
    ResumeRefused,
    TrainingRequestError,
    cancel_training,
    delete_model,
    get_model,
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


def model_summary(model: Model) -> dict[str, Any]:
    """A model in a list: its metrics and progress without their lists and tables (history, per-class
    figures, confusion matrices: GET /api/models/{id} has them), plus "warnings": why a model may not be
    useful (metrics.warnings), so a list can flag it."""
    data = model_to_dict(model)
    data["warnings"] = list((model.metrics or {}).get("warnings") or [])
    data["metrics"], data["progress"] = scalar_fields(model.metrics), scalar_fields(model.job.progress)
    return data


def model_to_dict(model: Model, storage: Storage | None = None) -> dict[str, Any]:
    """The public JSON of a model; status, progress and error are its training job's.

    With storage, "artifacts" lists the artifact files that exist (downloadable by name).
    """
    job = model.job

    def iso(moment: dt.datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    data = {
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
        "created_at": iso(model.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
    }
    if storage is not None:
        folder = storage.model_dir(model.id)
        data["artifacts"] = [name for name in ARTIFACTS if (folder / name).is_file()]
    return data


def _existing(svc: Services, model_id: int) -> Model:
    try:
        return get_model(svc, model_id)
    except ModelNotFound as exc:
        raise HTTPException(404, str(exc)) from None


@router.post("/models", status_code=202)
def create_model(request: TrainRequest, svc: Services = Depends(services)) -> dict[str, Any]:
    """Queue a training; the model is `queued` until a worker takes it."""
    try:
        model = start_training(
            svc,
            name=request.name,
            collection_id=request.collection_id,
            architecture=request.architecture,
            settings=request.model_dump(include=set(TrainSettings.model_fields)),
        )
    except TrainingRequestError as exc:
        raise HTTPException(422, str(exc)) from None
    return {**model_to_dict(get_model(svc, model.id), svc.storage), "warnings": training_warnings(model)}


@router.get("/models")
def read_models(svc: Services = Depends(services)) -> list[dict[str, Any]]:
    """Every model, newest first, as summaries (see ``model_summary``)."""
    return [model_summary(model) for model in list_models(svc)]


@router.get("/models/{model_id}")
def read_model(model_id: ModelId, svc: Services = Depends(services)) -> dict[str, Any]:
    return model_to_dict(_existing(svc, model_id), svc.storage)


@router.post("/models/{model_id}/cancel")
def cancel_model(model_id: ModelId, svc: Services = Depends(services)) -> dict[str, Any]:
    _existing(svc, model_id)
    return model_to_dict(cancel_training(svc, model_id), svc.storage)


@router.post("/models/{model_id}/resume", status_code=202)
def resume_model(model_id: ModelId, svc: Services = Depends(services)) -> dict[str, Any]:
    """Continue a cancelled or failed training from its last checkpoint (the same model version); 409 when it
    is queued, running or succeeded, or stopped before its first epoch ended."""
    _existing(svc, model_id)
    try:
        return model_to_dict(resume_training(svc, model_id), svc.storage)
    except ResumeRefused as exc:
        raise HTTPException(409, str(exc)) from None


@router.delete("/models/{model_id}", status_code=204)
def remove_model(model_id: ModelId, svc: Services = Depends(services)) -> Response:
    _existing(svc, model_id)
    try:
        delete_model(svc, model_id)
    except ModelBusy as exc:
        raise HTTPException(409, str(exc)) from None
    except ModelNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    return Response(status_code=204)


@router.get("/models/{model_id}/artifacts/{name}")
def download_artifact(model_id: ModelId, name: str, svc: Services = Depends(services)) -> FileResponse:
    """One artifact file by its name (model.onnx, weights.pt, metrics.json, ...); no other paths."""
    _existing(svc, model_id)
    if name not in ARTIFACTS:
        raise HTTPException(404, f"unknown artifact {name!r}; artifacts: {', '.join(ARTIFACTS)}")
    path = svc.storage.model_dir(model_id) / name
    if not path.is_file():
        raise HTTPException(404, f"model {model_id} has no {name} (yet)")
    return FileResponse(path, media_type=ARTIFACTS[name], filename=f"model-{model_id}-{name}")

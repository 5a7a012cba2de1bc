"""/api routes for CVAT: status, what can be imported, import a task/project, tag a task with a model."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field, model_validator

from cvat_bridge.api.deps import Id, ModelId, services
from cvat_bridge.api.jobs import existing_job, job_to_dict
from cvat_bridge.cvat import client as cvat
from cvat_bridge.jobs.queue import start_job
from cvat_bridge.limits import MAX_NAME_LENGTH
from cvat_bridge.services import Services
from cvat_bridge.serving import ModelNotFound, ModelNotReady
from cvat_bridge.serving.registry import check_model

router = APIRouter(tags=["cvat"])


class CvatImportRequest(BaseModel):
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    task_id: Id | None = None  # CVAT's ids are PostgreSQL INTEGERs too
    project_id: Id | None = None
    mode: Literal["single", "multi"] = "single"  # multi: frames with one or more tags

    @model_validator(mode="after")
    def one_source(self) -> CvatImportRequest:
        if (self.task_id is None) == (self.project_id is None):
            raise ValueError("give either task_id or project_id")
        return self


class AnnotateRequest(BaseModel):
    task_id: Id
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    overwrite: bool = False


def _cvat_call(svc: Services, check: str, fetch: Any) -> Any:
    """Connect to CVAT and run ``fetch(client)``; CVAT errors become JSON errors with their status."""
    try:
        with cvat.connect(svc.settings) as client:
            return cvat.call(check, lambda: fetch(client))
    except cvat.CvatError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.get("/cvat/status")
def cvat_status(svc: Services = Depends(services)) -> dict[str, Any]:
    return cvat.status(svc.settings)


@router.get("/cvat/tasks")
def cvat_tasks(svc: Services = Depends(services)) -> list[dict[str, Any]]:
    return _cvat_call(svc, "list tasks", cvat.list_tasks)


@router.get("/cvat/projects")
def cvat_projects(svc: Services = Depends(services)) -> list[dict[str, Any]]:
    return _cvat_call(svc, "list projects", cvat.list_projects)


@router.post("/collections/cvat", status_code=202)
def import_from_cvat(body: CvatImportRequest, svc: Services = Depends(services)) -> dict[str, Any]:
    """Start importing a CVAT task or project as a collection; the job's result holds ``collection_id``."""
    if body.task_id is not None:
        _cvat_call(svc, f"read task {body.task_id}", lambda c: c.tasks.retrieve(body.task_id))
    else:
        _cvat_call(svc, f"read project {body.project_id}", lambda c: c.projects.retrieve(body.project_id))
    job_id = start_job(svc, "cvat_import", body.model_dump(exclude_none=True))
    return job_to_dict(existing_job(job_id, svc))


@router.post("/models/{model_id}/annotate", status_code=202)
def annotate_task(
    model_id: ModelId, body: AnnotateRequest, svc: Services = Depends(services)
) -> dict[str, Any]:
    """Start tagging a CVAT task's frames with a trained model (job result: frames tagged, skipped...)."""
    try:
        check_model(svc, model_id)
    except ModelNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except ModelNotReady as exc:
        raise HTTPException(409, str(exc)) from None
    _cvat_call(svc, f"read task {body.task_id}", lambda c: c.tasks.retrieve(body.task_id))
    job_id = start_job(svc, "annotate", {"model_id": model_id, **body.model_dump()})
    return job_to_dict(existing_job(job_id, svc))

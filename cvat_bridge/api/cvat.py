"""/api routes for CVAT: status, what can be imported, import a task/project, tag a task with a model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar

from cvat_sdk import Client
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cvat_bridge.api.deps import Id, ModelId, services
from cvat_bridge.api.jobs import JobOut, existing_job, job_out
from cvat_bridge.cvat import client as cvat
from cvat_bridge.jobs.queue import start_job
from cvat_bridge.limits import MAX_NAME_LENGTH
from cvat_bridge.model_lookup import get_ready_model
from cvat_bridge.services import Services

T = TypeVar("T")

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


class CvatStatus(BaseModel):
    """Whether CVAT is configured and reachable, its version and the user the bridge acts as."""

    model_config = ConfigDict(extra="forbid")  # built from cvat.client's dicts: new keys are declared here

    configured: bool
    url: str | None  # credentials masked
    reachable: bool
    authenticated: bool
    version: str | None
    user: str | None
    detail: str | None  # what is wrong, when something is


class CvatTask(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int
    name: str
    size: int  # frames
    subset: str
    project_id: int | None
    media_type: str
    labels: list[str]  # the labels a whole-image tag can use


class CvatProject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int
    name: str
    tasks: int
    size: int  # frames of all its tasks
    labels: list[str]


def _cvat_call(svc: Services, check: str, fetch: Callable[[Client], T]) -> T:
    """Connect to CVAT and run ``fetch(client)`` (CVAT's errors are domain errors: api.errors answers)."""
    with cvat.connect(svc.settings) as client:
        return cvat.call(check, lambda: fetch(client))


@router.get("/cvat/status")
def cvat_status(svc: Services = Depends(services)) -> CvatStatus:
    return CvatStatus.model_validate(cvat.status(svc.settings))


@router.get("/cvat/tasks")
def cvat_tasks(svc: Services = Depends(services)) -> list[CvatTask]:
    return [CvatTask.model_validate(task) for task in _cvat_call(svc, "list tasks", cvat.list_tasks)]


@router.get("/cvat/projects")
def cvat_projects(svc: Services = Depends(services)) -> list[CvatProject]:
    projects = _cvat_call(svc, "list projects", cvat.list_projects)
    return [CvatProject.model_validate(project) for project in projects]


@router.post("/collections/cvat", status_code=202)
def import_from_cvat(body: CvatImportRequest, svc: Services = Depends(services)) -> JobOut:
    """Start importing a CVAT task or project as a collection; the job's result holds ``collection_id``."""
    if body.task_id is not None:
        _cvat_call(svc, f"read task {body.task_id}", lambda c: c.tasks.retrieve(body.task_id))
    else:
        _cvat_call(svc, f"read project {body.project_id}", lambda c: c.projects.retrieve(body.project_id))
    job_id = start_job(svc, "cvat_import", body.model_dump(exclude_none=True))
    return job_out(existing_job(job_id, svc))


@router.post("/models/{model_id}/annotate", status_code=202)
def annotate_task(model_id: ModelId, body: AnnotateRequest, svc: Services = Depends(services)) -> JobOut:
    """Start tagging a CVAT task's frames with a trained model (job result: frames tagged, skipped...)."""
    get_ready_model(svc, model_id)
    _cvat_call(svc, f"read task {body.task_id}", lambda c: c.tasks.retrieve(body.task_id))
    job_id = start_job(svc, "annotate", {"model_id": model_id, **body.model_dump()})
    return job_out(existing_job(job_id, svc))

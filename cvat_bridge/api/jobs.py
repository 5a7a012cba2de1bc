"""/api/jobs: the state of background jobs (training, CVAT import, tagging, deployment) and cancelling."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from cvat_bridge.api.deps import services
from cvat_bridge.api.schemas import JobStatus, Timestamp
from cvat_bridge.db import Job
from cvat_bridge.errors import NotFound
from cvat_bridge.jobs.store import get_job, job_progress, request_cancel
from cvat_bridge.services import Services

router = APIRouter(tags=["jobs"])


class JobOut(BaseModel):
    """A background job: what it was asked (``params``), how far it is, and its outcome."""

    id: str
    kind: str  # "train" | "cvat_import" | "annotate" | "deploy"
    status: JobStatus
    params: dict[str, Any]
    progress: dict[str, Any]  # "phase" is the final status once the job has finished
    result: dict[str, Any] | None
    error: str | None
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None


def job_out(job: Job) -> JobOut:
    return JobOut(
        id=job.id,
        kind=job.kind,
        status=job.status,
        params=job.params,
        progress=job_progress(job),
        result=job.result,
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def existing_job(job_id: str, svc: Services) -> Job:
    job = get_job(svc.db, job_id) if _is_uuid(job_id) else None  # job ids are UUIDs: others name nothing
    if job is None:
        raise NotFound(f"no job with id {job_id}")
    return job


@router.get("/jobs/{job_id}")
def read_job(job_id: str, svc: Services = Depends(services)) -> JobOut:
    return job_out(existing_job(job_id, svc))


@router.post("/jobs/{job_id}/cancel")
def cancel_job(job_id: str, svc: Services = Depends(services)) -> JobOut:
    """Cancel a queued job at once; ask a running one to stop (it stops at its next check)."""
    existing_job(job_id, svc)
    request_cancel(svc.db, job_id)
    return job_out(existing_job(job_id, svc))


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True

"""/api/jobs: the state of background jobs (training, CVAT import, tagging, deployment) and cancelling."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from cvat_bridge.api.deps import services
from cvat_bridge.db import Job
from cvat_bridge.jobs.store import get_job, job_progress, request_cancel
from cvat_bridge.services import Services

router = APIRouter(tags=["jobs"])


def job_to_dict(job: Job) -> dict[str, Any]:
    def iso(moment: dt.datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "params": job.params,
        "progress": job_progress(job),
        "result": job.result,
        "error": job.error,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
    }


def existing_job(job_id: str, svc: Services) -> Job:
    job = get_job(svc.db, job_id) if _is_uuid(job_id) else None  # job ids are UUIDs: others name nothing
    if job is None:
        raise HTTPException(404, f"no job with id {job_id}")
    return job


@router.get("/jobs/{job_id}")
def read_job(job_id: str, svc: Services = Depends(services)) -> dict[str, Any]:
    return job_to_dict(existing_job(job_id, svc))


@router.post("/jobs/{job_id}/cancel")
def cancel_job(job_id: str, svc: Services = Depends(services)) -> dict[str, Any]:
    existing_job(job_id, svc)
    request_cancel(svc.db, job_id)
    return job_to_dict(existing_job(job_id, svc))


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True

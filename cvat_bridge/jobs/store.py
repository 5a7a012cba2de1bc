"""Job rows: create, read, cancel, finish, and reap the ones whose worker died."""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from typing import Any

from sqlalchemy import select, update

from cvat_bridge.db import Database, Job, utcnow

TERMINAL_STATES = ("succeeded", "failed", "cancelled")


def job_progress(job: Job) -> dict[str, Any]:
    """The progress users see: once the job has finished, its phase is the final status (the handler's last
    phase, e.g. "exporting", must not outlive the job)."""
    progress = dict(job.progress or {})
    if job.status in TERMINAL_STATES:
        progress["phase"] = job.status
    return progress


def worker_id(pid: int) -> str:
    """How a job row names the process running it: host:pid."""
    return f"{socket.gethostname()}:{pid}"


def current_worker_id() -> str:
    """This process's worker id (recomputed: forked job processes have their own pid)."""
    return worker_id(os.getpid())


def create_job(db: Database, kind: str, params: dict[str, Any]) -> str:
    job_id = str(uuid.uuid4())
    with db.session() as session:
        session.add(Job(id=job_id, kind=kind, params=params, progress={}))
    return job_id


def get_job(db: Database, job_id: str) -> Job | None:
    with db.session() as session:
        return session.get(Job, job_id)


def request_cancel(db: Database, job_id: str) -> str | None:
    """Cancel a queued job at once, ask a running one to stop. Returns the job's status after that."""
    with db.session() as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "queued")
            .values(status="cancelled", finished_at=utcnow(), error="cancelled before it started")
        )
        session.execute(
            update(Job).where(Job.id == job_id, Job.status == "running").values(cancel_requested=True)
        )
        job = session.get(Job, job_id)
        return job.status if job else None


def requeue_job(db: Database, job_id: str, params: dict[str, Any]) -> bool:
    """Queue a failed or cancelled job again (same row) with new params; False if it was in another state."""
    with db.session() as session:
        return bool(
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status.in_(("failed", "cancelled")))
                .values(
                    status="queued",
                    params=params,
                    progress={},
                    result=None,
                    error=None,
                    cancel_requested=False,
                    worker=None,
                    started_at=None,
                    finished_at=None,
                    heartbeat_at=None,
                )
            ).rowcount
        )


def claim_job(db: Database, job_id: str) -> Job | None:
    """Mark a queued job running for this process; None if another worker has it or it was cancelled."""
    now = utcnow()
    with db.session() as session:
        claimed = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "queued")
            .values(status="running", started_at=now, heartbeat_at=now, worker=current_worker_id())
        ).rowcount
        return session.get(Job, job_id) if claimed else None


def finish_job(
    db: Database, job_id: str, status: str, result: dict[str, Any] | None = None, error: str | None = None
) -> None:
    with db.session() as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "running")
            .values(status=status, result=result, error=error, finished_at=utcnow())
        )


def fail_jobs_of_workers(db: Database, workers: list[str], reason: str) -> None:
    """Fail the running jobs of the given (stopped) workers."""
    if not workers:
        return
    with db.session() as session:
        session.execute(
            update(Job)
            .where(Job.status == "running", Job.worker.in_(workers))
            .values(status="failed", error=reason, finished_at=utcnow())
        )


def reap_stale_jobs(db: Database, stale_after_seconds: float) -> list[str]:
    """Fail running jobs whose worker stopped sending heartbeats or (on this host) no longer exists."""
    now = utcnow()
    host = socket.gethostname()
    reaped = []
    with db.session() as session:
        for job in session.scalars(select(Job).where(Job.status == "running")):
            heartbeat = _aware(job.heartbeat_at or job.started_at or job.created_at)
            worker_host, _, pid = (job.worker or "").rpartition(":")
            dead_here = worker_host == host and pid.isdigit() and not _pid_alive(int(pid))
            silent = (now - heartbeat).total_seconds() > stale_after_seconds
            if dead_here or silent:
                job.status = "failed"
                job.finished_at = now
                job.error = (
                    f"worker {job.worker} was lost (no heartbeat since "
                    f"{heartbeat.isoformat(timespec='seconds')}); start the job again"
                )
                reaped.append(job.id)
    return reaped


def queued_job_ids(db: Database) -> list[str]:
    with db.session() as session:
        return list(session.scalars(select(Job.id).where(Job.status == "queued").order_by(Job.created_at)))


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; ours are all UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) still answers kill(0); it is dead all the same.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True

"""Job rows: create, read, cancel, finish, and reap the ones whose worker died."""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

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
    """Mark a queued job running for this process; None if another worker has it or it was cancelled.

    The claim gets a fresh token (`Job.claim_token`): every later write of the claimant is conditional on
    it, so a worker that was reaped (frozen, cut off) and wakes up cannot write over the job's outcome.
    """
    now = utcnow()
    with db.session() as session:
        claimed = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "queued")
            .values(
                status="running",
                started_at=now,
                heartbeat_at=now,
                worker=current_worker_id(),
                claim_token=uuid.uuid4().hex,
            )
        ).rowcount
        return session.get(Job, job_id) if claimed else None


def beat(session: Session, job_id: str, token: str) -> bool:
    """Stamp the heartbeat of a claimed job; False if the claim was lost (reaped, finished by another)."""
    return bool(
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "running", Job.claim_token == token)
            .values(heartbeat_at=utcnow())
        ).rowcount
    )


def finish_job(
    db: Database,
    job_id: str,
    status: str,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    token: str | None = None,
) -> bool:
    """Record a running job's outcome (only under the claim `token` when given); False if not recorded."""
    condition = [Job.id == job_id, Job.status == "running"]
    if token is not None:
        condition.append(Job.claim_token == token)
    with db.session() as session:
        return bool(
            session.execute(
                update(Job)
                .where(*condition)
                .values(status=status, result=result, error=error, finished_at=utcnow())
            ).rowcount
        )


def fail_unfinished_job(db: Database, job_id: str, reason: str) -> None:
    """Fail a job that is queued or running, whoever has it (its queue or worker is gone)."""
    with db.session() as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status.in_(("queued", "running")))
            .values(status="failed", error=reason, finished_at=utcnow())
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
        running = session.execute(
            select(
                Job.id, Job.worker, Job.claim_token, Job.heartbeat_at, Job.started_at, Job.created_at
            ).where(Job.status == "running")
        ).all()
    for job_id, worker, token, heartbeat_at, started_at, created_at in running:
        heartbeat = heartbeat_at or started_at or created_at
        worker_host, _, pid = (worker or "").rpartition(":")
        dead_here = worker_host == host and pid.isdigit() and not _pid_alive(int(pid))
        if not dead_here and (now - heartbeat).total_seconds() <= stale_after_seconds:
            continue
        # Conditional: a beat that came in since the read keeps a silent job alive.
        condition = [Job.id == job_id, Job.status == "running"]
        if token is not None:
            condition.append(Job.claim_token == token)
        if not dead_here:
            cutoff = now - dt.timedelta(seconds=stale_after_seconds)
            condition.append(or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < cutoff))
        with db.session() as session:
            changed = session.execute(
                update(Job)
                .where(*condition)
                .values(
                    status="failed",
                    finished_at=now,
                    error=f"worker {worker} was lost (no heartbeat since "
                    f"{heartbeat.isoformat(timespec='seconds')}); start the job again",
                )
            ).rowcount
        if changed:
            reaped.append(job_id)
    return reaped


def queued_jobs(db: Database) -> list[tuple[str, str]]:
    """(id, kind) of every queued job, oldest first (submission order)."""
    with db.session() as session:
        rows = session.execute(
            select(Job.id, Job.kind).where(Job.status == "queued").order_by(Job.created_at)
        )
        return [(job_id, kind) for job_id, kind in rows]


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

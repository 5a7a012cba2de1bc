"""Run one job in a worker process: claim it, keep its heartbeat, call its handler, record the outcome."""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import update

from cvat_bridge.db import Job, utcnow
from cvat_bridge.jobs.store import claim_job, finish_job
from cvat_bridge.services import Services, get_services

log = logging.getLogger(__name__)

# Job kind -> "module:function" taking a JobContext and returning a JSON-able result (imported lazily, so
# the API process never imports torch).
HANDLERS: dict[str, str] = {
    "train": "cvat_bridge.training:run_training_job",
    "cvat_import": "cvat_bridge.cvat.importer:run_import_job",
    "annotate": "cvat_bridge.cvat.annotate:run_annotate_job",
    "deploy": "cvat_bridge.functions.deploy:run_deploy_job",
}


class JobCancelled(Exception):
    """Raised inside a handler when the user cancelled its job."""


class JobError(Exception):
    """A failure whose message is meant for the user as it is (no traceback, no exception name)."""


class JobContext:
    """What a handler gets: its parameters, the services, progress reporting and cancellation."""

    def __init__(self, services: Services, job: Job) -> None:
        self.services = services
        self.job_id = job.id
        self.params: dict[str, Any] = dict(job.params)
        self._progress: dict[str, Any] = dict(job.progress or {})
        self._last_cancel_check = 0.0
        self._cancelled = False

    def report(self, **fields: Any) -> None:
        """Merge fields into the job's progress (e.g. epoch, loss, eta_seconds)."""
        self._progress.update(fields)
        with self.services.db.session() as session:
            session.execute(update(Job).where(Job.id == self.job_id).values(progress=dict(self._progress)))

    def cancelled(self) -> bool:
        """Whether the user asked to stop (read from the database at most once a second)."""
        now = time.monotonic()
        if not self._cancelled and now - self._last_cancel_check >= 1.0:
            self._last_cancel_check = now
            with self.services.db.session() as session:
                self._cancelled = bool(session.get(Job, self.job_id, populate_existing=True).cancel_requested)
        return self._cancelled

    def check_cancelled(self) -> None:
        if self.cancelled():
            raise JobCancelled()


def run_job(job_id: str) -> None:
    """Entry point of every worker (embedded pool or RQ): run the job unless someone else has it."""
    services = get_services()
    job = claim_job(services.db, job_id)
    if job is None:
        return
    context = JobContext(services, job)
    log.info("job %s (%s) started", job_id, job.kind)
    with _Heartbeat(services, job_id):
        try:
            result = _handler(job.kind)(context)
        except JobCancelled:
            finish_job(services.db, job_id, "cancelled", error="cancelled by the user")
            log.info("job %s (%s) cancelled", job_id, job.kind)
        except JobError as exc:
            finish_job(services.db, job_id, "failed", error=str(exc))
            log.warning("job %s (%s) failed: %s", job_id, job.kind, exc)
        except Exception as exc:  # noqa: BLE001 - any failure must reach the user, not kill the worker
            log.exception("job %s (%s) failed", job_id, job.kind)
            finish_job(services.db, job_id, "failed", error=f"{type(exc).__name__}: {exc}")
        else:
            finish_job(services.db, job_id, "succeeded", result=result)
            log.info("job %s (%s) succeeded: %s", job_id, job.kind, result)


def _handler(kind: str) -> Callable[[JobContext], Any]:
    if kind not in HANDLERS:
        raise JobError(f"unknown job kind {kind!r}; this worker runs {', '.join(sorted(HANDLERS))}")
    module_name, _, function_name = HANDLERS[kind].partition(":")
    return getattr(importlib.import_module(module_name), function_name)


class _Heartbeat:
    """Stamps the job's heartbeat from a thread while the job runs, so a dead worker can be told apart."""

    def __init__(self, services: Services, job_id: str) -> None:
        self._services = services
        self._job_id = job_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        interval = self._services.settings.job_heartbeat_seconds
        while not self._stop.wait(interval):
            try:
                with self._services.db.session() as session:
                    session.execute(update(Job).where(Job.id == self._job_id).values(heartbeat_at=utcnow()))
            except Exception:  # noqa: BLE001 - a missed beat is not fatal; the next one may pass
                log.warning("heartbeat of job %s failed", self._job_id, exc_info=True)

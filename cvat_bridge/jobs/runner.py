"""Run one job in a worker process: claim it, keep its heartbeat, call its handler, record the outcome."""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from cvat_bridge.db import Job
from cvat_bridge.jobs.store import beat, claim_job, finish_job
from cvat_bridge.services import Services, get_services
from cvat_bridge.storage import is_disk_full

log = logging.getLogger(__name__)

# Job kind -> "module:function" taking a JobContext and returning a JSON-able result (imported lazily, so
# the API process never imports torch).
HANDLERS: dict[str, str] = {
    "train": "cvat_bridge.training:run_training_job",
    "cvat_import": "cvat_bridge.cvat.importer:run_import_job",
    "annotate": "cvat_bridge.cvat.annotate:run_annotate_job",
    "deploy": "cvat_bridge.functions.deploy:run_deploy_job",
    **{
        f"loop_{step}": f"cvat_bridge.loops.steps:run_{step}_job"
        for step in ("round", "check", "retrain", "compare")
    },
}


class JobCancelled(Exception):
    """Raised inside a handler when the user cancelled its job."""


class JobError(Exception):
    """A failure whose message is meant for the user as it is (no traceback, no exception name)."""


class ClaimLost(Exception):
    """This worker no longer holds the job (it was reaped while the worker was frozen or cut off): stop, and
    write nothing more."""


class JobContext:
    """What a handler gets: its parameters, the services, progress reporting, cancellation and the claim."""

    def __init__(self, services: Services, job: Job) -> None:
        self.services = services
        self.job_id = job.id
        self.params: dict[str, Any] = dict(job.params)
        self._token: str = job.claim_token
        self._progress: dict[str, Any] = dict(job.progress or {})
        self._last_cancel_check = 0.0
        self._cancelled = False
        self.claim_lost = threading.Event()  # set by the heartbeat when its conditional stamp finds no claim

    def report(self, **fields: Any) -> None:
        """Merge fields into the job's progress (e.g. epoch, loss, eta_seconds)."""
        self._progress.update(fields)
        with self.claimed_session() as session:
            session.execute(update(Job).where(Job.id == self.job_id).values(progress=dict(self._progress)))

    @contextmanager
    def claimed_session(self) -> Iterator[Session]:
        """A transaction that commits only while this worker holds the job (for progress and final results);
        raises ClaimLost otherwise. It stamps the heartbeat first, so the reaper cannot fail the job between
        the check and the commit."""
        self.check_claim()
        with self.services.db.session() as session:
            if not beat(session, self.job_id, self._token):
                self.claim_lost.set()
                raise ClaimLost(f"job {self.job_id} is no longer this worker's")
            yield session

    def check_claim(self) -> None:
        """Raise ClaimLost if the heartbeat found the claim gone (no database round trip)."""
        if self.claim_lost.is_set():
            raise ClaimLost(f"job {self.job_id} is no longer this worker's")

    def confirm_claim(self) -> None:
        """Ask the database whether this worker still holds the job (before writing results); ClaimLost if
        not. A worker that wakes from a freeze finds out here even before its heartbeat thread runs."""
        with self.claimed_session():
            pass

    def cancelled(self) -> bool:
        """Whether the user asked to stop (read from the database at most once a second)."""
        now = time.monotonic()
        if not self._cancelled and now - self._last_cancel_check >= 1.0:
            self._last_cancel_check = now
            with self.services.db.session() as session:
                self._cancelled = bool(session.get(Job, self.job_id, populate_existing=True).cancel_requested)
        return self._cancelled

    def check_cancelled(self) -> None:
        """Raise JobCancelled if the user cancelled, ClaimLost if the job is no longer this worker's."""
        self.check_claim()
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
    with _Heartbeat(context):
        try:
            status, result, error = "succeeded", _handler(job.kind)(context), None
        except ClaimLost:
            log.warning("job %s: this worker lost its claim (reaped); stopped, nothing more written", job_id)
            return
        except JobCancelled:
            status, result, error = "cancelled", None, "cancelled by the user"
        except JobError as exc:
            status, result, error = "failed", None, str(exc)
        except Exception as exc:  # noqa: BLE001 - any failure must reach the user, not kill the worker
            log.exception("job %s (%s) failed", job_id, job.kind)
            status, result, error = "failed", None, describe_failure(exc)
        if not finish_job(services.db, job_id, status, result=result, error=error, token=job.claim_token):
            log.warning("job %s: not recorded as %s, this worker no longer holds it", job_id, status)
        elif error:
            log.warning("job %s (%s) %s: %s", job_id, job.kind, status, error)
        else:
            log.info("job %s (%s) succeeded: %s", job_id, job.kind, result)


def describe_failure(exc: Exception) -> str:
    """An unexpected failure as the user sees it; a full disk says so and where."""
    if is_disk_full(exc):
        where = f" while writing {exc.filename}" if getattr(exc, "filename", None) else ""
        return f"no space left on device{where}; free some space in the data dir and start the job again"
    return f"{type(exc).__name__}: {exc}"


def _handler(kind: str) -> Callable[[JobContext], Any]:
    if kind not in HANDLERS:
        raise JobError(f"unknown job kind {kind!r}; this worker runs {', '.join(sorted(HANDLERS))}")
    module_name, _, function_name = HANDLERS[kind].partition(":")
    return getattr(importlib.import_module(module_name), function_name)


class _Heartbeat:
    """Stamps the job's heartbeat from a thread while the job runs, so a dead worker can be told apart; a
    stamp that finds the claim gone sets `context.claim_lost` (the handler stops at its next check)."""

    def __init__(self, context: JobContext) -> None:
        self._context = context
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{context.job_id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        context = self._context
        while not self._stop.wait(context.services.settings.job_heartbeat_seconds):
            try:
                with context.services.db.session() as session:
                    held = beat(session, context.job_id, context._token)
            except Exception:  # noqa: BLE001 - a missed beat is not fatal; the next one may pass
                log.warning("heartbeat of job %s failed", context.job_id, exc_info=True)
                continue
            if not held:
                log.warning("job %s was taken from this worker (reaped); stopping it", context.job_id)
                context.claim_lost.set()
                return

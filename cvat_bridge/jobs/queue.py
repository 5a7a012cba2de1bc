"""Where jobs go: the service's own worker process (embedded), or Redis for `cvat-bridge worker`s (RQ)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, Protocol

from cvat_bridge.errors import Unavailable
from cvat_bridge.jobs.lifeline import die_with_parent
from cvat_bridge.jobs.store import (
    TERMINAL_STATES,
    create_job,
    fail_jobs_of_workers,
    fail_unfinished_job,
    get_job,
    queued_jobs,
    reap_stale_jobs,
    worker_id,
)
from cvat_bridge.settings import LOG_FORMAT

if TYPE_CHECKING:
    from cvat_bridge.services import Services

log = logging.getLogger(__name__)
# RQ queues: training (GPU work) apart from everything else, so CPU-only workers can leave it alone.
QUEUES = ("train", "default")
QUEUE_OF_KIND = {"train": "train"}
# RQ states of a job that will still run (anything else, or no RQ job at all, means it is lost).
RQ_PENDING = ("queued", "started", "deferred", "scheduled")


class QueueUnavailable(Unavailable):
    """The job queue (Redis) cannot be reached; the job was failed with this message."""

    retry_after_seconds = 30


def rq_queue_name(queue: str) -> str:
    return f"cvat-bridge:{queue}"


class JobQueue(Protocol):
    def submit(self, job_id: str) -> None: ...

    def requeue_lost(self) -> None: ...

    def close(self) -> None: ...


def make_queue(services: Services) -> JobQueue:
    if services.settings.redis_url:
        return RedisQueue(services)
    return EmbeddedQueue(services)


def start_job(services: Services, kind: str, params: dict[str, Any]) -> str:
    """Record a job and hand it to the queue; returns its id (QueueUnavailable: the job is failed)."""
    job_id = create_job(services.db, kind, params)
    services.jobs.submit(job_id)
    return job_id


def recover_jobs(services: Services) -> None:
    """Fail jobs whose worker died, and queue again what is recorded queued but is in no queue."""
    reap_stale_jobs(services.db, services.settings.job_stale_after_seconds)
    try:
        services.jobs.requeue_lost()
    except QueueUnavailable as exc:
        log.warning("cannot queue waiting jobs again yet: %s", exc)


def reap_lost_jobs_forever(services: Services, stop: threading.Event) -> None:
    """Until stop is set, recover_jobs every heartbeat interval (the API and every worker run this)."""
    while not stop.wait(services.settings.job_heartbeat_seconds):
        try:
            recover_jobs(services)
        except Exception:  # noqa: BLE001 - the database may be briefly away; try again next beat
            log.warning("could not check for lost jobs", exc_info=True)


def _init_worker(settings: Any, handlers: dict[str, str], log_level: int, parent: int) -> None:
    from cvat_bridge.jobs import runner
    from cvat_bridge.services import Services, set_services

    die_with_parent(parent)
    logging.basicConfig(level=log_level, format=LOG_FORMAT)  # a spawned process starts unconfigured
    set_services(Services(settings))
    runner.HANDLERS.update(handlers)  # the queuing process's handler table is the one that counts


class EmbeddedQueue:
    """One worker process beside the API; a dispatcher thread hands it the queued jobs one at a time, oldest
    first. The database is the queue: a job recorded `queued` runs here even if its submit was lost (a
    restart, a crash). A worker process that dies fails its job; a fresh one takes the next job."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ProcessPoolExecutor | None = None

    def submit(self, job_id: str) -> None:
        self.requeue_lost()

    def requeue_lost(self) -> None:
        """Wake the dispatcher (started on first use): it runs every queued job in order."""
        with self._lock:
            if self._thread is None:
                self._stop = threading.Event()
                self._thread = threading.Thread(
                    target=self._dispatch, args=(self._stop,), name="embedded-jobs", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def _dispatch(self, stop: threading.Event) -> None:
        poll = self._services.settings.job_heartbeat_seconds
        while not stop.is_set():
            self._wake.clear()
            try:
                waiting = queued_jobs(self._services.db)
            except Exception:  # noqa: BLE001 - the database may be briefly away
                log.warning("could not read the queued jobs", exc_info=True)
                waiting = []
            if not waiting:
                self._wake.wait(poll)
                continue
            self._run(waiting[0][0], stop)

    def _run(self, job_id: str, stop: threading.Event) -> None:
        from cvat_bridge.jobs.runner import run_job

        reason = None
        try:
            self._wait(self._executor(stop).submit(run_job, job_id), job_id)
        except BrokenProcessPool:
            if stop.is_set():
                return  # close() records the outcome of what it interrupts
            with self._lock:
                self._pool = None  # the next job gets a fresh worker process
            reason = "the worker process died while running the job"
        except Exception as exc:  # noqa: BLE001 - e.g. the database was away when the worker claimed it
            if stop.is_set():
                return
            log.error("job %s: worker error %r", job_id, exc)
            reason = f"the worker could not run the job: {type(exc).__name__}: {exc}"
        if reason is not None:
            fail_unfinished_job(self._services.db, job_id, reason)

    def _wait(self, future: Future, job_id: str) -> None:
        """The job's outcome; a worker still busy long after its job was failed (reaped: frozen, hung) is
        killed, so the jobs behind it run."""
        settings = self._services.settings
        reaped_at = None
        while True:
            try:
                return future.result(timeout=settings.job_heartbeat_seconds)
            except FutureTimeout:
                if reaped_at is None and self._finished(job_id):
                    reaped_at = time.monotonic()
                if reaped_at is not None and time.monotonic() - reaped_at > settings.job_stale_after_seconds:
                    log.warning("job %s was failed, its worker still holds it: killing the worker", job_id)
                    with self._lock:
                        processes = list(self._pool._processes.values()) if self._pool else []
                    for process in processes:
                        process.kill()

    def _finished(self, job_id: str) -> bool:
        try:
            return get_job(self._services.db, job_id).status in TERMINAL_STATES
        except Exception:  # noqa: BLE001 - the database may be briefly away: ask again next time
            return False

    def _executor(self, stop: threading.Event) -> ProcessPoolExecutor:
        from cvat_bridge.jobs.runner import HANDLERS

        with self._lock:
            if stop.is_set():
                raise BrokenProcessPool("the queue is closing")
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_init_worker,
                    initargs=(
                        self._services.settings,
                        dict(HANDLERS),
                        logging.getLogger().getEffectiveLevel(),
                        os.getpid(),
                    ),
                )
            return self._pool

    def close(self) -> None:
        """Stop the worker now: a running job is failed with a reason (queued ones run at the next start)."""
        with self._lock:
            pool, self._pool = self._pool, None
            thread, self._thread = self._thread, None
            self._stop.set()
        self._wake.set()
        if pool is not None:
            processes = list(pool._processes.values())  # no public handle; shutdown() alone waits for the job
            pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.terminate()
            for process in processes:
                process.join(timeout=10)
            fail_jobs_of_workers(
                self._services.db,
                [worker_id(process.pid) for process in processes],
                "the service stopped while the job ran; start it again",
            )
        if thread is not None:
            thread.join(timeout=10)


class RedisQueue:
    """RQ queues on Redis; any number of `cvat-bridge worker` processes take their jobs."""

    def __init__(self, services: Services) -> None:
        from redis import Redis

        self._services = services
        # Bounded waits: a request must not hang on an unreachable Redis.
        self._connection = Redis.from_url(
            services.settings.redis_url, socket_connect_timeout=5, socket_timeout=10
        )

    def submit(self, job_id: str) -> None:
        """Enqueue a recorded job; if Redis is unreachable, fail the job and raise QueueUnavailable."""
        from redis.exceptions import RedisError

        job = get_job(self._services.db, job_id)
        try:
            self._enqueue(job_id, job.kind)
        except RedisError as exc:
            message = f"the job queue (Redis) is unreachable, so the job could not be queued: {exc}"
            fail_unfinished_job(self._services.db, job_id, f"{message}; start it again when Redis is back")
            raise QueueUnavailable(f"{message}; try again when Redis is back") from None

    def _enqueue(self, job_id: str, kind: str) -> None:
        from rq import Queue

        Queue(rq_queue_name(QUEUE_OF_KIND.get(kind, "default")), connection=self._connection).enqueue(
            "cvat_bridge.jobs.runner.run_job", job_id, job_id=job_id, job_timeout=-1, result_ttl=3600
        )

    def requeue_lost(self) -> None:
        """Enqueue again every job recorded queued that Redis does not hold (lost with a Redis restart, or
        never enqueued because the submitting process died); a duplicate is harmless (claims are atomic)."""
        from redis.exceptions import RedisError
        from rq.exceptions import NoSuchJobError
        from rq.job import Job as RQJob

        try:
            for job_id, kind in queued_jobs(self._services.db):
                try:
                    pending = RQJob.fetch(job_id, connection=self._connection).get_status() in RQ_PENDING
                except NoSuchJobError:
                    pending = False
                if not pending:
                    log.info("job %s was in no queue; queuing it again", job_id)
                    self._enqueue(job_id, kind)
        except RedisError as exc:
            raise QueueUnavailable(f"the job queue (Redis) is unreachable: {exc}") from None

    def close(self) -> None:
        self._connection.close()

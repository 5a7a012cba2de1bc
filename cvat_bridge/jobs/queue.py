"""Where jobs go: the service's own worker process (embedded), or Redis for `cvat-bridge worker`s (RQ)."""

from __future__ import annotations

import logging
import multiprocessing
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, Protocol

from cvat_bridge.jobs.store import (
    create_job,
    fail_jobs_of_workers,
    finish_job,
    get_job,
    queued_job_ids,
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


def rq_queue_name(queue: str) -> str:
    return f"cvat-bridge:{queue}"


class JobQueue(Protocol):
    def submit(self, job_id: str) -> None: ...

    def close(self) -> None: ...


def make_queue(services: Services) -> JobQueue:
    if services.settings.redis_url:
        return RedisQueue(services)
    return EmbeddedQueue(services)


def start_job(services: Services, kind: str, params: dict[str, Any]) -> str:
    """Record a job and hand it to the queue; returns its id."""
    job_id = create_job(services.db, kind, params)
    services.jobs.submit(job_id)
    return job_id


def recover_jobs(services: Services) -> None:
    """At start-up: fail jobs whose worker died, and (embedded) queue again what was waiting."""
    reap_stale_jobs(services.db, services.settings.job_stale_after_seconds)
    if isinstance(services.jobs, EmbeddedQueue):
        for job_id in queued_job_ids(services.db):
            services.jobs.submit(job_id)


def reap_lost_jobs_forever(services: Services, stop: threading.Event) -> None:
    """Until stop is set, fail running jobs whose worker went silent (API and every worker run this)."""
    settings = services.settings
    while not stop.wait(settings.job_heartbeat_seconds):
        try:
            reap_stale_jobs(services.db, settings.job_stale_after_seconds)
        except Exception:  # noqa: BLE001 - the database may be briefly away; try again next beat
            log.warning("could not check for lost jobs", exc_info=True)


def _init_worker(settings: Any, handlers: dict[str, str], log_level: int) -> None:
    from cvat_bridge.jobs import runner
    from cvat_bridge.services import Services, set_services

    logging.basicConfig(level=log_level, format=LOG_FORMAT)  # a spawned process starts unconfigured
    set_services(Services(settings))
    runner.HANDLERS.update(handlers)  # the queuing process's registry is the one that counts


class EmbeddedQueue:
    """One worker process beside the API, jobs run one at a time in submission order."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._closing = False

    def _executor(self) -> ProcessPoolExecutor:
        from cvat_bridge.jobs.runner import HANDLERS

        if self._pool is None:
            self._closing = False
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self._services.settings, dict(HANDLERS), logging.getLogger().getEffectiveLevel()),
            )
        return self._pool

    def submit(self, job_id: str) -> None:
        from cvat_bridge.jobs.runner import run_job

        with self._lock:
            future = self._executor().submit(run_job, job_id)
        future.add_done_callback(lambda done: self._after(job_id, done))

    def _after(self, job_id: str, future: Future) -> None:
        error = None if future.cancelled() else future.exception()
        if error is None or self._closing:  # close() records the outcome of what it interrupts
            return
        if isinstance(error, BrokenProcessPool):
            finish_job(
                self._services.db, job_id, "failed", error="the worker process died while running the job"
            )
            with self._lock:
                self._pool = None  # the next submit starts a fresh worker
        else:
            log.error("job %s: worker error %r", job_id, error)

    def close(self) -> None:
        """Stop the worker now: a running job is failed with a reason (queued ones run at the next start)."""
        with self._lock:
            pool, self._pool = self._pool, None
            self._closing = True
        if pool is None:
            return
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


class RedisQueue:
    """RQ queues on Redis; any number of `cvat-bridge worker` processes take their jobs."""

    def __init__(self, services: Services) -> None:
        from redis import Redis

        self._services = services
        self._connection = Redis.from_url(services.settings.redis_url)

    def submit(self, job_id: str) -> None:
        from rq import Queue

        job = get_job(self._services.db, job_id)
        queue = QUEUE_OF_KIND.get(job.kind, "default")
        Queue(rq_queue_name(queue), connection=self._connection).enqueue(
            "cvat_bridge.jobs.runner.run_job", job_id, job_id=job_id, job_timeout=-1, result_ttl=3600
        )

    def close(self) -> None:
        self._connection.close()

"""`cvat-bridge worker`: an RQ worker for Redis-queued jobs, which also fails jobs of dead workers and
queues again jobs that Redis lost."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from rq import Worker

from cvat_bridge.jobs.lifeline import die_with_parent
from cvat_bridge.jobs.queue import QUEUES, reap_lost_jobs_forever, recover_jobs, rq_queue_name
from cvat_bridge.masking import mask_url
from cvat_bridge.services import Services


class WorkerStartError(RuntimeError):
    """The worker cannot start (message for the operator)."""


class LifelineWorker(Worker):
    """An RQ worker whose work horse (the forked process that runs a job) dies with it."""

    def fork_work_horse(self, job: Any, queue: Any) -> None:
        self._parent_pid = os.getpid()
        super().fork_work_horse(job, queue)

    def main_work_horse(self, job: Any, queue: Any) -> None:
        die_with_parent(self._parent_pid)
        super().main_work_horse(job, queue)


def run_worker(services: Services, queues: Sequence[str] = QUEUES, burst: bool = False) -> None:
    """Work on the given queues ("train", "default") until stopped (or, with burst, until they are empty)."""
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError
    from rq import Queue

    settings = services.settings
    if not settings.redis_url:
        raise WorkerStartError(
            "cvat-bridge worker needs CVAT_BRIDGE_REDIS_URL (e.g. redis://localhost:6379/0)"
        )
    connection = Redis.from_url(settings.redis_url)
    try:
        connection.ping()
    except RedisConnectionError as exc:
        raise WorkerStartError(f"cannot reach Redis at {mask_url(settings.redis_url)}: {exc}") from exc
    services.storage.sweep_staging(settings.staging_max_age_seconds)
    recover_jobs(services)
    stop = threading.Event()
    reaper = threading.Thread(target=reap_lost_jobs_forever, args=(services, stop), daemon=True)
    reaper.start()
    try:
        rq_queues = [Queue(rq_queue_name(name), connection=connection) for name in queues]
        LifelineWorker(rq_queues, connection=connection).work(burst=burst)
    finally:
        stop.set()

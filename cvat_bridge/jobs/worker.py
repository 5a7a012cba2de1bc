"""`cvat-bridge worker`: an RQ worker for Redis-queued jobs, which also fails jobs of dead workers."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from cvat_bridge.jobs.queue import QUEUES, reap_lost_jobs_forever, rq_queue_name
from cvat_bridge.masking import mask_url
from cvat_bridge.services import Services


class WorkerStartError(RuntimeError):
    """The worker cannot start (message for the operator)."""


def run_worker(services: Services, queues: Sequence[str] = QUEUES, burst: bool = False) -> None:
    """Work on the given queues ("train", "default") until stopped (or, with burst, until they are empty)."""
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError
    from rq import Queue, Worker

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
    stop = threading.Event()
    reaper = threading.Thread(target=reap_lost_jobs_forever, args=(services, stop), daemon=True)
    reaper.start()
    try:
        rq_queues = [Queue(rq_queue_name(name), connection=connection) for name in queues]
        Worker(rq_queues, connection=connection).work(burst=burst)
    finally:
        stop.set()

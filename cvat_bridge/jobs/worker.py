"""`cvat-bridge worker`: an RQ worker for Redis-queued jobs, which also fails jobs of dead workers."""

from __future__ import annotations

import threading

from cvat_bridge.jobs.queue import RQ_QUEUE_NAME, reap_lost_jobs_forever
from cvat_bridge.services import Services


def run_worker(services: Services, burst: bool = False) -> None:
    from redis import Redis
    from rq import Queue, Worker

    settings = services.settings
    if not settings.redis_url:
        raise SystemExit("cvat-bridge worker needs CVAT_BRIDGE_REDIS_URL (e.g. redis://localhost:6379/0)")
    stop = threading.Event()
    reaper = threading.Thread(target=reap_lost_jobs_forever, args=(services, stop), daemon=True)
    reaper.start()
    connection = Redis.from_url(settings.redis_url)
    try:
        Worker([Queue(RQ_QUEUE_NAME, connection=connection)], connection=connection).work(burst=burst)
    finally:
        stop.set()

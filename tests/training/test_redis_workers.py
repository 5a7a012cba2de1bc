"""Distributed jobs: `cvat-bridge worker` processes on the real Redis share the data dir and PostgreSQL.

Every job runs once even when delivered twice, and a worker killed mid-job leaves its job failed with a
reason (found by the surviving worker), never "running".
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from cvat_bridge.jobs.store import TERMINAL_STATES
from cvat_bridge.services import Services, set_services
from cvat_bridge.training import get_model, start_training
from tests.conftest import make_settings
from tests.helpers.models import TINY_SETTINGS, make_color_collection
from tests.helpers.workers import start_worker, stop_worker

REDIS = "redis://127.0.0.1:6379"
pytestmark = pytest.mark.slow


def _free_redis_db() -> int:
    for index in range(15, 0, -1):
        if Redis.from_url(f"{REDIS}/{index}").dbsize() == 0:
            return index
    raise RuntimeError("no empty Redis database")


@pytest.fixture
def cluster(
    tmp_path: Path, postgres_url: str
) -> Iterator[tuple[Services, list[subprocess.Popen], list[Path]]]:
    """Services queueing to Redis, and two worker processes (own sessions, logs in tmp_path)."""
    redis_url = f"{REDIS}/{_free_redis_db()}"
    settings = make_settings(tmp_path / "data", database_url=postgres_url, redis_url=redis_url)
    services = Services(settings)
    set_services(services)
    logs = [tmp_path / f"worker-{i}.log" for i in range(2)]
    workers = [start_worker(settings, log) for log in logs]
    try:
        yield services, workers, logs
    finally:
        for worker in workers:
            stop_worker(worker)
        Redis.from_url(redis_url).flushdb()
        services.jobs.close()
        services.db.dispose()
        set_services(None)


def _wait(services: Services, model_id: int, done, timeout: float = 240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        model = get_model(services, model_id)
        if done(model):
            return model
        time.sleep(0.3)
    raise AssertionError(f"model {model_id}: {model.job.status} {model.job.progress} {model.job.error}")


def test_two_workers_run_every_job_once_and_a_killed_worker_fails_its_job(cluster) -> None:
    services, workers, logs = cluster
    collection_id = make_color_collection(services, per_class=4)
    settings = {**TINY_SETTINGS, "epochs": 1}
    models = [
        start_training(
            services,
            name=f"queued-{i}",
            collection_id=collection_id,
            architecture="resnet18",
            settings=settings,
        )
        for i in range(4)
    ]
    for model in models:
        services.jobs.submit(model.job_id)  # delivered twice: the second delivery must not run it again

    finished = [_wait(services, m.id, lambda m: m.job.status in TERMINAL_STATES) for m in models]
    assert [m.job.status for m in finished] == ["succeeded"] * 4, [m.job.error for m in finished]
    assert all(len(m.metrics["history"]) == 1 for m in finished)
    texts = [log.read_text() for log in logs]
    for model in models:  # each job was delivered twice, to either worker, yet ran once (claimed once)
        assert sum(text.count(model.job_id) for text in texts) >= 2
    assert all(any(m.job_id in text for m in models) for text in texts), "both workers took jobs"

    # A long job; kill the worker running it (the RQ worker and its work horse) with SIGKILL.
    doomed = start_training(
        services,
        name="doomed",
        collection_id=collection_id,
        architecture="resnet18",
        settings={**settings, "epochs": 500, "batch_size": 2},
    )
    running = _wait(services, doomed.id, lambda m: m.job.status == "running" and m.job.progress.get("epoch"))
    horse_pid = int(running.job.worker.rpartition(":")[2])
    parent_pid = int(Path(f"/proc/{horse_pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    victim = next(w for w in workers if w.pid == parent_pid)
    os.killpg(victim.pid, signal.SIGKILL)
    os.kill(horse_pid, signal.SIGKILL)  # RQ runs the job in a forked "work horse" of its own session
    victim.wait(timeout=10)

    failed = _wait(services, doomed.id, lambda m: m.job.status != "running", timeout=60)
    assert failed.job.status == "failed"
    assert "was lost" in failed.job.error and running.job.worker in failed.job.error
    survivor = next(w for w in workers if w is not victim)
    assert survivor.poll() is None  # the other worker is still serving

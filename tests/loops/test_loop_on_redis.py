"""A loop whose steps run in a `cvat-bridge worker` on the real Redis (PostgreSQL shared): round 1 is scored
and its review task created by the worker, the review check, the re-import with the retraining, and the
comparison all run there, and the round ends done, as with the embedded queue."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis import Redis

from cvat_bridge.loops import steps, store
from cvat_bridge.services import Services, set_services
from tests.conftest import make_settings
from tests.cvat.conftest import frames
from tests.helpers.models import train_tiny_model
from tests.helpers.workers import start_worker, stop_worker
from tests.loops.conftest import CLASSES, settled_jobs
from tests.standins.cvat import CvatStandin
from tests.training.test_redis_workers import REDIS, _free_redis_db

pytestmark = pytest.mark.slow
LOOP_STEPS = ("loop_round", "loop_check", "loop_retrain", "loop_compare")


@pytest.fixture
def redis_bridge(
    tmp_path: Path, postgres_url: str
) -> Iterator[tuple[Services, CvatStandin, subprocess.Popen]]:
    """Services queueing to Redis next to a CVAT stand-in, and one worker process (its log in tmp_path)."""
    redis_url = f"{REDIS}/{_free_redis_db()}"
    with CvatStandin() as cvat:
        settings = make_settings(
            tmp_path / "data",
            database_url=postgres_url,
            redis_url=redis_url,
            cvat_url=cvat.url,
            cvat_access_token=cvat.access_token,
        )
        services = Services(settings)
        set_services(services)
        worker = start_worker(settings, tmp_path / "worker.log")
        try:
            yield services, cvat, worker
        finally:
            stop_worker(worker)
            Redis.from_url(redis_url).flushdb()
            services.jobs.close()
            services.db.dispose()
            set_services(None)


def _until(services: Services, round_id: int, state: str, timeout: float = 240) -> None:
    """Wait for the round's state, running what `serve`'s poller runs (``advance``) meanwhile."""
    deadline = time.monotonic() + timeout
    while (row := store.get_round(services, round_id)).state != state:
        assert row.state != "failed" and time.monotonic() < deadline, (row.state, row.decision)
        steps.advance(services)
        time.sleep(0.3)


def test_a_round_runs_its_steps_in_a_redis_worker(redis_bridge) -> None:
    services, cvat, worker = redis_bridge
    model_id = train_tiny_model(services, classes=CLASSES, name="tiny", epochs=1)  # in this process
    truth = [CLASSES[i % 3] for i in range(24)]
    project = cvat.add_project("redis-project", list(CLASSES))
    cvat.add_task("frames", frames(truth, seed=5), project_id=project, tags={i: [truth[i]] for i in range(9)})
    loop = steps.start_loop(
        services, name="redis-loop", model_id=model_id, project_id=project, budget=4, auto_deploy=False
    )
    row = store.find_round(services, loop.id, 1)
    _until(services, row.id, "reviewing")
    row = store.get_round(services, row.id)
    assert len(row.selected) == 4 and row.review_task_id in cvat.tasks

    headers = {"Authorization": f"Bearer {cvat.access_token}"}
    job = f"{cvat.url}/api/jobs/{row.review_job_id}"
    for state in ("in progress", "completed"):  # the reviewer keeps the guesses and completes the job
        httpx.patch(job, json={"state": state}, headers=headers, timeout=30).raise_for_status()
    steps.start_check(services, row.id)
    _until(services, row.id, "done")
    row = store.get_round(services, row.id)
    assert row.reviewed == 4 and row.compared_on and row.new_model_id is not None
    assert row.decision.startswith("not deployed") and row.deployed_model_id is None  # auto_deploy off

    jobs = settled_jobs(services, LOOP_STEPS, row.id)  # round 2 is queued already: not these
    assert {job.kind for job in jobs} == set(LOOP_STEPS)
    assert all(job.status == "succeeded" for job in jobs), [(j.kind, j.status, j.error) for j in jobs]
    here = f":{os.getpid()}"
    assert all(job.worker and not job.worker.endswith(here) for job in jobs)  # run by the worker process
    assert worker.poll() is None

"""The job machinery: embedded worker process, outcomes, cancel, dead workers, restart recovery, RQ."""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cvat_bridge.api.app import create_app
from cvat_bridge.db import Job
from cvat_bridge.jobs import runner
from cvat_bridge.jobs.queue import start_job
from cvat_bridge.jobs.store import create_job, get_job, reap_stale_jobs
from cvat_bridge.services import Services
from tests.conftest import API_TOKEN

TEST_HANDLERS = {
    "echo": "tests.helpers.jobs:echo",
    "fail": "tests.helpers.jobs:fail",
    "crash": "tests.helpers.jobs:crash",
    "wait_for_cancel": "tests.helpers.jobs:wait_for_cancel",
}


@pytest.fixture(autouse=True)
def test_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "HANDLERS", {**runner.HANDLERS, **TEST_HANDLERS})


def wait_for(services: Services, job_id: str, statuses: tuple[str, ...], timeout: float = 60) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = get_job(services.db, job_id)
        if job.status in statuses:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job.status}, wanted {statuses}")


def wait_for_file(path: Path, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} never written")


def test_job_runs_in_a_worker_process_and_reports(services: Services) -> None:
    job_id = start_job(services, "echo", {"value": 42})
    job = wait_for(services, job_id, ("succeeded", "failed"))
    assert job.status == "succeeded", job.error
    assert job.result["echo"] == 42
    assert job.result["pid"] != os.getpid()
    assert job.progress == {"step": 1, "steps": 1}
    assert job.started_at is not None and job.finished_at is not None


def test_failures_are_recorded_with_their_message(services: Services) -> None:
    expected = start_job(services, "fail", {"message": "collection 7 has no images"})
    unexpected = start_job(services, "crash", {})
    assert wait_for(services, expected, ("failed",)).error == "collection 7 has no images"
    assert wait_for(services, unexpected, ("failed",)).error == "RuntimeError: unexpected"


def test_cancel_stops_a_running_job_and_drops_a_queued_one(client: TestClient, services: Services, tmp_path):
    pid_file = tmp_path / "pid"
    running = start_job(services, "wait_for_cancel", {"pid_file": str(pid_file)})
    queued = start_job(services, "echo", {"value": 1})
    wait_for_file(pid_file)
    assert client.post(f"/api/jobs/{queued}/cancel").json()["status"] == "cancelled"
    assert client.post(f"/api/jobs/{running}/cancel").status_code == 200
    assert wait_for(services, running, ("cancelled", "failed")).status == "cancelled"
    time.sleep(0.5)  # the worker is free now: the cancelled queued job must not run
    job = get_job(services.db, queued)
    assert job.status == "cancelled" and job.result is None


def test_a_killed_worker_fails_its_job_and_the_next_job_still_runs(services: Services, tmp_path) -> None:
    pid_file = tmp_path / "pid"
    doomed = start_job(services, "wait_for_cancel", {"pid_file": str(pid_file)})
    os.kill(int(wait_for_file(pid_file)), signal.SIGKILL)
    job = wait_for(services, doomed, ("failed", "succeeded", "cancelled"))
    assert job.status == "failed" and "died" in job.error
    after = start_job(services, "echo", {"value": "again"})
    assert wait_for(services, after, ("succeeded", "failed")).result["echo"] == "again"


def test_silent_running_jobs_are_reaped(services: Services) -> None:
    job_id = create_job(services.db, "echo", {"value": 1})
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    with services.db.session() as session:
        job = session.get(Job, job_id)
        job.status, job.worker, job.started_at, job.heartbeat_at = (
            "running",
            "gpu-box:4242",
            long_ago,
            long_ago,
        )
    assert reap_stale_jobs(services.db, stale_after_seconds=60) == [job_id]
    job = get_job(services.db, job_id)
    assert job.status == "failed" and "gpu-box:4242" in job.error and "lost" in job.error


def test_restart_runs_jobs_left_queued(services: Services) -> None:
    job_id = create_job(services.db, "echo", {"value": "from before the restart"})  # queued, never submitted
    with TestClient(create_app(services), headers={"Authorization": f"Bearer {API_TOKEN}"}):
        assert wait_for(services, job_id, ("succeeded", "failed")).result["echo"] == "from before the restart"


@pytest.fixture
def redis_services(tmp_path) -> Iterator[Services]:
    from redis import Redis

    from cvat_bridge.services import set_services
    from tests.conftest import make_settings

    redis_url = "redis://127.0.0.1:6379/14"
    Redis.from_url(redis_url).flushdb()
    services = Services(make_settings(tmp_path / "data", redis_url=redis_url))
    set_services(services)
    yield services
    services.jobs.close()
    set_services(None)


def test_redis_queue_runs_each_job_once(redis_services: Services) -> None:
    from cvat_bridge.jobs.worker import run_worker

    jobs = [start_job(redis_services, "echo", {"value": n}) for n in range(3)]
    run_worker(redis_services, burst=True)  # forks a work-horse per job, like `cvat-bridge worker`
    done = [get_job(redis_services.db, job_id) for job_id in jobs]
    assert [job.status for job in done] == ["succeeded"] * 3
    assert [job.result["echo"] for job in done] == [0, 1, 2]
    run_worker(redis_services, burst=True)  # nothing left: each job ran once
    again = [get_job(redis_services.db, job_id) for job_id in jobs]
    assert [job.finished_at for job in again] == [job.finished_at for job in done]


def test_training_jobs_wait_for_a_worker_of_the_train_queue(
    redis_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cvat_bridge.jobs.worker import run_worker

    monkeypatch.setitem(runner.HANDLERS, "train", TEST_HANDLERS["echo"])
    training = start_job(redis_services, "train", {"value": "gpu work"})
    other = start_job(redis_services, "echo", {"value": "cpu work"})
    run_worker(redis_services, queues=("default",), burst=True)  # a CPU-only worker
    assert get_job(redis_services.db, other).status == "succeeded"
    assert get_job(redis_services.db, training).status == "queued"
    run_worker(redis_services, queues=("train",), burst=True)
    assert get_job(redis_services.db, training).result["echo"] == "gpu work"


def test_unknown_job_kinds_fail_with_a_clear_message(services: Services) -> None:
    job = wait_for(services, start_job(services, "no-such-kind", {}), ("failed", "succeeded"))
    assert job.status == "failed" and job.error.startswith("unknown job kind 'no-such-kind'")


def test_stopping_the_service_stops_a_running_job_at_once(services: Services, tmp_path) -> None:
    pid_file = tmp_path / "pid"
    job_id = start_job(services, "wait_for_cancel", {"pid_file": str(pid_file)})
    wait_for_file(pid_file)
    started = time.monotonic()
    services.jobs.close()
    assert time.monotonic() - started < 15  # the job would run for 60 s
    job = get_job(services.db, job_id)
    assert job.status == "failed" and "service stopped" in job.error

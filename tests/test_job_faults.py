"""Jobs under faults: a dead embedded worker, Redis away at submit and after a restart, a frozen worker that
wakes after being reaped, `kill -9` of the service, two processes starting on a fresh data dir."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cvat_bridge.api.app import create_app
from cvat_bridge.db import Job, Model
from cvat_bridge.jobs import runner
from cvat_bridge.jobs.queue import start_job
from cvat_bridge.jobs.store import get_job, reap_stale_jobs
from cvat_bridge.services import Services, set_services
from tests.conftest import API_TOKEN, make_settings
from tests.helpers.jobs import FINISHED
from tests.helpers.models import TINY_SETTINGS, make_color_collection, train_tiny_model
from tests.helpers.processes import (
    RedisServer,
    Service,
    bridge_env,
    descendants,
    pid_alive,
    start_bridge,
    wait_until,
)
from tests.standins.cvat import CvatStandin
from tests.standins.nuclio import NuclioStandin
from tests.test_jobs import TEST_HANDLERS, wait_for, wait_for_file


@pytest.fixture(autouse=True)
def test_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "HANDLERS", {**runner.HANDLERS, **TEST_HANDLERS})


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def test_jobs_queued_behind_a_dead_worker_run_in_order(services: Services, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    doomed = start_job(services, "wait_for_cancel", {"pid_file": str(pid_file)})
    waiting = [start_job(services, "echo", {"value": n}) for n in (1, 2)]
    os.kill(int(wait_for_file(pid_file)), signal.SIGKILL)
    first = wait_for(services, doomed, FINISHED)
    assert first.status == "failed" and "worker process died" in first.error
    done = [wait_for(services, job_id, FINISHED, timeout=120) for job_id in waiting]
    assert [job.status for job in done] == ["succeeded", "succeeded"], [job.error for job in done]
    assert [job.result["echo"] for job in done] == [1, 2]
    assert done[0].finished_at <= done[1].started_at  # one at a time, in submission order
    assert done[0].result["pid"] != int(pid_file.read_text())  # a fresh worker process


def test_starting_a_job_while_redis_is_down_answers_503_and_strands_nothing(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    with NuclioStandin() as nuclio, CvatStandin() as cvat:
        task_id = cvat.add_task("frames", [], labels=["red"])
        settings = make_settings(
            tmp_path / "data",
            redis_url=redis_server.url,
            cvat_url=cvat.url,
            cvat_access_token=cvat.access_token,
            nuclio_url=nuclio.url,
            public_url="http://bridge.example",
        )
        services = Services(settings)
        set_services(services)
        model_id = train_tiny_model(services, epochs=1)  # runs in this process: no queue needed
        collection_id = get_job(services.db, services_model(services, model_id).job_id).params[
            "collection_id"
        ]
        redis_server.stop()
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        with TestClient(create_app(services), headers=headers) as client:
            answers = {
                "train": client.post(
                    "/api/models",
                    json={"name": "while-down", "collection_id": collection_id, "architecture": "resnet18"},
                ),
                "cvat_import": client.post("/api/collections/cvat", json={"name": "c", "task_id": task_id}),
                "annotate": client.post(f"/api/models/{model_id}/annotate", json={"task_id": task_id}),
                "deploy": client.post(f"/api/models/{model_id}/deployment"),
            }
            for kind, answer in answers.items():
                assert answer.status_code == 503, (kind, answer.text)
                assert "Redis" in answer.json()["detail"] and "unreachable" in answer.json()["detail"], kind
            with services.db.session() as session:
                jobs = {
                    job.kind: job for job in session.scalars(select(Job).where(Job.status != "succeeded"))
                }
            assert set(jobs) == set(answers)
            for job in jobs.values():
                assert job.status == "failed" and "Redis" in job.error, (job.kind, job.status, job.error)
            models = client.get("/api/models").json()
            assert [m["status"] for m in models if m["name"] == "while-down"] == ["failed"]
            assert client.get(f"/api/models/{model_id}/deployment").json()["state"] == "error"
            redis_server.start()  # back: the same request is queued now
            assert (
                client.post(f"/api/models/{model_id}/annotate", json={"task_id": task_id}).status_code == 202
            )
        services.jobs.close()
        set_services(None)


def services_model(services: Services, model_id: int) -> Model:
    with services.db.session() as session:
        return session.get(Model, model_id)


def test_jobs_redis_lost_are_queued_again_when_a_worker_starts(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    from cvat_bridge.jobs.worker import run_worker

    services = Services(make_settings(tmp_path / "data", redis_url=redis_server.url))
    set_services(services)
    try:
        jobs = [start_job(services, "echo", {"value": n}) for n in range(2)]
        redis_server.stop()  # no persistence: the queue is gone with it
        redis_server.start()
        run_worker(services, burst=True)
        done = [get_job(services.db, job_id) for job_id in jobs]
        assert [job.status for job in done] == ["succeeded", "succeeded"], [job.error for job in done]
        assert [job.result["echo"] for job in done] == [0, 1]
    finally:
        services.jobs.close()
        set_services(None)

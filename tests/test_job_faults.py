"""Jobs under faults: a dead embedded worker, Redis away at submit and after a restart, a frozen worker that
wakes after being reaped, `kill -9` of the service
(two processes starting on a fresh data dir: tests/test_fresh_start.py)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cvat_bridge.api.app import create_app
from cvat_bridge.db import Job, Model
from cvat_bridge.jobs import runner
from cvat_bridge.jobs.queue import start_job
from cvat_bridge.jobs.store import get_job, reap_stale_jobs
from cvat_bridge.services import Services, set_services
from cvat_bridge.training import start_training
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


def model_files(folder: Path) -> dict[str, tuple[int, int]]:
    """name -> (size, mtime in ns) of every file in a model folder."""
    return {path.name: (path.stat().st_size, path.stat().st_mtime_ns) for path in folder.iterdir()}


def freeze_outside_a_write(pid: int, sqlite_file: Path) -> None:
    """SIGSTOP pid at a moment it holds no SQLite write lock (frozen inside a write, it would block every
    writer of the database, the reaper too, until it wakes)."""
    for _attempt in range(50):
        os.kill(pid, signal.SIGSTOP)
        probe = sqlite3.connect(sqlite_file, timeout=0.5)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.rollback()
            return
        except sqlite3.OperationalError:
            os.kill(pid, signal.SIGCONT)
            time.sleep(0.05)
        finally:
            probe.close()
    raise AssertionError(f"process {pid} was always inside a write")


def test_a_worker_frozen_past_the_stale_limit_writes_nothing_after_it_wakes(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    timing = {"job_heartbeat_seconds": 0.5, "job_stale_after_seconds": 4}
    services = Services(make_settings(tmp_path / "data", redis_url=redis_server.url, **timing))
    set_services(services)
    worker = start_bridge(
        ["worker"],
        bridge_env(tmp_path / "data", redis_url=redis_server.url, api_token=API_TOKEN, **timing),
        tmp_path / "worker.log",
    )
    try:
        collection_id = make_color_collection(services)
        model = start_training(
            services,
            name="frozen",
            collection_id=collection_id,
            architecture="resnet18",
            settings={**TINY_SETTINGS, "epochs": 200, "num_workers": 0},
        )
        folder = services.storage.model_dir(model.id)
        wait_until(lambda: (folder / "checkpoint.pt").exists(), 180, "training never wrote a checkpoint")
        horse = int(get_job(services.db, model.job_id).worker.rpartition(":")[2])
        freeze_outside_a_write(horse, services.settings.data_dir / "cvat-bridge.sqlite3")
        try:
            wait_until(
                lambda: get_job(services.db, model.job_id).status == "failed",
                30,
                "the frozen worker's job was never reaped",
            )
            before = model_files(folder)
        finally:
            os.kill(horse, signal.SIGCONT)
        wait_until(lambda: not pid_alive(horse), 60, "the woken worker did not stop")
        job = get_job(services.db, model.job_id)
        assert job.status == "failed" and "lost" in job.error
        assert model_files(folder) == before  # not one file written or replaced after the reaping
        assert not (folder / "metrics.json").exists() and services_model(services, model.id).metrics == {}
        assert worker.poll() is None  # the worker itself lives on for the next job
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        services.jobs.close()
        set_services(None)


def test_killing_the_service_kills_its_worker_and_data_loaders(tmp_path: Path) -> None:
    services = Services(make_settings(tmp_path / "data"))
    set_services(services)
    collection_id = make_color_collection(services)
    try:
        with Service(tmp_path / "data", API_TOKEN, tmp_path / "serve.log") as service:
            settings = {**TINY_SETTINGS, "epochs": 200, "num_workers": 2}
            answer = service.client.post(
                "/api/models",
                json={
                    "name": "orphan",
                    "collection_id": collection_id,
                    "architecture": "resnet18",
                    **settings,
                },
            )
            assert answer.status_code == 202, answer.text
            model = answer.json()
            folder = services.storage.model_dir(model["id"])
            wait_until(lambda: (folder / "checkpoint.pt").exists(), 180, "training never wrote a checkpoint")
            worker = int(get_job(services.db, model["job_id"]).worker.rpartition(":")[2])
            wait_until(lambda: len(descendants(worker)) >= 2, 60, "no data loader processes seen")
            left_behind = descendants(service.process.pid)
            assert worker in left_behind
            service.kill()  # kill -9 of `cvat-bridge serve` alone
            wait_until(
                lambda: not any(pid_alive(pid) for pid in left_behind),
                10,
                f"still alive after the service was killed: {[p for p in left_behind if pid_alive(p)]}",
            )
    finally:
        set_services(None)


STAGE_AND_WAIT = """
import sys, time
from cvat_bridge.services import Services
from cvat_bridge.settings import Settings
folder = Services(Settings()).storage.new_staging_dir("upload-")
(folder / "upload.zip").write_bytes(b"x" * 1_000_000)
print(folder, flush=True)
time.sleep(120)
"""


def test_staging_left_by_a_dead_process_is_swept_at_start_and_a_live_one_kept(tmp_path: Path) -> None:
    env = bridge_env(tmp_path / "data")
    stagers = [
        subprocess.Popen([sys.executable, "-c", STAGE_AND_WAIT], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        crashed, live = (Path(process.stdout.readline().strip()) for process in stagers)
        assert crashed.is_dir() and live.is_dir()
        stagers[0].kill()  # a crash mid-upload: its staged files stay behind
        stagers[0].wait()
        services = Services(make_settings(tmp_path / "data"))
        with TestClient(create_app(services)):  # the service starts: it sweeps staging
            pass
        assert not crashed.exists()
        assert (live / "upload.zip").stat().st_size == 1_000_000  # still being uploaded by a live process
    finally:
        for process in stagers:
            process.kill()
            process.wait()
        set_services(None)


def test_jobs_behind_a_frozen_embedded_worker_run_once_it_is_reaped(tmp_path: Path) -> None:
    services = Services(make_settings(tmp_path / "data", job_stale_after_seconds=3))
    set_services(services)
    pid_file = tmp_path / "pid"
    try:
        frozen = start_job(services, "wait_for_cancel", {"pid_file": str(pid_file)})
        behind = start_job(services, "echo", {"value": "behind"})
        pid = int(wait_for_file(pid_file))
        freeze_outside_a_write(pid, services.settings.data_dir / "cvat-bridge.sqlite3")
        try:
            wait_until(lambda: reap_stale_jobs(services.db, 3), 30, "the frozen job was never reaped")
            assert wait_for(services, behind, FINISHED, timeout=60).result["echo"] == "behind"
            assert not pid_alive(pid)  # killed, not left frozen
            assert "lost" in get_job(services.db, frozen).error
        finally:
            if pid_alive(pid):
                os.kill(pid, signal.SIGCONT)
    finally:
        services.jobs.close()
        set_services(None)

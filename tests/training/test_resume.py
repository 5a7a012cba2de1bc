"""Resuming a cancelled training from its checkpoint.pt: POST /api/models/{id or name}/resume; refusals."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient
from redis import Redis

from cvat_bridge.jobs.store import TERMINAL_STATES
from cvat_bridge.services import Services, set_services
from cvat_bridge.training import cancel_training, create_training, get_model, resume_training, start_training
from tests.conftest import make_settings
from tests.helpers.images import class_image, image_bytes
from tests.helpers.models import TINY_SETTINGS, make_color_collection
from tests.helpers.workers import start_worker, stop_worker
from tests.training.test_api import wait_for

# Short epochs (batch of 2 at 96 px), and enough of them that a cancel asked in epoch 2 lands before the
# last one even on a fast, quiet machine (progress reports come at most once a second).
SLOW_EPOCHS = {**TINY_SETTINGS, "epochs": 6, "batch_size": 2, "image_size": 96}
ALL_EPOCHS = list(range(1, SLOW_EPOCHS["epochs"] + 1))


def finished(model: dict) -> bool:
    return model["status"] in ("succeeded", "failed", "cancelled")


def test_a_training_cancelled_in_epoch_2_resumes_to_the_end_and_serves(
    client: TestClient, services: Services
) -> None:
    collection_id = make_color_collection(services, per_class=10)
    request = {"collection_id": collection_id, "architecture": "resnet18", **SLOW_EPOCHS}
    whole = client.post("/api/models", json={**request, "name": "uninterrupted"}).json()
    whole = wait_for(client, whole["id"], finished, timeout=300)
    assert whole["status"] == "succeeded", whole["error"]

    started = client.post("/api/models", json={**request, "name": "interrupted"}).json()
    wait_for(client, started["id"], lambda m: m["progress"].get("epoch") == 2 or finished(m), timeout=300)
    assert client.post("/api/models/interrupted/cancel").status_code == 200  # by name
    cancelled = wait_for(client, started["id"], finished)
    assert cancelled["status"] == "cancelled", cancelled["error"]
    model_dir = services.storage.model_dir(started["id"])
    checkpoint = torch.load(model_dir / "checkpoint.pt", weights_only=True)
    assert 1 <= checkpoint["epoch"] < SLOW_EPOCHS["epochs"]  # it stopped part-way
    kept_history = checkpoint["history"]

    answer = client.post("/api/models/interrupted/resume")
    assert answer.status_code == 202, answer.text
    assert answer.json()["id"] == started["id"] and answer.json()["version"] == 1  # the same model version
    assert answer.json()["status"] in ("queued", "running")
    again = client.post(f"/api/models/{started['id']}/resume")
    assert again.status_code == 409  # already queued or running
    resumed = wait_for(client, started["id"], finished, timeout=300)
    assert resumed["status"] == "succeeded", resumed["error"]

    history = resumed["metrics"]["history"]
    assert len(history) == len(whole["metrics"]["history"]) == SLOW_EPOCHS["epochs"]
    assert [entry["epoch"] for entry in history] == ALL_EPOCHS
    assert history[: len(kept_history)] == kept_history  # the epochs before the cancel are kept as they were
    assert resumed["metrics"]["epochs_run"] == SLOW_EPOCHS["epochs"]
    assert client.get("/api/models").json()[0]["id"] == started["id"]  # no new model row

    image = image_bytes(class_image("red", 4242, size=(96, 96)))
    predicted = client.post(
        "/api/models/interrupted/predict", files=[("file", ("red.jpg", image, "image/jpeg"))]
    )
    assert predicted.status_code == 200, predicted.text
    assert predicted.json()["predictions"][0]["label"] in ("blue", "green", "red")

    done_again = client.post(f"/api/models/{started['id']}/resume")
    assert done_again.status_code == 409 and "succeeded" in done_again.json()["detail"]


def test_resume_is_refused_without_a_checkpoint_or_model(client: TestClient, services: Services) -> None:
    collection_id = make_color_collection(services, per_class=4)
    model = create_training(
        services, name="never-ran", collection_id=collection_id, architecture="resnet18", settings={}
    )
    cancel_training(services, model.id)  # cancelled while queued: no epoch, no checkpoint
    refused = client.post(f"/api/models/{model.id}/resume")
    assert refused.status_code == 409 and "no checkpoint.pt" in refused.json()["detail"]
    assert client.post("/api/models/no-such-model/resume").status_code == 404
    assert client.post("/api/models/424242/resume").status_code == 404


REDIS_URL = "redis://127.0.0.1:6379/6"  # this test's own Redis database


@pytest.mark.slow
def test_resume_through_a_redis_worker(tmp_path: Path, postgres_url: str) -> None:
    """The re-queued job (same id) is delivered again by RQ and a `cvat-bridge worker` finishes it."""
    Redis.from_url(REDIS_URL).flushdb()
    settings = make_settings(tmp_path / "data", database_url=postgres_url, redis_url=REDIS_URL)
    services = Services(settings)
    set_services(services)
    log = tmp_path / "worker.log"
    worker = start_worker(settings, log)
    try:
        collection_id = make_color_collection(services, per_class=10)
        model = start_training(
            services, name="rq", collection_id=collection_id, architecture="resnet18", settings=SLOW_EPOCHS
        )
        checkpoint = services.storage.model_dir(model.id) / "checkpoint.pt"
        wait_until(lambda: checkpoint.exists() or get_model(services, model.id).job.status in TERMINAL_STATES)
        cancel_training(services, model.id)
        wait_until(lambda: get_model(services, model.id).job.status in TERMINAL_STATES)
        assert get_model(services, model.id).job.status == "cancelled", log.read_text()

        resume_training(services, model.id)
        wait_until(lambda: get_model(services, model.id).job.status in TERMINAL_STATES)
        final = get_model(services, model.id)
        assert final.job.status == "succeeded", (final.job.error, log.read_text())
        assert [entry["epoch"] for entry in final.metrics["history"]] == ALL_EPOCHS
    finally:
        stop_worker(worker)
        Redis.from_url(REDIS_URL).flushdb()
        services.db.dispose()
        set_services(None)


def wait_until(condition: Callable[[], bool], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)

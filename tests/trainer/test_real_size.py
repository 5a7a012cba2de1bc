"""Training at a realistic size through the README's default paths: `cvat-bridge serve` on its embedded
defaults, and `cvat-bridge worker` on Redis. 1,500 small images: the training split is large enough for the
data loader to use worker processes (trainer.data.AUTO_WORKERS_FROM), as every real collection does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cvat_bridge.services import Services, set_services
from cvat_bridge.training import get_model, start_training
from tests.conftest import API_TOKEN, make_settings
from tests.helpers.images import PALETTE, write_class_folders, zip_tree
from tests.helpers.models import make_color_collection
from tests.standins import free_port
from trainer.data import AUTO_WORKERS_FROM

pytestmark = pytest.mark.slow
PER_CLASS = 300  # x 5 classes = 1,500 images, 1,050 of them for training
CLASSES = tuple(PALETTE)[:5]
# Every setting at its default but these: one short epoch at a small size, no weights download.
SETTINGS = {"epochs": 1, "image_size": 32, "pretrained": False}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[httpx.Client]:
    """`cvat-bridge serve` in a process of its own (embedded queue, SQLite), as the README starts it."""
    port = free_port()
    env = {
        **os.environ,
        "CVAT_BRIDGE_DATA_DIR": str(tmp_path / "data"),
        "CVAT_BRIDGE_API_TOKEN": API_TOKEN,
        "CVAT_BRIDGE_WEIGHTS_DOWNLOAD": "0",
    }
    log = tmp_path / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "cvat_bridge", "serve", "--port", str(port)],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=120
    )
    try:
        _wait_until(lambda: _answers(client), 60, lambda: log.read_text())
        yield client
    finally:
        client.close()
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def test_serve_trains_a_collection_of_1500_images(served: httpx.Client, tmp_path: Path) -> None:
    folders = write_class_folders(tmp_path / "tree", dict.fromkeys(CLASSES, PER_CLASS))
    with zip_tree(folders, tmp_path / "colours.zip").open("rb") as upload:
        response = served.post("/api/collections", files={"file": upload}, data={"name": "colours"})
    assert response.status_code == 201, response.text
    collection = response.json()
    assert sum(collection["splits"]["train"].values()) >= AUTO_WORKERS_FROM

    body = {"name": "big", "collection_id": collection["id"], "architecture": "resnet18", **SETTINGS}
    created = served.post("/api/models", json=body)
    assert created.status_code == 202, created.text
    model = _wait_until(lambda: _finished(served.get(f"/api/models/{created.json()['id']}").json()), 400)
    assert model["status"] == "succeeded", model.get("error")
    _assert_learnt(model["metrics"])


@pytest.fixture
def redis_cluster(tmp_path: Path, postgres_url: str) -> Iterator[Services]:
    """Services queueing to Redis (a database of this test's own) and one `cvat-bridge worker`."""
    redis_url = "redis://127.0.0.1:6379/12"
    settings = make_settings(tmp_path / "data", database_url=postgres_url, redis_url=redis_url)
    services = Services(settings)
    set_services(services)
    env = {
        **os.environ,
        "CVAT_BRIDGE_DATA_DIR": str(settings.data_dir),
        "CVAT_BRIDGE_DATABASE_URL": postgres_url,
        "CVAT_BRIDGE_REDIS_URL": redis_url,
        "CVAT_BRIDGE_API_TOKEN": API_TOKEN,
        "CVAT_BRIDGE_WEIGHTS_DOWNLOAD": "0",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "cvat_bridge", "worker"],
        env=env,
        stdout=(tmp_path / "worker.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield services
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
        from redis import Redis

        Redis.from_url(redis_url).flushdb()
        services.jobs.close()
        services.db.dispose()
        set_services(None)


def test_redis_worker_trains_a_collection_of_1500_images(redis_cluster: Services) -> None:
    services = redis_cluster
    collection_id = make_color_collection(
        services, classes=CLASSES, per_class=PER_CLASS, size=(24, 24), name="colours"
    )
    model = start_training(
        services, name="big", collection_id=collection_id, architecture="resnet18", settings=SETTINGS
    )
    done = _wait_until(lambda: _finished_row(get_model(services, model.id)), 400)
    assert done.job.status == "succeeded", done.job.error
    _assert_learnt(done.metrics)


def _assert_learnt(metrics: dict) -> None:
    assert metrics["loader_workers"] >= 1, "the loader ran in the training process alone"
    assert metrics["accuracy"] > 0.5  # 5 colour classes: chance is 0.2


def _answers(client: httpx.Client) -> bool:
    try:
        return client.get("/api/health").status_code == 200
    except httpx.TransportError:
        return False


def _finished(model: dict) -> dict | None:
    return model if model["status"] in ("succeeded", "failed", "cancelled") else None


def _finished_row(model):
    return model if model.job.status in ("succeeded", "failed", "cancelled") else None


def _wait_until(probe, timeout: float, explain=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := probe():
            return result
        time.sleep(0.5)
    raise AssertionError(f"gave up after {timeout} s {explain()}")

"""Training at a realistic size through the README's default paths: `cvat-bridge serve` on its embedded
defaults, and `cvat-bridge worker` on Redis. 1,500 small images: the training split is large enough for the
data loader to use worker processes (trainer.data.AUTO_WORKERS_FROM), as every real collection does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from cvat_bridge.services import Services, set_services
from cvat_bridge.training import get_model, start_training
from tests.conftest import API_TOKEN, make_settings
from tests.helpers.images import PALETTE, write_class_folders, zip_tree
from tests.helpers.models import make_color_collection
from tests.helpers.processes import Service, bridge_env, start_bridge, stop_group, wait_until
from trainer.data import AUTO_WORKERS_FROM

pytestmark = pytest.mark.slow
PER_CLASS = 300  # x 5 classes = 1,500 images, 1,050 of them for training
CLASSES = tuple(PALETTE)[:5]
# Every setting at its default but these: one short epoch at a small size, no weights download.
SETTINGS = {"epochs": 1, "image_size": 32, "pretrained": False}
FINISHED = ("succeeded", "failed", "cancelled")


def test_serve_trains_a_collection_of_1500_images(tmp_path: Path) -> None:
    folders = write_class_folders(tmp_path / "tree", dict.fromkeys(CLASSES, PER_CLASS))
    archive = zip_tree(folders, tmp_path / "colours.zip")
    with Service(tmp_path / "data", API_TOKEN, tmp_path / "serve.log", weights_download=0) as served:
        with archive.open("rb") as upload:
            form = {"name": "colours"}
            response = served.client.post("/api/collections", files={"file": upload}, data=form)
        assert response.status_code == 201, response.text
        collection = response.json()
        assert sum(collection["splits"]["train"].values()) >= AUTO_WORKERS_FROM

        body = {"name": "big", "collection_id": collection["id"], "architecture": "resnet18", **SETTINGS}
        created = served.client.post("/api/models", json=body)
        assert created.status_code == 202, created.text
        url = f"/api/models/{created.json()['id']}"

        def finished() -> dict | None:
            model = served.client.get(url).json()
            return model if model["status"] in FINISHED else None

        model = wait_until(finished, 400, "the training did not finish")
    assert model["status"] == "succeeded", model.get("error")
    _assert_learnt(model["metrics"])


@pytest.fixture
def redis_cluster(tmp_path: Path, postgres_url: str) -> Iterator[Services]:
    """Services queueing to Redis (a database of this test's own) and one `cvat-bridge worker`."""
    redis_url = "redis://127.0.0.1:6379/12"
    settings = make_settings(tmp_path / "data", database_url=postgres_url, redis_url=redis_url)
    services = Services(settings)
    set_services(services)
    env = bridge_env(
        settings.data_dir,
        database_url=postgres_url,
        redis_url=redis_url,
        api_token=API_TOKEN,
        weights_download=0,
    )
    worker = start_bridge(["worker"], env, tmp_path / "worker.log")
    try:
        yield services
    finally:
        stop_group(worker, timeout=30)
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

    def finished():
        row = get_model(services, model.id)
        return row if row.job.status in FINISHED else None

    done = wait_until(finished, 400, "the training did not finish")
    assert done.job.status == "succeeded", done.job.error
    _assert_learnt(done.metrics)


def _assert_learnt(metrics: dict) -> None:
    assert metrics["loader_workers"] >= 1, "the loader ran in the training process alone"
    assert metrics["accuracy"] > 0.5  # 5 colour classes: chance is 0.2

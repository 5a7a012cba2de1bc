"""/api/models through the embedded job worker: queue, progress, cancel, versions, artifacts, delete."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import onnx
from fastapi.testclient import TestClient

from cvat_bridge.services import Services
from tests.helpers.models import TINY_SETTINGS, make_color_collection


def wait_for(
    client: TestClient, model_id: int, done: Callable[[dict[str, Any]], bool], timeout: float = 180
) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        model = client.get(f"/api/models/{model_id}").json()
        if done(model):
            return model
        time.sleep(0.2)
    raise AssertionError(f"model {model_id} never got there: {model}")


def test_train_follow_cancel_version_download_delete(client: TestClient, services: Services) -> None:
    collection_id = make_color_collection(services, per_class=8)
    request = {
        "name": "api-model",
        "collection_id": collection_id,
        "architecture": "resnet18",
        **TINY_SETTINGS,
    }

    long = client.post("/api/models", json={**request, "epochs": 500, "batch_size": 2})
    assert long.status_code == 202, long.text
    assert long.json()["status"] == "queued" and long.json()["version"] == 1
    short = client.post("/api/models", json={**request, "epochs": 1})
    assert short.status_code == 202 and short.json()["version"] == 2  # same name: next version
    long_id, short_id = long.json()["id"], short.json()["id"]

    running = wait_for(
        client, long_id, lambda m: m["status"] == "running" and m["progress"].get("epoch", 0) >= 1
    )
    progress = running["progress"]
    assert progress["epochs"] == 500 and progress["steps"] > 0 and progress["loss"] >= 0
    assert progress["eta_seconds"] > 0 and progress["images_per_second"] > 0
    busy = client.delete(f"/api/models/{long_id}")
    assert busy.status_code == 409 and "cancel it first" in busy.json()["detail"]

    assert client.post(f"/api/models/{long_id}/cancel").status_code == 200
    cancelled = wait_for(client, long_id, lambda m: m["status"] == "cancelled")
    assert cancelled["error"] == "cancelled by the user"
    assert cancelled["progress"]["epoch"] < 500 and cancelled["progress"]["phase"] == "cancelled"

    done = wait_for(client, short_id, lambda m: m["status"] in ("succeeded", "failed"))
    assert done["status"] == "succeeded", done["error"]
    assert done["progress"]["phase"] == "succeeded"  # not the last phase the trainer reported ("exporting")
    assert client.get(f"/api/jobs/{done['job_id']}").json()["progress"]["phase"] == "succeeded"
    assert done["classes"] == ["blue", "green", "red"] and 0 <= done["metrics"]["accuracy"] <= 1
    assert set(done["metrics"]) >= {"accuracy", "per_class", "confusion_matrix", "macro", "history"}
    assert "model.onnx" in done["artifacts"] and "confusion_matrix.png" in done["artifacts"]
    listed = client.get("/api/models").json()
    assert [m["id"] for m in listed] == [short_id, long_id]

    onnx_file = client.get(f"/api/models/{short_id}/artifacts/model.onnx")
    assert onnx_file.status_code == 200
    onnx.checker.check_model(onnx.load_from_string(onnx_file.content))
    png = client.get(f"/api/models/{short_id}/artifacts/confusion_matrix.png")
    assert png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
    for name in ("..%2F..%2Fapi-token", "api-token", "model.onnx.partial"):
        refused = client.get(f"/api/models/{short_id}/artifacts/{name}")
        assert refused.status_code == 404, name

    assert client.delete(f"/api/models/{long_id}").status_code == 204
    assert client.get(f"/api/models/{long_id}").status_code == 404
    assert not services.storage.model_dir(long_id).exists()
    assert services.storage.model_dir(short_id).is_dir()


def test_bad_requests_are_refused_with_a_reason(client: TestClient, services: Services) -> None:
    collection_id = make_color_collection(services, per_class=3)
    base = {"name": "x", "collection_id": collection_id, "architecture": "resnet18"}
    cases = {
        "unknown architecture 'resnet19'": {**base, "architecture": "resnet19"},
        "no collection with id 999": {**base, "collection_id": 999},
        "vit_b_16 takes 224x224 images only": {**base, "architecture": "vit_b_16", "image_size": 64},
        "give the model a name": {**base, "name": "  "},
    }
    for expected, body in cases.items():
        response = client.post("/api/models", json=body)
        assert response.status_code == 422 and expected in response.json()["detail"], (
            expected,
            response.text,
        )
    typo = client.post("/api/models", json={**base, "epoch": 3})
    assert typo.status_code == 422 and "epoch" in str(typo.json()["detail"])
    assert client.get("/api/models").json() == []  # nothing was stored
    assert client.get("/api/models/12345").status_code == 404
    assert client.post("/api/models/12345/cancel").status_code == 404

"""What a training leaves for the pages: predictions.json (every validation image's prediction), each epoch's
step losses in the history, and the probe head's validation loss (epoch 0 of the curves)."""

from __future__ import annotations

import json
from collections import Counter

from fastapi.testclient import TestClient

from cvat_bridge.services import Services
from cvat_bridge.training import get_model
from tests.helpers.models import train_tiny_model, trained_model_dir
from trainer.steplosses import StepLosses


def test_predictions_and_step_losses_are_recorded(services: Services) -> None:
    model_id = train_tiny_model(services, epochs=2, name="predicted")
    model = get_model(services, model_id)
    rows = json.loads((trained_model_dir(services, model_id) / "predictions.json").read_text())
    metrics = model.metrics

    assert len(rows) == metrics["total"]
    collection_dir = services.storage.collection_dir(model.collection_id)
    assert all((collection_dir / row["path"]).is_file() for row in rows)
    assert all(row["path"].split("/")[0] == row["true"] for row in rows)  # red/red_3.jpg is a red image
    assert all(0 < row["confidence"] <= 1 for row in rows)
    assert sum(row["true"] == row["predicted"] for row in rows) == metrics["correct"]
    labels, matrix = metrics["confusion_matrix"]["labels"], metrics["confusion_matrix"]["matrix"]
    cells = Counter((row["true"], row["predicted"]) for row in rows)
    assert {(labels[i], labels[j]): n for i, r in enumerate(matrix) for j, n in enumerate(r) if n} == cells

    for row in metrics["history"]:
        points = row["step_losses"]
        assert points, row
        assert all(row["epoch"] - 1 < x <= row["epoch"] for x, _ in points)
        assert points[-1][0] == row["epoch"]
        assert all(loss > 0 for _, loss in points)


def test_predictions_api_filters_pages_and_links_thumbnails(client: TestClient, services: Services) -> None:
    model_id = train_tiny_model(services, epochs=1, name="predicted")
    rows = json.loads((trained_model_dir(services, model_id) / "predictions.json").read_text())
    base = f"/api/models/{model_id}/predictions"

    everything = client.get(base, params={"limit": 200}).json()
    assert everything["total"] == len(rows)
    confidences = [item["confidence"] for item in everything["items"]]
    assert confidences == sorted(confidences, reverse=True)
    mistakes = client.get(base, params={"mistakes": "true", "limit": 200}).json()
    assert mistakes["total"] == sum(row["true"] != row["predicted"] for row in rows)
    cell = client.get(base, params={"true": "red", "predicted": "red", "limit": 200}).json()
    assert cell["total"] == sum(row["true"] == row["predicted"] == "red" for row in rows)
    assert {(item["true"], item["predicted"]) for item in cell["items"]} == {("red", "red")}
    second = client.get(base, params={"offset": 2, "limit": 2}).json()["items"]
    assert second == everything["items"][2:4]
    by_name = client.get("/api/models/predicted/predictions", params={"limit": 200}).json()
    assert by_name == everything

    anonymous = TestClient(client.app)
    picture = anonymous.get(everything["items"][0]["thumbnail"])
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    assert anonymous.get(base).status_code == 401
    assert client.get("/api/models/999/predictions").status_code == 404


def test_step_losses_stay_small_in_long_runs() -> None:
    losses = StepLosses.for_epochs(10)
    for step in range(1, 1001):
        losses.add(3, step, 1000, float(step))
    points = losses.take()
    assert len(points) == 50 and points[0] == [2.02, 10.5] and points[-1] == [3.0, 990.5]  # means of 20 steps
    assert losses.take() == []
    long_run = StepLosses.for_epochs(1000)
    for step in range(1, 8):
        long_run.add(1, step, 7, 1.0)
    assert len(long_run.take()) == 2  # 2 per epoch: 2,000 points over the 1,000 epochs

"""What a training leaves for the pages: predictions.json (every validation image's prediction), each epoch's
step losses in the history, and the probe head's validation loss (epoch 0 of the curves)."""

from __future__ import annotations

import json
from collections import Counter

from cvat_bridge.services import Services
from cvat_bridge.training import get_model
from tests.helpers.models import train_tiny_model, trained_model_dir


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

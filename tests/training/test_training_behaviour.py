"""Training behaviour a user relies on: same seed -> same model on the CPU; early stopping; the test split."""

from __future__ import annotations

import json

import torch

from cvat_bridge.services import Services
from tests.helpers.models import TINY_SETTINGS, make_color_collection, train_model, trained_model_dir


def test_same_seed_gives_the_same_model_on_cpu(services: Services) -> None:
    collection_id = make_color_collection(services, per_class=8)
    settings = {**TINY_SETTINGS, "epochs": 1, "augmentation": "light", "imbalance": "sampler", "seed": 7}
    first, second = (
        train_model(
            services, collection_id=collection_id, architecture="resnet18", name=name, settings=settings
        )
        for name in ("seeded-a", "seeded-b")
    )
    assert first.job.status == second.job.status == "succeeded"
    weights = [
        torch.load(trained_model_dir(services, m.id) / "weights.pt", weights_only=True)
        for m in (first, second)
    ]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])
    assert first.metrics["history"][0]["train_loss"] == second.metrics["history"][0]["train_loss"]
    assert (first.name, first.version, second.version) == ("seeded-a", 1, 1)


def test_early_stopping_stops_once_val_accuracy_stops_rising(services: Services) -> None:
    collection_id = make_color_collection(
        services, per_class=10, splits={"red/red_0.jpg": "test", "blue/blue_0.jpg": "test"}
    )
    model = train_model(
        services,
        collection_id=collection_id,
        architecture="resnet18",
        name="patient",
        settings={**TINY_SETTINGS, "epochs": 12, "patience": 2},
    )
    assert model.job.status == "succeeded", model.job.error
    history = model.metrics["history"]
    accuracies = [epoch["val_accuracy"] for epoch in history]
    best_so_far = [max(accuracies[: i + 1]) for i in range(len(accuracies))]
    last_rise = max(i for i in range(len(accuracies)) if i == 0 or best_so_far[i] > best_so_far[i - 1])
    assert len(history) == last_rise + 1 + 2 < 12  # stopped 2 epochs after the last rise, before 12
    assert model.metrics["stopped_early"] is True and model.metrics["epochs_run"] == len(history)
    batchnorm = model.metrics["recipe"]["batchnorm"]
    if batchnorm["statistics"] == "as trained":
        assert model.metrics["accuracy"] == max(accuracies)  # the best epoch's weights were kept
    else:  # the best epoch's weights, with BatchNorm statistics re-estimated because train said so
        assert batchnorm["train_loss_reestimated"] < batchnorm["train_loss_as_trained"]
    assert history[model.metrics["best_epoch"] - 1]["val_accuracy"] == max(accuracies)
    test = model.metrics["test"]  # the forced test split is evaluated too
    assert test["total"] == 2 and test["correct"] == sum(
        test["per_class"][c]["recall"] * test["per_class"][c]["support"] for c in test["per_class"]
    )
    info = json.loads((trained_model_dir(services, model.id) / "model.json").read_text())
    assert info["splits"]["test"] == 2

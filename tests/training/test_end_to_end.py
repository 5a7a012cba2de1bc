"""A tiny model trained through the real job path: its reported accuracy is correct/total of its own
predictions, the ONNX export predicts like torch, and every artifact is there."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime
import torch
from PIL import Image

from cvat_bridge.runtime.imaging import Preprocessing, open_image, preprocess
from cvat_bridge.services import Services
from cvat_bridge.training import get_model
from tests.helpers.models import trained_model_dir
from trainer.artifacts import ARTIFACTS, ONNX_INT8, load_torch_model


def _val_inputs(services: Services, model_id: int) -> tuple[np.ndarray, list[str], list[str]]:
    folder = trained_model_dir(services, model_id)
    info = json.loads((folder / "model.json").read_text())
    split = json.loads((folder / "split.json").read_text())
    spec = Preprocessing.from_dict(info["preprocessing"])
    collection_dir = services.storage.collection_dir(info["collection"]["id"])
    images = [open_image(collection_dir / path, min_short_side=spec.resize_size) for path, _ in split["val"]]
    inputs = np.stack([preprocess(image, spec) for image in images])
    return inputs, [label for _, label in split["val"]], info["classes"]


def test_reported_accuracy_is_correct_over_total_of_its_predictions(trained: tuple[Services, int]) -> None:
    services, tiny_model = trained
    model_row = get_model(services, tiny_model)
    assert model_row.job.status == "succeeded"
    inputs, labels, classes = _val_inputs(services, tiny_model)
    model, info = load_torch_model(trained_model_dir(services, tiny_model))
    assert not model.training and info["classes"] == classes == ["blue", "green", "red"]
    with torch.no_grad():
        predicted = [classes[i] for i in model(torch.from_numpy(inputs)).argmax(1).tolist()]
    correct = sum(p == t for p, t in zip(predicted, labels, strict=True))

    metrics = model_row.metrics
    assert metrics["total"] == len(labels) == 18  # 30% of 20 images per class, stratified
    assert metrics["correct"] == correct
    assert metrics["accuracy"] == correct / len(labels)
    assert metrics["accuracy"] >= 0.8  # chance is 1/3
    assert metrics["top5"] is None  # fewer than 5 classes
    per_class = metrics["per_class"]
    assert sum(row["support"] for row in per_class.values()) == len(labels)
    for name, row in per_class.items():
        true_positive = sum(p == t == name for p, t in zip(predicted, labels, strict=True))
        assert row["recall"] == true_positive / labels.count(name)
    matrix = np.array(metrics["confusion_matrix"]["matrix"])
    assert metrics["confusion_matrix"]["labels"] == classes and matrix.trace() == correct
    assert [entry["epoch"] for entry in metrics["history"]] == [1, 2, 3]


def test_onnx_export_predicts_like_torch(trained: tuple[Services, int]) -> None:
    services, tiny_model = trained
    folder = trained_model_dir(services, tiny_model)
    inputs, _, _ = _val_inputs(services, tiny_model)
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    assert [o.name for o in session.get_outputs()] == ["logits"]
    onnx_logits = session.run(["logits"], {"input": inputs})[0]  # the whole split at once: dynamic batch
    model, _ = load_torch_model(folder)
    with torch.no_grad():
        torch_logits = model(torch.from_numpy(inputs)).numpy()
    assert onnx_logits.shape == torch_logits.shape == (18, 3)
    assert np.abs(onnx_logits - torch_logits).max() < 1e-4
    assert (onnx_logits.argmax(1) == torch_logits.argmax(1)).all()
    assert get_model(services, tiny_model).metrics["onnx_max_abs_diff"] < 1e-4


def test_artifacts_are_all_written(trained: tuple[Services, int]) -> None:
    services, tiny_model = trained
    folder = trained_model_dir(services, tiny_model)
    assert sorted(p.name for p in folder.iterdir()) == sorted(set(ARTIFACTS) - {ONNX_INT8})  # int8: if asked
    info = json.loads((folder / "model.json").read_text())
    assert info["architecture"] == "resnet18" and info["source"] == "torchvision"
    assert info["preprocessing"]["crop_size"] == 32
    assert info["splits"] == {"train": 42, "val": 18, "test": 0}
    assert info["collection"]["name"] == "tiny-data"
    split = json.loads((folder / "split.json").read_text())
    assert len(split["train"]) == 42 and not {p for p, _ in split["train"]} & {p for p, _ in split["val"]}
    history = json.loads((folder / "history.json").read_text())
    assert len(history) == 3 and all(0 <= e["val_accuracy"] <= 1 for e in history)
    with Image.open(folder / "confusion_matrix.png") as png:
        assert png.format == "PNG" and png.width > 200
    checkpoint = torch.load(folder / "checkpoint.pt", weights_only=True)
    assert checkpoint["epoch"] == 3 and set(checkpoint) >= {"model", "optimizer", "scheduler"}

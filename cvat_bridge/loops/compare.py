"""Two model versions scored on the same images: the new version's validation split, read from its
``split.json`` (paths relative to its collection), each model through the served predictor (same
preprocessing and ONNX model as serving). Classes are compared by name, so a version with a new class is
simply wrong on that class's images."""

from __future__ import annotations

import json
from dataclasses import dataclass

from cvat_bridge.db import Model
from cvat_bridge.runtime.imaging import open_image
from cvat_bridge.services import Services
from cvat_bridge.serving import get_predictor
from trainer.artifacts import SPLIT

BATCH = 32


@dataclass(frozen=True)
class Comparison:
    old_accuracy: float
    new_accuracy: float
    images: int

    def deploy(self, margin: float) -> bool:
        """The new version is not worse than the old one by more than the margin."""
        return self.new_accuracy >= self.old_accuracy - margin


def validation_images(services: Services, model: Model) -> list[tuple[str, str]]:
    """(absolute path, label) of the model's validation split, as its training used it."""
    split = json.loads((services.storage.model_dir(model.id) / SPLIT).read_text())
    root = services.storage.collection_dir(model.collection_id)
    return [(str(root / path), label) for path, label in split.get("val", [])]


def accuracy(services: Services, model_id: int, images: list[tuple[str, str]]) -> float:
    """Correct / all of one model on these images."""
    predictor = get_predictor(services, model_id)
    correct = 0
    for start in range(0, len(images), BATCH):
        chunk = images[start : start + BATCH]
        opened = [
            open_image(path, services.settings.max_image_pixels, predictor.preprocessing.resize_size)
            for path, _ in chunk
        ]
        probabilities = predictor.probabilities(opened)
        for row, (_, label) in zip(probabilities, chunk, strict=True):
            correct += predictor.classes[int(row.argmax())] == label
    return correct / len(images) if images else 0.0


def compare(services: Services, old_model_id: int, new_model: Model) -> Comparison:
    images = validation_images(services, new_model)
    return Comparison(
        old_accuracy=accuracy(services, old_model_id, images),
        new_accuracy=accuracy(services, new_model.id, images),
        images=len(images),
    )

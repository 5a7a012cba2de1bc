"""Trained models for tests: a generated colour collection, trained through the real job path in-process.

from tests.helpers.models import tiny_model  # fixture: id of a succeeded model (ONNX exported)
model_id = train_tiny_model(services)        # or call it with other classes / architecture / size
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from cvat_bridge.db import Model
from cvat_bridge.ingest.store import ImportedImage, register_collection
from cvat_bridge.jobs.runner import run_job
from cvat_bridge.services import Services
from cvat_bridge.training import create_training, get_model
from tests.helpers.images import class_image, image_bytes, write_class_folders
from trainer.data import TrainData

TINY_SETTINGS: dict[str, Any] = {
    "epochs": 3,
    "batch_size": 8,
    "image_size": 32,
    "learning_rate": 1e-3,
    "pretrained": False,
    "patience": 0,
    "augmentation": "none",
}


def make_color_collection(
    services: Services,
    *,
    classes: Sequence[str] = ("red", "green", "blue"),
    per_class: int = 20,
    name: str = "colours",
    size: tuple[int, int] = (40, 32),
    seed: int = 0,
    splits: dict[str, str] | None = None,
) -> int:
    """A registered collection of generated images (tests/helpers/images.py), split 70/30; returns its id.

    `splits` may force the split of given file paths (e.g. {"red/red_0.jpg": "test"}).
    """
    staging = services.storage.new_staging_dir("test-collection-")
    images = []
    for label in classes:
        (staging / label).mkdir()
        for index in range(per_class):
            relative = f"{label}/{label}_{index}.jpg"
            image = class_image(label, seed * 100_000 + index, size)
            data = image_bytes(image)
            (staging / relative).write_bytes(data)
            split = (splits or {}).get(relative)
            images.append(
                ImportedImage(relative, label, split, hashlib.sha256(data).hexdigest(), *image.size)
            )
    collection = register_collection(
        services,
        name=name,
        source="zip",
        staging_dir=staging,
        images=images,
        report={},
        provenance={"generated": "tests.helpers.models"},
    )
    return collection.id


def train_model(
    services: Services, *, collection_id: int, architecture: str, name: str, settings: dict[str, Any]
) -> Model:
    """Create the Model + Job rows as the API does and run the job in this process; returns the model row."""
    model = create_training(
        services, name=name, collection_id=collection_id, architecture=architecture, settings=settings
    )
    run_job(model.job_id)
    return get_model(services, model.id)


def train_tiny_model(
    services: Services,
    *,
    classes: Sequence[str] = ("red", "green", "blue"),
    architecture: str = "resnet18",
    epochs: int = 3,
    image_size: int = 32,
    name: str = "tiny",
    **settings: Any,
) -> int:
    """Train a small classifier on generated colour images (seconds on a CPU); returns the model id."""
    collection_id = make_color_collection(services, classes=classes, name=f"{name}-data")
    model = train_model(
        services,
        collection_id=collection_id,
        architecture=architecture,
        name=name,
        settings={**TINY_SETTINGS, "epochs": epochs, "image_size": image_size, **settings},
    )
    if model.job.status != "succeeded":
        raise AssertionError(f"training the tiny model {model.job.status}: {model.job.error}")
    assert (trained_model_dir(services, model.id) / "model.onnx").is_file()
    return model.id


def trained_model_dir(services: Services, model_id: int) -> Path:
    """The artifacts folder of a model (model.json, weights.pt, model.onnx, ...)."""
    return services.storage.model_dir(model_id)


@pytest.fixture
def tiny_model(services: Services) -> int:
    """The id of a freshly trained 3-class (red, green, blue) resnet18 at 32 px."""
    return train_tiny_model(services)


def colour_train_data(root: Path, per_class: int) -> TrainData:
    """TrainData of generated red/green/blue images (no database): every other image of a class is val."""
    folders = write_class_folders(root, dict.fromkeys(["red", "green", "blue"], per_class))
    classes = ["blue", "green", "red"]
    samples = [(str(path), classes.index(path.parent.name)) for path in sorted(folders.rglob("*.jpg"))]
    return TrainData(classes, train=samples[::2], val=samples[1::2], test=[])

"""Multi-label test data: images holding one to three coloured blocks (their labels), registered as a
multi-label collection, and a tiny multi-label model trained through the real job path."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

from PIL import Image

from cvat_bridge.ingest.store import ImportedImage, register_collection
from cvat_bridge.services import Services
from tests.helpers.images import PALETTE, image_bytes
from tests.helpers.models import TINY_SETTINGS, train_model
from trainer.data import TrainData, train_data
from trainer.multilabel import MULTI

COLOURS = ("red", "green", "blue")


def blocks_image(labels: tuple[str, ...], seed: int, size: tuple[int, int] = (40, 32)) -> Image.Image:
    """A grey noisy image with one block of each label's colour, each in its own random cell of a 3x3 grid
    (blocks never cover each other)."""
    rng = random.Random(f"{'+'.join(labels)}-{seed}")
    image = Image.new("RGB", size)
    image.putdata([tuple(110 + rng.randint(-30, 30) for _ in range(3)) for _ in range(size[0] * size[1])])
    w, h = size[0] // 3, size[1] // 3
    for label, cell in zip(labels, rng.sample(range(9), len(labels)), strict=True):
        x, y = (cell % 3) * w, (cell // 3) * h
        image.paste(PALETTE[label], (x, y, x + w, y + h))
    return image


def label_sets(count: int, seed: int = 0) -> list[tuple[str, ...]]:
    """``count`` non-empty label sets over COLOURS (1-3 labels each), deterministic for the seed."""
    rng = random.Random(seed)
    sets = []
    for _ in range(count):
        chosen = tuple(sorted(label for label in COLOURS if rng.random() < 0.45))
        sets.append(chosen or (rng.choice(COLOURS),))
    return sets


def blocks_train_data(folder: Path, count: int = 90) -> TrainData:
    """The trainer's multi-label data without the service: ``count`` block images, 70/30 by index."""
    folder.mkdir(parents=True, exist_ok=True)
    samples: dict[str, list] = {"train": [], "val": []}
    for index, labels in enumerate(label_sets(count, seed=3)):
        path = folder / f"{index:03d}.png"
        blocks_image(labels, index).save(path)
        samples["train" if index % 10 < 7 else "val"].append((path, labels))
    return train_data(sorted(COLOURS), samples, MULTI)


def make_multilabel_collection(services: Services, *, count: int = 120, name: str = "blocks") -> int:
    """A registered multi-label collection of ``count`` block images (iterative 70/30 split); its id."""
    staging = services.storage.new_staging_dir("test-multilabel-")
    images = []
    for index, labels in enumerate(label_sets(count)):
        relative = f"img_{index:03d}.jpg"
        data = image_bytes(blocks_image(labels, index))
        (staging / relative).write_bytes(data)
        images.append(
            ImportedImage(relative, labels[0], None, hashlib.sha256(data).hexdigest(), 40, 32, labels=labels)
        )
    collection = register_collection(
        services, name=name, source="zip", staging_dir=staging, images=images, report={}, provenance={},
        mode="multi",
    )  # fmt: skip
    return collection.id


def train_tiny_multilabel_model(services: Services, name: str = "blocks-model", **settings: Any) -> int:
    """A resnet18 at 32 px trained on the block images (seconds on a CPU); returns the model id."""
    collection_id = make_multilabel_collection(services, name=f"{name}-data")
    model = train_model(
        services,
        collection_id=collection_id,
        architecture="resnet18",
        name=name,
        settings={**TINY_SETTINGS, "epochs": 12, "learning_rate": 3e-3, **settings},
    )
    if model.job.status != "succeeded":
        raise AssertionError(f"training the multi-label model {model.job.status}: {model.job.error}")
    return model.id

